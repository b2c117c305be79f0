"""What a batch run produced: ``BatchRunResult``, item outcomes, and how a run is judged.

A run ends in exactly one of these ways (see ``docs/failure-semantics.md``):

* the job completed and no more items failed than allowed: a ``BatchRunResult``;
* the job completed with too many failed items: ``BatchItemsFailed`` (carries the result);
* the job failed: ``BatchJobFailed`` (carries the result);
* the job was cancelled remotely: ``BatchJobCancelled`` from tasks, a ``Cancelled`` state from flows;
* the wait ran out of time: ``BatchJobTimeout``;
* the API stayed unreachable longer than the outage budget: ``BatchApiUnavailable``.

The exceptions live in :mod:`prefect_llamabatch.orchestration.exceptions` (re-exported here).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.models import BatchJob, ItemProcessingResults, JobItem, JobStatus
from prefect_llamabatch.orchestration.exceptions import (
    BatchApiUnavailable,
    BatchItemsFailed,
    BatchJobCancelled,
    BatchJobFailed,
    BatchJobTimeout,
    BatchRunError,
)

__all__ = [
    "BatchApiUnavailable",
    "BatchItemsFailed",
    "BatchJobCancelled",
    "BatchJobFailed",
    "BatchJobTimeout",
    "BatchRunError",
    "BatchRunResult",
    "FailedItem",
    "JobCounts",
    "RetryRound",
    "SkippedItem",
    "check_max_failed_fraction",
    "check_outcome",
    "top_errors",
    "verdict",
]


class JobCounts(BaseModel):
    """Item counters of a batch job, as the server reported them.

    ``processed`` counts every item that reached a final status (completed, failed or skipped),
    so ``succeeded = processed - failed - skipped``.

    Example:
        ```python
        from prefect_llamabatch.orchestration.results import JobCounts

        counts = JobCounts(total=10, processed=10, failed=2, skipped=1)
        assert counts.succeeded == 7
        ```
    """

    model_config = ConfigDict(frozen=True)

    total: int = 0
    processed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def succeeded(self) -> int:
        """Items that completed (processed, neither failed nor skipped)."""
        return max(self.processed - self.failed - self.skipped, 0)

    @property
    def pending(self) -> int:
        """Items not yet processed (or never processed, for a cancelled job)."""
        return max(self.total - self.processed, 0)

    @classmethod
    def from_job(cls, job: BatchJob) -> JobCounts:
        """Counters of a job record (absent or negative counters count as zero)."""
        # Responses are parsed tolerantly; a server bug must not turn into negative totals.
        return cls(
            total=max(job.total_items, 0),
            processed=max(job.processed_items or 0, 0),
            failed=max(job.failed_items or 0, 0),
            skipped=max(job.skipped_items or 0, 0),
        )

    def as_payload(self) -> dict[str, int]:
        """The counters as a flat dict (events, summaries)."""
        return {
            "total": self.total,
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
        }


class FailedItem(BaseModel):
    """One item that did not complete: what it was, what went wrong, when.

    Example:
        ```python
        from prefect_llamabatch.models import JobItem
        from prefect_llamabatch.orchestration.results import FailedItem

        item = JobItem(item_id="dfl-1", item_name="a.pdf", status="failed", error_message="bad PDF")
        failed = FailedItem.from_item(item, batch_job_id="bj-1")
        assert failed.error_message == "bad PDF"
        ```
    """

    item_id: str
    item_name: str
    status: str
    error_message: str | None = None
    job_id: str | None = Field(
        default=None, description="The underlying parse/classify job of this one item."
    )
    batch_job_id: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    processing_results: ItemProcessingResults | None = Field(
        default=None, description="Filled when the report was asked to fetch results."
    )

    @classmethod
    def from_item(cls, item: JobItem, *, batch_job_id: str) -> FailedItem:
        """Build from a job item of the API."""
        return cls(
            item_id=item.item_id,
            item_name=item.item_name,
            status=item.status_value,
            error_message=item.error_message,
            job_id=item.job_id,
            batch_job_id=batch_job_id,
            started_at=item.started_at,
            completed_at=item.completed_at,
        )


class SkippedItem(BaseModel):
    """One item the service skipped, and why (``already_processed``, ``size_limit_exceeded`` …).

    Example:
        ```python
        from prefect_llamabatch.models import JobItem
        from prefect_llamabatch.orchestration.results import SkippedItem

        item = JobItem(item_id="dfl-1", item_name="a.txt", status="skipped", skip_reason="already_processed")
        assert SkippedItem.from_item(item, batch_job_id="bj-1").skip_reason == "already_processed"
        ```
    """

    item_id: str
    item_name: str
    skip_reason: str | None = None
    batch_job_id: str

    @classmethod
    def from_item(cls, item: JobItem, *, batch_job_id: str) -> SkippedItem:
        """Build from a job item of the API."""
        return cls(
            item_id=item.item_id,
            item_name=item.item_name,
            skip_reason=item.skip_reason,
            batch_job_id=batch_job_id,
        )


class RetryRound(BaseModel):
    """One round of ``retry_failed_items``: the job it submitted and how it went.

    Example:
        ```python
        from prefect_llamabatch.orchestration.results import JobCounts, RetryRound

        r = RetryRound(round=1, job_id="bj-2", submitted=3, counts=JobCounts(total=3, processed=3))
        assert r.still_failed == 0
        ```
    """

    round: int
    job_id: str
    submitted: int
    counts: JobCounts
    status: str = JobStatus.COMPLETED.value

    @property
    def still_failed(self) -> int:
        """Items of this round that failed again."""
        return self.counts.failed


class BatchRunResult(BaseModel):
    """The outcome of one batch run (or of a retry chain, merged).

    Attributes:
        job: The final job record (for a retry chain: the last job submitted).
        counts: Item counters. For a retry chain: the original totals, with ``failed`` being the
            items that still fail after the last round.
        progress_percentage: The last progress the service reported.
        duration_seconds: Wall-clock seconds the run took, as measured here.
        failed_items: Every item that failed (filled by the report, or by the wait when asked).
        skipped_items: Every item the service skipped.
        api_calls: LlamaCloud HTTP requests made for this run (retries included).
        max_failed_fraction: The failure threshold the outcome was judged against, if any.
        accepted_failures: True when items failed but no more than ``max_failed_fraction``.
        rounds: The retry rounds, for ``retry_failed_items``.
        export_path: Where the report wrote its CSV/JSONL export of failed items, if it did.
        shards: For a v2 run: one entry per batch it ran (a directory over the per-batch file
            limit is split into several), with that batch's counts; ``job`` then has the first
            batch's id and the merged counts.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.orchestration.results import BatchRunResult

        job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="completed",
                       total_items=4, processed_items=4, failed_items=1)
        result = BatchRunResult.from_job(job, duration_seconds=3.5, api_calls=6)
        assert result.failed_fraction == 0.25 and not result.succeeded
        ```
    """

    job: BatchJob
    counts: JobCounts
    progress_percentage: float = 0.0
    duration_seconds: float = 0.0
    failed_items: list[FailedItem] = Field(default_factory=list)
    skipped_items: list[SkippedItem] = Field(default_factory=list)
    api_calls: int = 0
    max_failed_fraction: float | None = None
    accepted_failures: bool = False
    rounds: list[RetryRound] = Field(default_factory=list)
    export_path: str | None = None
    shards: list[RetryRound] = Field(default_factory=list)

    @classmethod
    def from_job(
        cls,
        job: BatchJob,
        *,
        progress_percentage: float = 0.0,
        duration_seconds: float = 0.0,
        api_calls: int = 0,
    ) -> BatchRunResult:
        """A result for a job record, counters taken from the record."""
        return cls(
            job=job,
            counts=JobCounts.from_job(job),
            progress_percentage=progress_percentage,
            duration_seconds=duration_seconds,
            api_calls=api_calls,
        )

    @property
    def job_id(self) -> str:
        """The batch job id."""
        return self.job.id

    @property
    def status(self) -> str:
        """The job's final status (wire string)."""
        return self.job.status_value

    @property
    def failed_fraction(self) -> float:
        """Failed items over total items (0 for an empty job)."""
        return self.counts.failed / self.counts.total if self.counts.total else 0.0

    @property
    def succeeded(self) -> bool:
        """Completed with no failed item at all."""
        return self.status == JobStatus.COMPLETED.value and self.counts.failed == 0

    def top_errors(self, limit: int = 10) -> list[tuple[str, int]]:
        """The most common error messages of the failed items, most frequent first."""
        return top_errors(self.failed_items, limit)

    def summary(self) -> str:
        """One line for logs: status, counts, duration."""
        c = self.counts
        line = (
            f"batch job {self.job_id} {self.status}: {c.succeeded}/{c.total} succeeded, "
            f"{c.failed} failed, {c.skipped} skipped in {self.duration_seconds:.1f}s "
            f"({self.api_calls} API calls)"
        )
        if self.accepted_failures:
            limit = (
                "any number accepted"
                if self.max_failed_fraction is None
                else f"max_failed_fraction={self.max_failed_fraction:g}"
            )
            line += f"; {c.failed} failed item(s) accepted ({limit})"
        return line


def top_errors(items: Iterable[FailedItem], limit: int = 10) -> list[tuple[str, int]]:
    """The most common error messages among failed items, most frequent first."""
    counter = Counter(item.error_message or "(no error message)" for item in items)
    return counter.most_common(limit)


def check_max_failed_fraction(max_failed_fraction: float | None) -> None:
    """Refuse a ``max_failed_fraction`` outside 0..1 (``None`` accepts any failures).

    Example:
        ```python
        import pytest
        from prefect_llamabatch.orchestration.results import check_max_failed_fraction

        check_max_failed_fraction(0.1)
        with pytest.raises(ValueError, match="between 0 and 1"):
            check_max_failed_fraction(5)
        ```
    """
    if max_failed_fraction is not None and not 0.0 <= max_failed_fraction <= 1.0:
        raise ValueError(
            f"max_failed_fraction must be between 0 and 1 (got {max_failed_fraction!r}); "
            "None accepts any number of failed items"
        )


def verdict(
    status: str,
    counts: JobCounts,
    max_failed_fraction: float | None,
    *,
    error_message: str | None = None,
) -> str:
    """One sentence saying how a finished job is judged (for summaries and logs).

    Example:
        ```python
        from prefect_llamabatch.orchestration.results import JobCounts, verdict

        text = verdict("completed", JobCounts(total=10, processed=10, failed=1), 0.2)
        assert text.startswith("Accepted failures")
        ```
    """
    if status == JobStatus.FAILED.value:
        return "Failed: the batch job failed" + (f" ({error_message})." if error_message else ".")
    if status == JobStatus.CANCELLED.value:
        return (
            f"Cancelled: the batch job was cancelled after {counts.processed} of {counts.total} "
            "items were processed."
        )
    if counts.failed == 0:
        return "OK: no item failed."
    fraction = counts.failed / counts.total if counts.total else 0.0
    if max_failed_fraction is None:
        return (
            f"Accepted failures: {counts.failed} of {counts.total} items failed ({fraction:.1%}); "
            "any number of failed items is accepted (max_failed_fraction=None)."
        )
    if fraction <= max_failed_fraction:
        return (
            f"Accepted failures: {counts.failed} of {counts.total} items failed ({fraction:.1%}), "
            f"within max_failed_fraction={max_failed_fraction:g}."
        )
    return (
        f"Failed: {counts.failed} of {counts.total} items failed ({fraction:.1%} > "
        f"{max_failed_fraction:.1%} allowed)."
    )


def check_outcome(
    result: BatchRunResult,
    *,
    max_failed_fraction: float | None = 0.0,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> BatchRunResult:
    """Judge a finished run: return the result, or raise what it ended with.

    Args:
        result: A result whose job is in a final status.
        max_failed_fraction: Largest failed/total fraction accepted for a completed job; ``None``
            accepts any number of failed items (they are still logged as a warning).
        logger: Where to warn about accepted failures.

    Returns:
        The result, with ``max_failed_fraction`` and ``accepted_failures`` filled in.

    Raises:
        BatchJobFailed: The job failed.
        BatchJobCancelled: The job was cancelled.
        BatchItemsFailed: Too many items failed.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.orchestration.results import BatchRunResult, check_outcome

        job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="completed",
                       total_items=10, processed_items=10, failed_items=1)
        ok = check_outcome(BatchRunResult.from_job(job), max_failed_fraction=0.2)
        assert ok.accepted_failures
        ```
    """
    check_max_failed_fraction(max_failed_fraction)
    judged = result.model_copy(update={"max_failed_fraction": max_failed_fraction})
    if judged.status == JobStatus.FAILED.value:
        raise BatchJobFailed(judged)
    if judged.status == JobStatus.CANCELLED.value:
        raise BatchJobCancelled(judged)
    if judged.counts.failed == 0:
        return judged
    if max_failed_fraction is not None and judged.failed_fraction > max_failed_fraction:
        raise BatchItemsFailed(judged)
    judged = judged.model_copy(update={"accepted_failures": True})
    if logger is not None:
        logger.warning(
            "%s. The run is not failed because the failures are within the accepted limit.",
            judged.summary(),
        )
    return judged
