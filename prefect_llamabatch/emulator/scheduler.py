"""The background scheduler: hands out items, waits the (scaled) item duration, records outcomes.

It runs as one task in the server's event loop. Each job gets up to ``concurrency`` items in
flight; an item takes ``item_duration_seconds * time_scale`` seconds. ``freeze()`` stops both the
handing out and the finishing of items until ``resume()``; ``advance(n)`` finishes ``n`` items at
once (frozen or not), which makes tests step through a job deterministically.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from prefect_llamabatch.emulator.layout import blob_path, output_path, s3_output_path
from prefect_llamabatch.emulator.outcomes import (
    Outcome,
    OutcomeSettings,
    decide_outcome,
)
from prefect_llamabatch.emulator.store import ClaimedItem, Store, new_id
from prefect_llamabatch.models import (
    LENIENT,
    BatchParseJobRecordCreate,
    ClassifyJobConfig,
    JobConfig,
)

__all__ = ["ProcessingSettings", "Scheduler"]

logger = logging.getLogger("prefect_llamabatch.emulator")

_CONFIG_ADAPTER: TypeAdapter[BatchParseJobRecordCreate | ClassifyJobConfig] = TypeAdapter(JobConfig)


@dataclass
class ProcessingSettings:
    """The scheduler's knobs; mutable at run time through the admin API."""

    item_duration_seconds: float
    time_scale: float
    concurrency: int
    dispatched_status: bool
    outcome: OutcomeSettings

    @property
    def item_seconds(self) -> float:
        """Wall-clock seconds one item takes."""
        return self.item_duration_seconds * self.time_scale


@lru_cache(maxsize=256)
def _parse_config(raw: str) -> BatchParseJobRecordCreate | ClassifyJobConfig:
    return _CONFIG_ADAPTER.validate_json(raw, context={LENIENT: True})


class Scheduler:
    """Processes the items of active jobs.

    Example:
        ```python
        from prefect_llamabatch.emulator import run_emulator

        # Built by the app; drive it through the admin API.
        with run_emulator(start_frozen=True) as emu:
            emu.admin.seed_directory({"a.txt": "a"})
            assert emu.admin.advance(1) == 0  # no job yet, nothing to finish
            emu.admin.resume()
        ```
    """

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        settings: ProcessingSettings,
        *,
        frozen: bool = False,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.settings = settings
        self._wake = asyncio.Event()
        self._unfrozen = asyncio.Event()
        if not frozen:
            self._unfrozen.set()
        self._inflight: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._on_error = on_error

    # ------------------------------------------------------------------ control

    @property
    def frozen(self) -> bool:
        """Whether processing is paused."""
        return not self._unfrozen.is_set()

    def start(self) -> None:
        """Start the dispatch loop in the running event loop."""
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop dispatching and abandon items in flight (they stay ``processing``)."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._inflight.clear()
        self._loop_task = None

    def wake(self) -> None:
        """Look for work now (a job was created, cancelled, or settings changed)."""
        self._wake.set()

    def freeze(self) -> None:
        """Pause: no item is handed out or finished until ``resume()``."""
        self._unfrozen.clear()

    def resume(self) -> None:
        """Continue after ``freeze()``."""
        self._unfrozen.set()
        self.wake()

    async def forget_all(self) -> None:
        """Drop every item in flight (used by a state reset), keep the loop running."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._inflight.clear()

    def advance(self, count: int) -> int:
        """Finish up to ``count`` items now: those in flight first, then pending ones.

        Returns how many items were finished.
        """
        done = 0
        for row in self.store.processing_items():
            if done >= count:
                return done
            item = ClaimedItem(
                job_seq=int(row["job_seq"]),
                job_id=row["batch_id"],
                project_id=row["project_id"],
                pos=int(row["pos"]),
                item_id=row["item_id"],
                item_name=row["item_name"],
                underlying_job_id=row["job_id"] or "",
            )
            if self._complete(item):
                done += 1
        while done < count:
            claimed = self._claim_one()
            if claimed is None:
                break
            if self._complete(claimed):
                done += 1
        self._finalize_empty_jobs()
        self.wake()
        return done

    # ------------------------------------------------------------------ internals

    def _claim_one(self) -> ClaimedItem | None:
        for job in self.store.active_jobs():
            claimed = self.store.claim_items(
                job, 1, dispatched_status=self.settings.dispatched_status, id_prefix=_prefix(job)
            )
            if claimed:
                return claimed[0]
        return None

    def _finalize_empty_jobs(self) -> None:
        for job in self.store.active_jobs():
            if job["n_pending"] == 0 and job["n_processing"] == 0:
                self.store.finalize_job(int(job["seq"]))

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self.frozen:
                try:
                    self._dispatch()
                except Exception as exc:  # keep serving; a broken tick must not kill the loop
                    logger.exception("emulator scheduler tick failed")
                    if self._on_error is not None:
                        self._on_error(exc)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
            except asyncio.TimeoutError:
                pass

    def _dispatch(self) -> None:
        concurrency = self.settings.concurrency
        for job in self.store.active_jobs():
            seq = int(job["seq"])
            if job["n_pending"] == 0 and job["n_processing"] == 0:
                self.store.finalize_job(seq)
                continue
            free = concurrency - self._inflight.get(seq, 0)
            if free <= 0 or job["n_pending"] == 0:
                continue
            claimed = self.store.claim_items(
                job, free, dispatched_status=self.settings.dispatched_status, id_prefix=_prefix(job)
            )
            for item in claimed:
                self._inflight[seq] = self._inflight.get(seq, 0) + 1
                task = asyncio.get_running_loop().create_task(self._process(item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _process(self, item: ClaimedItem) -> None:
        try:
            delay = self.settings.item_seconds
            if delay > 0:
                await asyncio.sleep(delay)
            await self._unfrozen.wait()
            self._complete(item)
        finally:
            left = self._inflight.get(item.job_seq, 1) - 1
            if left > 0:
                self._inflight[item.job_seq] = left
            else:
                self._inflight.pop(item.job_seq, None)
            self.wake()

    def _complete(self, item: ClaimedItem) -> bool:
        """Decide and record one item's outcome; False if it was no longer processing."""
        # Finished meanwhile by advance(): deciding again would count a second attempt.
        if not self.store.is_processing(item.job_seq, item.pos):
            return False
        job = self.store.get_job(None, item.job_id)
        if job is None:
            return False
        try:
            outcome, result = self._evaluate(job, item)
        except Exception as exc:
            logger.exception("emulator: processing %s failed", item.item_id)
            finished = self.store.finish_item(
                item, status="failed", error_message=f"Internal error: {type(exc).__name__}"
            )
            self.store.fail_job(item.job_seq, f"Internal error while processing {item.item_name}")
            return finished
        return self.store.finish_item(
            item,
            status=outcome.status,
            error_message=outcome.error_message,
            skip_reason=outcome.skip_reason,
            attempted=outcome.attempted,
            result=result,
        )

    def _evaluate(
        self, job: dict[str, Any], item: ClaimedItem
    ) -> tuple[Outcome, dict[str, Any] | None]:
        config = _parse_config(job["job_config"])
        dir_file = self.store.get_file_by_id(item.item_id)
        blob = self.store.get_blob(dir_file["file_id"]) if dir_file is not None else None
        if dir_file is None or blob is None:
            return Outcome("failed", error_message=f"File of item {item.item_id} not found"), None
        size, sha = int(blob["size"]), str(blob["sha256"])
        look_up, keep = bool(job["cache_lookup"]), bool(job["cache_store"])
        cached = look_up and self.store.has_cached_result(
            item.item_id, job["job_type"], job["parameters_hash"], sha
        )
        settings = self.settings.outcome
        too_big = settings.max_file_size_bytes is not None and size > settings.max_file_size_bytes
        data = None if (cached or too_big) else blob_path(self.data_dir, blob["id"]).read_bytes()
        outcome = decide_outcome(
            name=item.item_name,
            size=size,
            data=data,
            config=config,
            settings=settings,
            previous_attempts=int(dir_file["attempts"]),
            cached=cached,
        )
        if outcome.status != "completed" or outcome.output is None:
            return outcome, None
        s3_path = s3_output_path(job["project_id"], job["id"], item.item_id, outcome.output_suffix)
        target = output_path(self.data_dir, s3_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(outcome.output, encoding="utf-8")
        result = {
            "result_id": new_id(),
            "item_id": item.item_id,
            "project_id": job["project_id"],
            "job_seq": item.job_seq,
            "job_type": job["job_type"],
            "parameters_hash": job["parameters_hash"],
            "content_sha": sha,
            "cacheable": int(keep),
            "output_s3_path": s3_path,
            "output_metadata": json.dumps(outcome.output_metadata),
        }
        return outcome, result


def _prefix(job: dict[str, Any]) -> str:
    return "cjb" if job["job_type"] == "classify" else "pjb"
