"""What a batch run produced: ``BatchRunResult``, item outcomes, and the exceptions flows raise.

A run ends in exactly one of these ways (see ``docs/failure-semantics.md``):

* the job completed and no more items failed than allowed: a ``BatchRunResult``;
* the job completed with too many failed items: ``BatchItemsFailed`` (carries the result);
* the job failed: ``BatchJobFailed`` (carries the result);
* the job was cancelled remotely: ``BatchJobCancelled`` from tasks, a ``Cancelled`` state from flows;
* the wait ran out of time: ``BatchJobTimeout``;
* the API stayed unreachable longer than the outage budget: ``BatchApiUnavailable``.

Every exception here pickles (Prefect persists a failed state's exception) and none carries a
secret: they hold job ids, counts and messages written by the server.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.models import BatchJob, ItemProcessingResults, JobItem, JobStatus

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
        from prefect_llamabatch.results import JobCounts

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
        from prefect_llamabatch.results import FailedItem

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
        from prefect_llamabatch.results import SkippedItem

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
        from prefect_llamabatch.results import JobCounts, RetryRound

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

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.results import BatchRunResult

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


# --------------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------------


class BatchRunError(Exception):
    """Base of the errors a batch run ends with. ``job_id`` names the remote job.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_directory
        from prefect_llamabatch.results import BatchItemsFailed, BatchRunError

        try:
            process_directory(LlamaCloudCredentials.load("llamacloud"), directory_id="dir-1")
        except BatchItemsFailed as exc:
            print([item.item_name for item in exc.result.failed_items])
        except BatchRunError as exc:
            print("batch job", exc.job_id, "did not complete:", exc)
        ```
    """

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only state do not pickle by default; Prefect pickles them.
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[BatchRunError], state: dict[str, Any]) -> BatchRunError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, state.get("message", ""))
    exc.__dict__.update(state)
    return exc


class BatchJobFailed(BatchRunError):
    """The remote batch job ended ``failed``. ``result`` has what is known about its items."""

    def __init__(self, result: BatchRunResult) -> None:
        detail = f": {result.job.error_message}" if result.job.error_message else ""
        super().__init__(
            f"batch job {result.job_id} failed{detail} "
            f"({result.counts.failed} of {result.counts.total} items failed)",
            job_id=result.job_id,
        )
        self.result = result


class BatchJobCancelled(BatchRunError):
    """The remote batch job was cancelled (by someone else: the API, the UI of LlamaCloud …)."""

    def __init__(self, result: BatchRunResult) -> None:
        super().__init__(
            f"batch job {result.job_id} was cancelled remotely after "
            f"{result.counts.processed} of {result.counts.total} items were processed",
            job_id=result.job_id,
        )
        self.result = result


class BatchItemsFailed(BatchRunError):
    """The job completed, but more items failed than ``max_failed_fraction`` allows."""

    def __init__(self, result: BatchRunResult) -> None:
        threshold = result.max_failed_fraction or 0.0
        errors = top_errors(result.failed_items, limit=3)
        common = "; ".join(f"{msg} (x{n})" for msg, n in errors)
        super().__init__(
            f"batch job {result.job_id} completed with {result.counts.failed} of "
            f"{result.counts.total} items failed ({result.failed_fraction:.1%} > allowed "
            f"{threshold:.1%})" + (f". Most common errors: {common}" if common else ""),
            job_id=result.job_id,
        )
        self.result = result


class BatchJobTimeout(BatchRunError):
    """The job did not finish within ``timeout_seconds``.

    ``remote_cancelled`` tells whether the remote job was cancelled as a consequence.
    """

    def __init__(
        self,
        *,
        job_id: str,
        timeout_seconds: float,
        last_status: str | None,
        progress_percentage: float,
        remote_cancelled: bool,
        note: str = "",
    ) -> None:
        fate = (
            "it was cancelled"
            if remote_cancelled
            else "it was left running (cancel_on_timeout=False or the cancel failed)"
        )
        super().__init__(
            f"batch job {job_id} did not finish within {timeout_seconds:g}s "
            f"(last status {last_status or 'unknown'}, {progress_percentage:.0f}% done); "
            f"{fate}{note}",
            job_id=job_id,
        )
        self.timeout_seconds = timeout_seconds
        self.last_status = last_status
        self.progress_percentage = progress_percentage
        self.remote_cancelled = remote_cancelled


class BatchApiUnavailable(BatchRunError):
    """The API stayed unreachable (connection errors, 5xx) longer than the outage budget."""

    def __init__(
        self,
        *,
        api: str,
        job_id: str,
        unreachable_seconds: float,
        budget_seconds: float,
        last_error: str,
    ) -> None:
        super().__init__(
            f"the LlamaCloud API at {api} was unreachable for {unreachable_seconds:.0f}s while "
            f"waiting for batch job {job_id} (outage budget {budget_seconds:g}s); last error: "
            f"{last_error}. The job may still be running: check it with "
            f"`llamabatch status {job_id}` or wait for it again.",
            job_id=job_id,
        )
        self.api = api
        self.unreachable_seconds = unreachable_seconds
        self.budget_seconds = budget_seconds
        self.last_error = last_error


def check_max_failed_fraction(max_failed_fraction: float | None) -> None:
    """Refuse a ``max_failed_fraction`` outside 0..1 (``None`` accepts any failures).

    Example:
        ```python
        import pytest
        from prefect_llamabatch.results import check_max_failed_fraction

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
        from prefect_llamabatch.results import JobCounts, verdict

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
        from prefect_llamabatch.results import BatchRunResult, check_outcome

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
