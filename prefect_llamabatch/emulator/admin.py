"""The admin side of the emulator: ground-truth models and ``EmulatorAdmin``, its HTTP client.

The admin API lives under ``/_emulator/`` (outside ``/api``, so it is never faulted or counted)
and requires the header ``X-Emulator-Admin-Token``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field, SecretStr

from prefect_llamabatch.emulator.settings import FaultConfig, FaultRule
from prefect_llamabatch.models import TERMINAL_JOB_STATUSES, BatchJob, JobItem

__all__ = [
    "ADMIN_TOKEN_HEADER",
    "EmulatorAdmin",
    "GroundTruth",
    "ItemTruth",
    "JobTruth",
    "RequestRecord",
    "SeededDirectory",
]

ADMIN_TOKEN_HEADER = "X-Emulator-Admin-Token"


class ItemTruth(JobItem):
    """An item as the emulator knows it, with where its output went.

    Example:
        ```python
        from prefect_llamabatch.emulator import ItemTruth

        item = ItemTruth(item_id="dfl-1", item_name="a.txt", status="pending", pos=0)
        assert item.output_s3_path is None
        ```
    """

    pos: int
    output_s3_path: str | None = None
    parameters_hash: str | None = None
    result_id: str | None = None


class JobTruth(BatchJob):
    """A job as the emulator knows it: wire fields plus every internal counter and its items.

    Example:
        ```python
        from prefect_llamabatch.emulator import run_emulator

        with run_emulator(time_scale=0.01) as emu:
            docs = emu.admin.seed_directory({"a.txt": "a"})
            # ... create a job over HTTP, then:
            # job = emu.admin.wait_for_job(job_id); job.counts["completed"]
        ```
    """

    organization_id: str
    progress_percentage: float
    counts: dict[str, int] = Field(description="Items per status, straight from the counters.")
    cancel_reason: str | None = None
    idempotency_key: str | None = None
    job_config: dict[str, Any] | None = Field(
        default=None, description="The config the job was created with (secrets masked)."
    )
    cycle: int = 0
    cycle_size: int | None = None
    items: list[ItemTruth] = Field(default_factory=list)


class RequestRecord(BaseModel):
    """One request the emulator received under ``/api`` (status 0: the connection was dropped).

    Example:
        ```python
        from prefect_llamabatch.emulator import RequestRecord

        record = RequestRecord(method="GET", path="/api/v1/beta/batch-processing",
                               route="list_jobs", status=200, at="2030-01-01T00:00:00+00:00")
        assert record.fault is None
        ```
    """

    method: str
    path: str
    route: str
    status: int
    at: str
    fault: str | None = None


class GroundTruth(BaseModel):
    """Every job with its items and counters, and the count of requests per route.

    Example:
        ```python
        from prefect_llamabatch.emulator import run_emulator

        with run_emulator(time_scale=0.01) as emu:
            truth = emu.admin.ground_truth()
            assert truth.jobs == [] and truth.request_counts == {}
        ```
    """

    jobs: list[JobTruth]
    request_counts: dict[str, int]

    def job(self, job_id: str) -> JobTruth:
        """The job with this id.

        Raises:
            KeyError: no such job.
        """
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)


class SeededDirectory(BaseModel):
    """A directory created by ``EmulatorAdmin.seed_directory``: its id and ``{name: file id}``.

    Example:
        ```python
        from prefect_llamabatch.emulator import SeededDirectory

        seeded = SeededDirectory(id="dir-1", name="docs", project_id="p", files={"a.txt": "dfl-1"})
        assert seeded.files["a.txt"] == "dfl-1"
        ```
    """

    id: str
    name: str
    project_id: str
    files: dict[str, str]


FileSource = Mapping[str, bytes | str] | Path | str


def _seed_files(files: FileSource) -> list[dict[str, str]]:
    if isinstance(files, (str, Path)):
        root = Path(files)
        if not root.is_dir():
            raise ValueError(f"files: {root} is not a directory")
        items: dict[str, bytes | str] = {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
    else:
        items = dict(files)
    out = []
    for name, content in items.items():
        data = content.encode() if isinstance(content, str) else content
        out.append({"name": name, "content_b64": base64.b64encode(data).decode()})
    return out


class EmulatorAdmin:
    """HTTP client of an emulator's admin API.

    Works for an emulator in this process (``emu.admin``) and for one started from the command
    line (``EmulatorAdmin(base_url, admin_token)``).

    Example:
        ```python
        from prefect_llamabatch.emulator import EmulatorConfig, run_emulator

        with run_emulator(EmulatorConfig(time_scale=0.01)) as emu:
            seeded = emu.admin.seed_directory({"a.txt": b"hello"}, name="docs")
            assert list(seeded.files) == ["a.txt"]
        ```
    """

    def __init__(
        self, base_url: str, admin_token: str | SecretStr, *, timeout: float = 30.0
    ) -> None:
        token = (
            admin_token.get_secret_value() if isinstance(admin_token, SecretStr) else admin_token
        )
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url + "/_emulator",
            headers={ADMIN_TOKEN_HEADER: token},
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"EmulatorAdmin(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, path, **kwargs)
        if response.is_error:
            # Keep the emulator's explanation (e.g. which setting was invalid) in the message.
            raise httpx.HTTPStatusError(
                f"admin API {method} {path}: {response.status_code} {response.text[:500]}",
                request=response.request,
                response=response,
            )
        return response.json() if response.content else None

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Back to the start: no directory, file, job, result or logged request; the faults,
        settings and frozen state the emulator was started with."""
        self._call("POST", "/reset")

    def seed_directory(
        self,
        files: FileSource,
        *,
        name: str = "seeded",
        project_id: str | None = None,
        description: str | None = None,
        type: str | None = None,
        directory_id: str | None = None,
    ) -> SeededDirectory:
        """Create a directory holding ``files`` (``{name: bytes | str}`` or a local folder).

        With ``directory_id``, the files are added to that existing directory instead.
        """
        body = {
            "directory_id": directory_id,
            "name": name,
            "project_id": project_id,
            "description": description,
            "type": type,
            "files": _seed_files(files),
        }
        return SeededDirectory.model_validate(self._call("POST", "/directories", json=body))

    def ground_truth(self, job_id: str | None = None, *, max_items: int = 10_000) -> GroundTruth:
        """Every job (or one) with up to ``max_items`` items each, read in one consistent snapshot."""
        params: dict[str, Any] = {"max_items": max_items}
        if job_id is not None:
            params["job_id"] = job_id
        return GroundTruth.model_validate(self._call("GET", "/ground-truth", params=params))

    def request_log(self, limit: int | None = None) -> list[RequestRecord]:
        """The most recent requests under ``/api`` (oldest first)."""
        params = {"limit": limit} if limit is not None else {}
        data = self._call("GET", "/requests", params=params)
        return [RequestRecord.model_validate(r) for r in data["records"]]

    def request_counts(self) -> dict[str, int]:
        """Requests received per route name since the last reset."""
        counts: dict[str, int] = self._call("GET", "/requests", params={"limit": 0})["counts"]
        return counts

    def resolve_output(self, s3_path: str) -> Path:
        """The local file an item's ``output_s3_path`` maps to."""
        return Path(self._call("GET", "/outputs", params={"s3_path": s3_path})["path"])

    def read_output(self, s3_path: str) -> str:
        """The text of an item's output."""
        content: str = self._call("GET", "/outputs", params={"s3_path": s3_path})["content"]
        return content

    # ------------------------------------------------------------------ faults

    def set_faults(self, faults: FaultConfig | list[FaultRule] | list[str]) -> None:
        """Replace the fault rules (rule counters and random streams start over)."""
        if isinstance(faults, list):
            rules = [FaultRule.parse(f) if isinstance(f, str) else f for f in faults]
            faults = FaultConfig(rules=rules)
        self._call("PUT", "/faults", json=faults.model_dump(mode="json"))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/faults")

    def fault_stats(self) -> list[dict[str, Any]]:
        """Per rule: requests seen and hit."""
        stats: list[dict[str, Any]] = self._call("GET", "/faults")["stats"]
        return stats

    def outage(self, seconds: float | None = None, *, mode: str = "503") -> None:
        """Every ``/api`` request answers 503 (``mode="drop"``: is dropped) for ``seconds``."""
        self._call("POST", "/outage", json={"seconds": seconds, "mode": mode})

    def end_outage(self) -> None:
        """End an outage now."""
        self._call("DELETE", "/outage")

    # ------------------------------------------------------------------ processing

    def freeze(self) -> None:
        """Pause processing: no item is handed out or finished until ``resume()``."""
        self._call("POST", "/freeze")

    def resume(self) -> None:
        """Resume processing."""
        self._call("POST", "/resume")

    def advance(self, items: int = 1) -> int:
        """Finish ``items`` items now (in flight first, then pending); returns how many."""
        done: int = self._call("POST", "/advance", json={"items": items})["advanced"]
        return done

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Change processing settings at run time (``time_scale``, ``concurrency``, …)."""
        result: dict[str, Any] = self._call("PATCH", "/settings", json=changes)
        return result

    def wait_for_job(self, job_id: str, *, timeout: float = 30.0, poll: float = 0.02) -> JobTruth:
        """Poll the ground truth until the job is finished.

        Raises:
            TimeoutError: the job did not finish within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            job = self.ground_truth(job_id, max_items=0).job(job_id)
            if job.status_value in TERMINAL_JOB_STATUSES and job.counts.get("processing", 0) == 0:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status_value} after {timeout}s")
            time.sleep(poll)
