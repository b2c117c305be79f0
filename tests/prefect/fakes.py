"""An in-memory driver for steps in unit tests: a fake clock and scripted API answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from prefect_llamabatch.models import BatchCancelResponse, BatchJob, BatchJobStatus
from prefect_llamabatch.orchestration.drivers import drive
from prefect_llamabatch.orchestration.effects import (
    CancelJob,
    CreateProgressArtifact,
    Effect,
    Gather,
    GetJob,
    Monotonic,
    RequestsMade,
    Sleep,
    UpdateProgressArtifact,
)


def job_status(
    status: str = "running",
    *,
    job_id: str = "bj-1",
    total: int = 10,
    processed: int = 0,
    failed: int = 0,
    skipped: int = 0,
    progress: float | None = None,
    directory_id: str | None = "dir-1",
) -> BatchJobStatus:
    job = BatchJob(
        id=job_id,
        job_type="parse",
        project_id="proj-1",
        status=status,
        total_items=total,
        processed_items=processed,
        failed_items=failed,
        skipped_items=skipped,
        directory_id=directory_id,
    )
    pct = progress if progress is not None else (100.0 * processed / total if total else 0.0)
    return BatchJobStatus(job=job, progress_percentage=pct)


@dataclass
class FakePort:
    """Answers ``get_job`` from a script (one entry per poll; an exception entry is raised)."""

    script: list[BatchJobStatus | BaseException | Callable[[float], BatchJobStatus]]
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    polls_at: list[float] = field(default_factory=list)
    cancels: list[tuple[str, str | None]] = field(default_factory=list)
    artifacts: list[tuple[str, float]] = field(default_factory=list)
    cancel_error: BaseException | None = None
    artifact_error: BaseException | None = None

    def perform(self, effect: Effect[Any]) -> Any:
        match effect:
            case Monotonic():
                return self.now
            case Sleep(seconds=seconds):
                return self.sleep(seconds)
            case GetJob(job_id=job_id):
                return self.get_job(job_id)
            case CancelJob(job_id=job_id, reason=reason):
                return self.cancel_job(job_id, reason)
            case CreateProgressArtifact(progress=progress, key=key, description=description):
                return self.create_progress_artifact(progress, key, description)
            case UpdateProgressArtifact(artifact_id=artifact_id, progress=progress):
                return self.update_progress_artifact(artifact_id, progress)
            case RequestsMade():
                return len(self.polls_at) + len(self.cancels)
            case Gather(ops=ops):
                return [drive(op, self) for op in ops]
        raise AssertionError(f"unexpected effect {effect!r}")

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def get_job(self, job_id: str) -> BatchJobStatus:
        self.polls_at.append(self.now)
        entry = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(entry, BaseException):
            raise entry
        if callable(entry):
            return entry(self.now)
        return entry

    def cancel_job(self, job_id: str, reason: str | None = None) -> BatchCancelResponse:
        if self.cancel_error is not None:
            raise self.cancel_error
        self.cancels.append((job_id, reason))
        return BatchCancelResponse(job_id=job_id, status="cancelled")

    def create_progress_artifact(self, progress: float, key: str | None, description: str) -> UUID:
        if self.artifact_error is not None:
            raise self.artifact_error
        self.artifacts.append(("create", progress))
        return uuid4()

    def update_progress_artifact(self, artifact_id: UUID, progress: float) -> None:
        self.artifacts.append(("update", progress))
