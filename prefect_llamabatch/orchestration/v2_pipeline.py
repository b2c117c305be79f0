"""The v2 Batches API behind the package's flows: the same ``BatchRunResult`` as v1.

A v2 batch has no counters and no item listing: ``COMPLETED`` means every file was mapped to a
parse/extract job, and each file's outcome is the status of that job. So a v2 run here is:

1. **configuration**: a ``configuration_id`` (saved or preset) as given, or ``parse_v2`` /
   ``extract_v2`` parameters saved idempotently under a name derived from their hash
   (``save_parameters``);
2. **shards**: the files to process, in batches of at most
   :data:`~prefect_llamabatch.models.v2.MAX_FILES_PER_BATCH` (the documented per-batch limit). A
   directory within the limit is processed as it is; otherwise (and for a subset of a directory:
   specific items, failed items to retry) the files are added (``add_file`` of their file ids,
   nothing uploaded again) to new ephemeral directories, one per batch. The plan is a task result
   persisted per flow run, so a flow retry finds the same shard directories;
3. **batches**: one per shard, created by a task whose result is persisted per flow run (a flow
   retry reattaches to it, as v1's create does) and recorded for the stop hooks (``api="v2"``:
   cancelled with ``cancel_batch``); at most ``shard_concurrency`` shards run at once;
4. **wait**: one task run per shard polls ``get_batch`` (WaitSettings' interval, backoff and
   deadline), emits an event per status change, then reads the results once (``expand=results``);
5. **outcomes**: the referenced jobs are read in batched lookups (``GET /api/v2/parse?job_ids=…``,
   the client's ``iter_parse_jobs``/``iter_extract_jobs``: groups of ids a request,
   :data:`JOB_LOOKUP_CONCURRENCY` requests at a time, never one request per item) and merged into
   one result: ``job`` carries the first batch's id and the merged counts, ``shards`` each
   batch's.

Item ids in results and reports are the ids of the files in the directory the caller named (a
shard directory's copies are mapped back).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.client.core_v2 import batch_parameters
from prefect_llamabatch.models import BatchJob
from prefect_llamabatch.models.v2 import (
    MAX_FILES_PER_BATCH,
    Batch,
)
from prefect_llamabatch.orchestration.effects import Tenant
from prefect_llamabatch.orchestration.results import (
    BatchRunResult,
    FailedItem,
    JobCounts,
    RetryRound,
)

if TYPE_CHECKING:
    from prefect_llamabatch.client import BatchClient
    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "DEFAULT_SHARD_CONCURRENCY",
    "JOB_LOOKUP_CONCURRENCY",
    "MAX_FILES_PER_BATCH",
    "ItemOutcome",
    "Shard",
    "ShardFile",
    "ShardRun",
    "V2Target",
    "batch_job",
    "batch_outcomes",
    "counts_of",
    "fill_shard",
    "item_outcomes",
    "merge_shard_runs",
    "plan_shards",
    "read_batch_outcomes",
    "run_shards",
    "shard_cache_scope",
    "v2_target",
]

JOB_LOOKUP_CONCURRENCY = 8
"""Job lookups (``GET /api/v2/parse?job_ids=…``) in flight while a batch's outcomes are read."""
DEFAULT_SHARD_CONCURRENCY = 5
"""Shards (batches) run at once by default."""
# add_file requests in flight per shard directory being filled. Each filling shard has its own
# HTTP client (connection pool): httpx's pool costs CPU per request that grows with its open
# connections, so 8 per pool copies faster than 16 (B9: ~1.4 vs ~3.4 ms of client CPU a request).
_ADD_FILE_CONCURRENCY = 8
# Files per directory listing page: a short page (a server cap) is followed by its token anyway.
_DIRECTORY_PAGE = 1000
_JOB_STATUS = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}
_JOB_TYPE = {"parse_v2": "parse", "extract_v2": "extract"}


class V2Target(BaseModel):
    """The v2 configuration a run uses: a saved/preset id, or parameters to save first."""

    model_config = ConfigDict(frozen=True)

    configuration_id: str | None = None
    parameters: dict[str, Any] | None = None


def v2_target(
    *,
    job_config: Any = None,
    configuration_id: str | None = None,
    parse_v2: Mapping[str, Any] | None = None,
    extract_v2: Mapping[str, Any] | None = None,
) -> V2Target | None:
    """The v2 target of a flow's parameters, or None for a v1 run (checked, no I/O).

    Example:
        ```python
        from prefect_llamabatch.orchestration.v2_pipeline import v2_target

        assert v2_target(job_config={}) is None
        target = v2_target(parse_v2={"tier": "fast", "version": "latest"})
        assert target.parameters["product_type"] == "parse_v2"
        ```
    """
    given = [
        name
        for name, value in (
            ("job_config", job_config),
            ("configuration_id", configuration_id),
            ("parse_v2", parse_v2),
            ("extract_v2", extract_v2),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise ValueError(
            f"give one of job_config (v1), configuration_id, parse_v2 or extract_v2 (v2); got "
            f"{' and '.join(given)}"
        )
    if configuration_id is not None:
        if not isinstance(configuration_id, str) or not configuration_id.strip():
            raise ValueError(
                f"configuration_id must be a non-empty string (got {configuration_id!r})"
            )
        return V2Target(configuration_id=configuration_id)
    for product, value in (("parse_v2", parse_v2), ("extract_v2", extract_v2)):
        if value is not None:
            if value.get("product_type", product) != product:
                raise ValueError(
                    f"{product} parameters must not name another product_type "
                    f"(got {value.get('product_type')!r})"
                )
            parameters = {**dict(value), "product_type": product}
            batch_parameters(parameters)  # refused now, naming the field, not at the first call
            return V2Target(parameters=parameters)
    return None


# ---- shards -----------------------------------------------------------------------------------


class ShardFile(BaseModel):
    """One file of a shard: its id in the caller's directory, its name and file id."""

    item_id: str
    name: str
    file_id: str | None = None
    unique_id: str | None = None


class Shard(BaseModel):
    """The files one batch processes: its source directory and, per file of that directory,
    the caller's file."""

    index: int
    directory_id: str = Field(description="Empty while a shard's copy is still to be made.")
    files: dict[str, ShardFile] = Field(
        description="Keyed by the id of the file in ``directory_id`` (the caller's id before "
        "the copy is made)."
    )
    copied: bool = False


def _chunks(values: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def plan_shards(
    credentials: LlamaCloudCredentials,
    directory_id: str,
    *,
    only: Sequence[str] | None,
    max_files: int,
    tenant: Tenant,
) -> tuple[list[Shard], int]:
    """Split a directory's files (or the ``only`` ones) into shards of at most ``max_files``.

    A whole directory within the limit is its own single shard, ready to run. Otherwise each
    shard is a group of files still to be copied into a directory of its own
    (:func:`fill_shard`, ``directory_id`` empty until then): each shard fills its directory
    just before its batch starts, so copying overlaps with the other shards' processing.
    Returns the shards and the requests made (the listing).
    """
    if max_files < 1:
        raise ValueError(f"max_files_per_batch must be >= 1 (got {max_files})")
    async with credentials.get_async_client() as client:
        listed = [
            f
            async for f in client.iter_directory_files(
                directory_id, page_size=_DIRECTORY_PAGE, **tenant
            )
        ]
        requests = client.stats.requests
    files = [
        ShardFile(item_id=f.id, name=f.display_name, file_id=f.file_id, unique_id=f.unique_id)
        for f in listed
    ]
    if only is not None:
        wanted = list(dict.fromkeys(only))
        by_id = {f.item_id: f for f in files}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise ValueError(
                f"{len(missing)} item(s) are not files of directory {directory_id}: "
                f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
            )
        files = [by_id[i] for i in wanted]
    if not files:
        raise ValueError(f"directory {directory_id} has no file to process")
    if only is None and len(files) <= max_files:
        shard = Shard(index=0, directory_id=directory_id, files={f.item_id: f for f in files})
        return [shard], requests
    no_file_id = [f.item_id for f in files if not f.file_id]
    if no_file_id:
        raise ValueError(
            f"{len(no_file_id)} file(s) of directory {directory_id} have no file_id and cannot "
            f"be added to a shard directory: {', '.join(no_file_id[:5])}"
        )
    shards = [
        Shard(index=index, directory_id="", files={f.item_id: f for f in group}, copied=True)
        for index, group in enumerate(_chunks(files, max_files))
    ]
    return shards, requests


async def fill_shard(
    credentials: LlamaCloudCredentials,
    shard: Shard,
    *,
    name: str,
    source_directory_id: str,
    tenant: Tenant,
) -> tuple[Shard, int]:
    """Copy a planned shard's files by file id into a new ephemeral directory called ``name``
    (``_ADD_FILE_CONCURRENCY`` ``add_file`` requests at a time). Returns the shard, keyed by
    the new directory's file ids, and the requests made."""
    import anyio

    if shard.directory_id:
        return shard, 0  # a directory processed as it is, or a shard already filled
    group = list(shard.files.values())
    position = {f.item_id: n for n, f in enumerate(group)}
    limiter = anyio.CapacityLimiter(_ADD_FILE_CONCURRENCY)
    mapped: dict[str, ShardFile] = {}
    async with credentials.get_async_client() as client:
        directory = await client.create_directory(
            name,
            description=f"llamabatch shard of directory {source_directory_id}",
            type="ephemeral",
            **tenant,
        )

        async def add(f: ShardFile) -> None:
            async with limiter:
                added = await client.add_file(
                    directory.id,
                    cast(str, f.file_id),
                    display_name=f.name,
                    unique_id=f.unique_id,
                    **tenant,
                )
            mapped[added.id] = f

        async with anyio.create_task_group() as group_tasks:
            for f in group:
                group_tasks.start_soon(add, f)
        requests = client.stats.requests
    ordered = dict(sorted(mapped.items(), key=lambda kv: position[kv[1].item_id]))
    return shard.model_copy(update={"directory_id": directory.id, "files": ordered}), requests


def shard_cache_scope(credentials: Any, tenant: Mapping[str, Any], *parts: Any) -> str:
    """A short stable hash of what a persisted v2 task result is scoped to."""
    scope = json.dumps(
        [
            getattr(credentials, "base_url", None),
            getattr(credentials, "project_id", None),
            dict(tenant),
            *parts,
        ],
        default=str,
        sort_keys=True,
    )
    return hashlib.sha256(scope.encode()).hexdigest()[:48]


# ---- outcomes ---------------------------------------------------------------------------------


class ItemOutcome(BaseModel):
    """What became of one file of a v2 batch."""

    item_id: str
    item_name: str
    status: Literal["completed", "failed", "cancelled", "pending"]
    error_message: str | None = None
    job_id: str | None = None
    batch_id: str


def item_outcomes(
    client: BatchClient, batch: Batch, shard: Shard, tenant: Tenant
) -> list[ItemOutcome]:
    """Each file's outcome: the status of the job its result references, read in batched
    lookups; a file without a job reference failed (its ``error_message``), a file without a
    result was not processed (the batch failed or was cancelled first)."""
    results = batch.results or []
    job_type = batch.config.job.type
    ids = [r.job_reference.id for r in results if r.job_reference is not None]
    lookup = client.iter_parse_jobs if job_type == "parse_v2" else client.iter_extract_jobs
    jobs: dict[str, tuple[str, str | None]] = {}
    if ids:
        for job in lookup(job_ids=ids, concurrency=JOB_LOOKUP_CONCURRENCY, **tenant):
            jobs[job.id] = (str(job.status).upper(), job.error_message)
    outcomes: list[ItemOutcome] = []
    seen: set[str] = set()
    for r in results:
        seen.add(r.source_directory_file_id)
        f = shard.files.get(r.source_directory_file_id)
        item_id = f.item_id if f else r.source_directory_file_id
        name = f.name if f else item_id
        if r.job_reference is None:
            outcomes.append(
                ItemOutcome(
                    item_id=item_id,
                    item_name=name,
                    status="failed",
                    error_message=r.error_message or "no job was created for this file",
                    batch_id=batch.id,
                )
            )
            continue
        status, error = jobs.get(r.job_reference.id, ("", None))
        outcomes.append(
            ItemOutcome(
                item_id=item_id,
                item_name=name,
                status=cast(Any, _JOB_STATUS.get(status, "pending")),
                error_message=error or r.error_message,
                job_id=r.job_reference.id,
                batch_id=batch.id,
            )
        )
    for key, f in shard.files.items():
        if key not in seen:
            outcomes.append(
                ItemOutcome(
                    item_id=f.item_id, item_name=f.name, status="pending", batch_id=batch.id
                )
            )
    return outcomes


class ShardRun(BaseModel):
    """One shard's finished batch and its files' outcomes."""

    shard_index: int
    batch: Batch
    outcomes: list[ItemOutcome]
    api_calls: int = 0


def counts_of(outcomes: Iterable[ItemOutcome]) -> JobCounts:
    """v1-style counters of outcomes (cancelled and pending files are not processed)."""
    listed = list(outcomes)
    failed = sum(o.status == "failed" for o in listed)
    done = sum(o.status == "completed" for o in listed)
    return JobCounts(total=len(listed), processed=done + failed, failed=failed)


def batch_job(
    batch: Batch, counts: JobCounts, *, directory_id: str | None, status: str | None = None
) -> BatchJob:
    """A v1-shaped job record of a v2 batch (for results, events and reports)."""
    return BatchJob(
        id=batch.id,
        job_type=_JOB_TYPE.get(batch.config.job.type, batch.config.job.type),
        project_id=batch.project_id,
        status=status or batch.status.lower(),
        total_items=counts.total,
        processed_items=counts.processed,
        failed_items=counts.failed,
        skipped_items=0,
        directory_id=directory_id or batch.source_directory_id,
        created_at=batch.created_at,
        updated_at=batch.updated_at,
        error_message=(
            "the batch's orchestration failed (v2 status FAILED)"
            if batch.status == "FAILED"
            else None
        ),
    )


def merge_shard_runs(
    runs: Sequence[ShardRun], *, directory_id: str | None
) -> tuple[BatchRunResult, list[FailedItem]]:
    """One result for every shard: merged counts, a merged status, one entry per shard."""
    ordered = sorted(runs, key=lambda r: r.shard_index)
    statuses = {r.batch.status for r in ordered}
    status = (
        "failed"
        if "FAILED" in statuses
        else "cancelled"
        if "CANCELLED" in statuses
        else "completed"
    )
    outcomes = [o for r in ordered for o in r.outcomes]
    counts = counts_of(outcomes)
    job = batch_job(ordered[0].batch, counts, directory_id=directory_id, status=status)
    failed_batches = [r.batch.id for r in ordered if r.batch.status == "FAILED"]
    if failed_batches:
        job = job.model_copy(
            update={"error_message": f"v2 batch(es) {', '.join(failed_batches)} failed"}
        )
    shards = [
        RetryRound(
            round=r.shard_index + 1,
            job_id=r.batch.id,
            submitted=len(r.outcomes),
            counts=counts_of(r.outcomes),
            status=r.batch.status.lower(),
        )
        for r in ordered
    ]
    failed = [
        FailedItem(
            item_id=o.item_id,
            item_name=o.item_name,
            status="failed",
            error_message=o.error_message,
            job_id=o.job_id,
            batch_job_id=o.batch_id,
        )
        for o in outcomes
        if o.status == "failed"
    ]
    result = BatchRunResult(
        job=job,
        counts=counts,
        progress_percentage=100.0 * counts.processed / counts.total if counts.total else 100.0,
        api_calls=sum(r.api_calls for r in ordered),
        shards=shards,
    )
    return result, failed


def run_shards(
    shards: Sequence[Shard],
    run_one: Callable[[Shard], ShardRun],
    *,
    concurrency: int,
    on_done: Callable[[list[ShardRun]], None] | None = None,
) -> list[ShardRun]:
    """Run ``run_one(shard)`` for every shard, at most ``concurrency`` at once.

    Each worker runs in a copy of the caller's context, so the tasks it calls belong to the
    calling flow run (as Prefect's thread-pool task runner does).
    """
    if concurrency < 1:
        raise ValueError(f"shard_concurrency must be >= 1 (got {concurrency})")
    runs: list[ShardRun] = []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(shards))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, run_one, shard) for shard in shards]
        try:
            for future in as_completed(futures):
                runs.append(future.result())
                if on_done is not None:
                    on_done(runs)
        except BaseException:
            # The first shard error ends the run: shards not started yet are not started (a
            # flow retry starts them); those running finish their task, their batches recorded.
            for future in futures:
                future.cancel()
            raise
    return runs


def read_batch_outcomes(
    credentials: LlamaCloudCredentials, batch_id: str, tenant: Tenant
) -> ShardRun:
    """A batch as it is now, with its files' outcomes (item ids of its source directory)."""
    with credentials.get_client() as client:
        batch = client.get_batch(batch_id, expand_results=True, **tenant)
        run = batch_outcomes(client, batch, tenant)
        calls = client.stats.requests
    return run.model_copy(update={"api_calls": calls})


def batch_outcomes(client: BatchClient, batch: Batch, tenant: Tenant) -> ShardRun:
    """The files' outcomes of a batch read with ``expand=results``: one listing of its source
    directory (whose file ids are the item ids) and batched job lookups."""
    files = {
        f.id: ShardFile(item_id=f.id, name=f.display_name, file_id=f.file_id)
        for f in client.iter_directory_files(
            batch.source_directory_id, page_size=_DIRECTORY_PAGE, **tenant
        )
    }
    shard = Shard(index=0, directory_id=batch.source_directory_id, files=files)
    return ShardRun(
        shard_index=0, batch=batch, outcomes=item_outcomes(client, batch, shard, tenant)
    )
