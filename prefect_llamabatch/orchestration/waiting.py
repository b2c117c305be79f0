"""Waiting for a batch job: polling schedule, deadline, outage budget, progress tracking.

The pieces are pure (no I/O, no clock of their own) and unit-tested on their own:

* :class:`WaitSettings`: every knob, validated.
* :class:`PollSchedule`: the intervals between polls (2 s, ×1.5, capped at 30 s by default).
* :class:`CompletionEstimate`: when the job should finish, from how fast its progress moves; a
  poll is then timed for just after that (within the schedule's bounds).
* :class:`OutageBudget`: how long transient API failures are ridden out.
* :class:`ProgressTracker`: what changed since the last poll (so logs and events fire on changes only).

:func:`wait_steps` composes them into the wait loop, written once as steps (effects from
``effects.py``, run by ``drivers.py``); :func:`wait_result_steps` adds job tracking, events and the
item lists around it, for the ``wait_for_batch_job`` task and ``LlamaBatchJobRun``, which run it
with the sync or the async client built by :func:`wait_credentials`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prefect_llamabatch.models import BatchJobStatus, check_known_fields
from prefect_llamabatch.orchestration.effects import (
    AllItems,
    CancelJob,
    CreateProgressArtifact,
    ForgetJob,
    GetJob,
    Monotonic,
    RequestsMade,
    Sleep,
    Steps,
    Tenant,
    UpdateProgressArtifact,
    tenant,
)
from prefect_llamabatch.orchestration.events import emit_batch_event, last_emitted_status
from prefect_llamabatch.orchestration.exceptions import BatchApiUnavailable, BatchJobTimeout
from prefect_llamabatch.orchestration.results import BatchRunResult, FailedItem, SkippedItem
from prefect_llamabatch.orchestration.runtime import Logger, current_flow_run_id, run_logger

if TYPE_CHECKING:
    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "POLL_RETRY_DEADLINE",
    "CompletionEstimate",
    "OutageBudget",
    "PollSchedule",
    "ProgressTracker",
    "WaitOutcome",
    "WaitSettings",
    "is_transient_error",
    "wait_credentials",
    "wait_result_steps",
    "wait_steps",
]

POLL_RETRY_DEADLINE = 30.0
"""Seconds a poll's client retries may last (the wait's outage budget rides out the rest)."""


class WaitSettings(BaseModel):
    """How to wait for a batch job.

    Example:
        ```python
        from prefect_llamabatch.orchestration.waiting import WaitSettings

        settings = WaitSettings(timeout_seconds=3600, max_poll_interval=10)
        assert list(settings.schedule().take(3)) == [2.0, 3.0, 4.5]
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_interval: float = Field(
        default=2.0, gt=0, description="Seconds before the second poll; later ones back off."
    )
    backoff_factor: float = Field(
        default=1.5, ge=1.0, description="Each interval is the previous one times this."
    )
    max_poll_interval: float = Field(
        default=30.0, gt=0, description="Upper bound of the interval between polls, in seconds."
    )
    timeout_seconds: float | None = Field(
        default=24 * 3600.0,
        gt=0,
        description=(
            "Give up waiting after this many seconds (monotonic clock; the status is checked "
            "once more at the deadline). None waits without a deadline."
        ),
    )
    cancel_on_timeout: bool = Field(
        default=True, description="Cancel the remote job when the wait times out."
    )
    estimate_completion: bool = Field(
        default=True,
        description=(
            "Time the next poll by the job's progress rate (just after its predicted end, "
            "between poll_interval and max_poll_interval) while progress keeps moving; "
            "False polls on the backoff schedule only."
        ),
    )
    outage_budget_seconds: float = Field(
        default=300.0,
        ge=0,
        description=(
            "How long the API may stay unreachable (connection errors, 5xx, 429) before the "
            "wait fails, counted from when the first failing poll was sent (its own client "
            "retries included; polls retry for at most POLL_RETRY_DEADLINE seconds)."
        ),
    )
    progress_artifact: bool = Field(
        default=True, description="Keep a Prefect progress artifact in step with the job."
    )
    emit_events: bool = Field(
        default=True, description="Emit llamacloud.batch.<status> events on state changes."
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        # extra="forbid" alone names the typo but not the field meant; same message as the models.
        if isinstance(data, dict):
            check_known_fields(data, cls.model_fields, cls.__name__)
        return data

    @model_validator(mode="after")
    def _check_cap(self) -> WaitSettings:
        if self.max_poll_interval < self.poll_interval:
            raise ValueError(
                f"max_poll_interval ({self.max_poll_interval}) must be >= poll_interval "
                f"({self.poll_interval})"
            )
        return self

    def schedule(self) -> PollSchedule:
        """A fresh polling schedule for these settings."""
        return PollSchedule(self.poll_interval, self.backoff_factor, self.max_poll_interval)


@dataclass
class PollSchedule:
    """Intervals between polls: ``initial``, then ×``factor`` each time, never above ``cap``.

    Example:
        ```python
        from prefect_llamabatch.orchestration.waiting import PollSchedule

        assert list(PollSchedule(2, 1.5, 5).take(4)) == [2, 3, 4.5, 5]
        ```
    """

    initial: float
    factor: float
    cap: float
    _current: float | None = field(default=None, init=False, repr=False)

    def next(self) -> float:
        """The next interval, in seconds."""
        if self._current is None:
            self._current = min(self.initial, self.cap)
        else:
            self._current = min(self._current * self.factor, self.cap)
        return self._current

    def take(self, n: int) -> Iterator[float]:
        """The next ``n`` intervals."""
        for _ in range(n):
            yield self.next()


@dataclass
class CompletionEstimate:
    """Seconds until a job should finish, from the rate its progress has moved at.

    The rate is the average since progress was first seen to move. There is no estimate until
    progress has moved twice, nor when it did not move since the previous observation: a job
    stalled (or queued) is polled on the backoff schedule, not hammered.

    Example:
        ```python
        from prefect_llamabatch.orchestration.waiting import CompletionEstimate

        estimate = CompletionEstimate()
        assert estimate.observe(at=0.0, percent=0.0) is None
        assert estimate.observe(at=2.0, percent=10.0) is None  # moved once: no rate yet
        assert estimate.observe(at=4.0, percent=20.0) == 16.0  # 5 %/s, 80 % to go
        assert estimate.observe(at=9.0, percent=20.0) is None  # stalled
        ```
    """

    first: tuple[float, float] | None = None
    last_percent: float | None = None

    def observe(self, *, at: float, percent: float) -> float | None:
        """Record a poll's progress (0-100) at monotonic time ``at``; the seconds left, if known."""
        previous, self.last_percent = self.last_percent, percent
        if previous is None or percent <= previous:
            return None
        if self.first is None:
            self.first = (at, percent)
            return None
        started_at, started_percent = self.first
        if at <= started_at or percent >= 100.0:
            return None
        rate = (percent - started_percent) / (at - started_at)
        return (100.0 - percent) / rate


def _estimated_interval(remaining: float, settings: WaitSettings) -> float:
    # A little past the predicted end, so the poll that lands there sees the job finished.
    interval = remaining * 1.02 + 0.5
    return min(max(interval, settings.poll_interval), settings.max_poll_interval)


@dataclass
class OutageBudget:
    """Tracks one outage: when it started, whether it has lasted longer than allowed.

    Example:
        ```python
        from prefect_llamabatch.orchestration.waiting import OutageBudget

        budget = OutageBudget(60)
        budget.failed(at=100.0, error="503")
        assert not budget.exhausted(at=150.0) and budget.exhausted(at=160.0)
        budget.recovered()
        assert not budget.active
        ```
    """

    budget_seconds: float
    started_at: float | None = None
    failures: int = 0
    last_error: str = ""

    @property
    def active(self) -> bool:
        """Whether the API is currently considered unreachable."""
        return self.started_at is not None

    def failed(self, *, at: float, error: str) -> bool:
        """Record a transient failure; True when it starts a new outage."""
        new = self.started_at is None
        if new:
            self.started_at = at
        self.failures += 1
        self.last_error = error
        return new

    def recovered(self) -> None:
        """End the outage."""
        self.started_at = None
        self.failures = 0
        self.last_error = ""

    def elapsed(self, *, at: float) -> float:
        """Seconds since the outage started (0 when there is none)."""
        return 0.0 if self.started_at is None else at - self.started_at

    def remaining(self, *, at: float) -> float:
        """Seconds left in the budget (the whole budget when there is no outage)."""
        return max(self.budget_seconds - self.elapsed(at=at), 0.0)

    def exhausted(self, *, at: float) -> bool:
        """Whether the outage has lasted the whole budget."""
        return self.active and self.elapsed(at=at) >= self.budget_seconds


@dataclass(frozen=True)
class Change:
    """What one poll changed: the status, the (whole-percent) progress, or nothing.

    Example:
        ```python
        from prefect_llamabatch.orchestration.waiting import Change

        change = Change(status_changed=True, progress_changed=False, previous_status="pending")
        assert change.previous_status == "pending"
        ```
    """

    status_changed: bool
    progress_changed: bool
    previous_status: str | None


@dataclass
class ProgressTracker:
    """Remembers the last status and progress seen, to act on changes only.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob, BatchJobStatus
        from prefect_llamabatch.orchestration.waiting import ProgressTracker

        job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="running", total_items=2)
        tracker = ProgressTracker()
        assert tracker.observe(BatchJobStatus(job=job, progress_percentage=10)).status_changed
        assert not tracker.observe(BatchJobStatus(job=job, progress_percentage=10.2)).progress_changed
        ```
    """

    status: str | None = None
    percent: int | None = None
    counters: tuple[int, int, int] | None = None

    def observe(self, status: BatchJobStatus) -> Change:
        """Record a poll's answer and say what changed."""
        job = status.job
        new_status = job.status_value
        new_percent = math.floor(status.progress_percentage)
        counters = (job.processed_items or 0, job.failed_items or 0, job.skipped_items or 0)
        previous = self.status
        change = Change(
            status_changed=new_status != previous,
            progress_changed=new_percent != self.percent or counters != self.counters,
            previous_status=previous,
        )
        self.status, self.percent, self.counters = new_status, new_percent, counters
        return change


def is_transient_error(exc: BaseException) -> bool:
    """Whether an error (after the client's own retries) is worth riding out while waiting.

    Connection errors, timeouts, 408, 429, 5xx and a success body that does not parse (a proxy
    cutting it short) are; anything else (401, 403, 404 …) is not: waiting longer will not fix a
    revoked key or a job id that does not exist. A body that keeps not parsing still fails the
    wait once the outage budget is spent, with that error.
    """
    from prefect_llamabatch.client.errors import (
        APIConnectionError,
        APIResponseValidationError,
        APIStatusError,
    )

    if isinstance(exc, (APIConnectionError, APIResponseValidationError)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in (408, 429) or exc.status_code >= 500
    return False


@dataclass(frozen=True)
class WaitOutcome:
    """The last status seen (a final one), and what the wait cost.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob, BatchJobStatus
        from prefect_llamabatch.orchestration.waiting import WaitOutcome

        job = BatchJob(id="bjb-1", job_type="parse", project_id="p", status="completed", total_items=1)
        outcome = WaitOutcome(BatchJobStatus(job=job), polls=3, elapsed_seconds=7.5, outages=0)
        assert outcome.status.job.is_terminal
        ```
    """

    status: BatchJobStatus
    polls: int
    elapsed_seconds: float
    outages: int


_ARTIFACT_KEY_UNSAFE = re.compile(r"[^a-z0-9-]+")


def progress_artifact_key(job_id: str) -> str:
    """The progress artifact key of a job (artifact keys allow lowercase, digits and dashes)."""
    slug = _ARTIFACT_KEY_UNSAFE.sub("-", job_id.lower()).strip("-")
    return f"llamabatch-progress-{slug}"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def wait_steps(
    job_id: str,
    settings: WaitSettings,
    *,
    logger: Logger,
    api: str,
    on_change: Callable[[BatchJobStatus, str | None], Any] | None = None,
    request_options: Tenant | None = None,
) -> Steps[WaitOutcome]:
    """The wait loop: poll with backoff until a final status, the deadline or the outage budget.

    Args:
        job_id: The batch job.
        settings: Schedule, deadline, budget, artifact and event switches.
        logger: Run logger; written to on status/progress changes and outages only.
        api: The API base URL, for error messages.
        on_change: Called with the new status and the previous status string on every status
            change (the task emits the event there).
        request_options: Extra keyword arguments for ``get_job``/``cancel_job`` (organization,
            project).

    Returns:
        The final status seen, the number of polls and the elapsed time.

    Raises:
        BatchJobTimeout: The deadline passed (the job is cancelled first if configured).
        BatchApiUnavailable: Transient failures lasted longer than the outage budget.
        LlamaCloudError: A non-transient API error (bad key, unknown job …).
    """
    options = request_options or tenant()
    schedule = settings.schedule()
    outage = OutageBudget(settings.outage_budget_seconds)
    tracker = ProgressTracker()
    estimate = CompletionEstimate()
    remaining: float | None = None
    start = yield from Monotonic()
    deadline = None if settings.timeout_seconds is None else start + settings.timeout_seconds
    artifact_id: UUID | None = None
    artifacts = settings.progress_artifact
    polls = 0
    outages = 0
    last: BatchJobStatus | None = None
    at_deadline = False

    while True:
        polls += 1
        remaining = None
        asked_at = yield from Monotonic()
        try:
            status = yield from GetJob(job_id, options)
        except Exception as exc:
            if not is_transient_error(exc):
                raise
            now = yield from Monotonic()
            # The outage began when the failing poll was sent: the client's own retries of it
            # count against the budget, so the budget is the time the API was really unreachable.
            if outage.failed(at=asked_at, error=_describe(exc)):
                outages += 1
                logger.warning(
                    "LlamaCloud API unreachable while waiting for batch job %s (%s); riding it "
                    "out for up to %gs",
                    job_id,
                    _describe(exc),
                    settings.outage_budget_seconds,
                )
            if outage.exhausted(at=now) and not at_deadline:
                raise BatchApiUnavailable(
                    api=api,
                    job_id=job_id,
                    unreachable_seconds=outage.elapsed(at=now),
                    budget_seconds=settings.outage_budget_seconds,
                    last_error=outage.last_error,
                ) from exc
        else:
            last = status
            if outage.active:
                now = yield from Monotonic()
                logger.info(
                    "LlamaCloud API reachable again after %.0fs (%d failed poll(s))",
                    outage.elapsed(at=now),
                    outage.failures,
                )
                outage.recovered()
            change = tracker.observe(status)
            job = status.job
            if change.status_changed:
                final = (
                    "" if job.is_terminal or job.status_value in _KNOWN else " (not final; waiting)"
                )
                logger.info(
                    "Batch job %s is %s%s: %d/%d processed, %d failed, %d skipped (%.0f%%)",
                    job_id,
                    job.status_value,
                    final,
                    job.processed_items or 0,
                    job.total_items,
                    job.failed_items or 0,
                    job.skipped_items or 0,
                    status.progress_percentage,
                )
                if on_change is not None:
                    on_change(status, change.previous_status)
            elif change.progress_changed:
                logger.info(
                    "Batch job %s: %d/%d processed, %d failed, %d skipped (%.0f%%)",
                    job_id,
                    job.processed_items or 0,
                    job.total_items,
                    job.failed_items or 0,
                    job.skipped_items or 0,
                    status.progress_percentage,
                )
            if artifacts and (change.progress_changed or artifact_id is None):
                artifact_id, artifacts = yield from _progress(
                    artifact_id, job_id, status.progress_percentage, logger
                )
            if job.is_terminal:
                end = yield from Monotonic()
                return WaitOutcome(status, polls, end - start, outages)
            if settings.estimate_completion:
                seen_at = yield from Monotonic()
                remaining = estimate.observe(at=seen_at, percent=status.progress_percentage)

        if at_deadline:
            raise (yield from _time_out(job_id, settings, last, outage, logger, options))

        now = yield from Monotonic()
        interval = schedule.next()
        if remaining is not None:
            interval = _estimated_interval(remaining, settings)
        if outage.active:
            # Make the last attempt exactly when the budget runs out, not up to a cap later.
            interval = min(interval, outage.remaining(at=now))
        if deadline is not None and now + interval >= deadline:
            interval = max(deadline - now, 0.0)
            at_deadline = True
        yield from Sleep(interval)


_KNOWN = frozenset({"pending", "running", "dispatched"})


def _progress(
    artifact_id: UUID | None, job_id: str, percent: float, logger: Logger
) -> Steps[tuple[UUID | None, bool]]:
    """Create or update the progress artifact; an artifact failure never fails the wait."""
    percent = min(max(percent, 0.0), 100.0)
    try:
        if artifact_id is None:
            created = yield from CreateProgressArtifact(
                percent,
                progress_artifact_key(job_id),
                f"Progress of LlamaCloud batch job {job_id}",
            )
            return created, True
        yield from UpdateProgressArtifact(artifact_id, percent)
        return artifact_id, True
    except Exception as exc:
        logger.warning("Progress artifact disabled for this wait: %s", _describe(exc))
        return artifact_id, False


def _time_out(
    job_id: str,
    settings: WaitSettings,
    last: BatchJobStatus | None,
    outage: OutageBudget,
    logger: Logger,
    options: Tenant,
) -> Steps[BatchJobTimeout]:
    cancelled = False
    note = ""
    if outage.active:
        note = f"; the API was unreachable at the deadline ({outage.last_error})"
    if settings.cancel_on_timeout:
        try:
            yield from CancelJob(
                job_id,
                f"prefect-llamabatch: wait timed out after {settings.timeout_seconds:g}s",
                options,
            )
            cancelled = True
        except Exception as exc:
            logger.error(
                "Could not cancel batch job %s after the timeout: %s", job_id, _describe(exc)
            )
    assert settings.timeout_seconds is not None  # only reachable with a deadline
    error = BatchJobTimeout(
        job_id=job_id,
        timeout_seconds=settings.timeout_seconds,
        last_status=last.job.status_value if last else None,
        progress_percentage=last.progress_percentage if last else 0.0,
        remote_cancelled=cancelled,
        note=note,
    )
    logger.error("%s", error)
    return error


def _on_change(settings: WaitSettings) -> Callable[[BatchJobStatus, str | None], None] | None:
    if not settings.emit_events:
        return None

    def emit(status: BatchJobStatus, previous: str | None) -> None:
        if previous is None:
            # The wait's first poll: the create (in this process) may have announced it already.
            previous = last_emitted_status(status.job.id)
            if previous == status.job.status_value:
                return
        emit_batch_event(
            status.job, progress_percentage=status.progress_percentage, previous_status=previous
        )

    return emit


def wait_result_steps(
    credentials: LlamaCloudCredentials,
    job_id: str,
    settings: WaitSettings,
    *,
    fetch_items: bool,
    organization_id: str | None,
    project_id: str | None,
) -> Steps[BatchRunResult]:
    """Wait for a job and build its result (shared by the task and ``LlamaBatchJobRun``)."""
    logger = run_logger()
    flow_run_id = current_flow_run_id()
    overrides = tenant(organization_id, project_id)
    try:
        outcome = yield from wait_steps(
            job_id,
            settings,
            logger=logger,
            api=credentials.base_url,
            on_change=_on_change(settings),
            request_options=overrides,
        )
    except BatchJobTimeout as exc:
        # Cancelled, or left running on purpose: either way the stop hooks must not cancel it.
        if flow_run_id is not None and (exc.remote_cancelled or not settings.cancel_on_timeout):
            yield from ForgetJob(flow_run_id, job_id)
        raise
    if flow_run_id is not None:
        yield from ForgetJob(flow_run_id, job_id)
    job = outcome.status.job
    result = BatchRunResult.from_job(
        job,
        progress_percentage=outcome.status.progress_percentage,
        duration_seconds=outcome.elapsed_seconds,
    )
    if fetch_items:
        failed: list[FailedItem] = []
        skipped: list[SkippedItem] = []
        if job.failed_items:
            items = yield from AllItems(job_id, "failed", overrides)
            failed = [FailedItem.from_item(i, batch_job_id=job_id) for i in items]
        if job.skipped_items:
            items = yield from AllItems(job_id, "skipped", overrides)
            skipped = [SkippedItem.from_item(i, batch_job_id=job_id) for i in items]
        result = result.model_copy(update={"failed_items": failed, "skipped_items": skipped})
    requests = yield from RequestsMade()
    return result.model_copy(update={"api_calls": requests})


def wait_credentials(credentials: LlamaCloudCredentials) -> LlamaCloudCredentials:
    """The credentials a wait's client is built from: each request retried for at most
    :data:`~prefect_llamabatch.orchestration.waiting.POLL_RETRY_DEADLINE` seconds.

    The wait rides out outages itself (``outage_budget_seconds``); a poll retried for the
    client's full ``retry_deadline`` (300 s by default) would overrun that budget.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.waiting import wait_credentials

        creds = LlamaCloudCredentials(api_key="llx-example", retry_deadline=300)
        assert wait_credentials(creds).retry_deadline == 30.0
        assert wait_credentials(creds.model_copy(update={"retry_deadline": 5})).retry_deadline == 5
        ```
    """
    deadline = credentials.retry_deadline
    capped = POLL_RETRY_DEADLINE if deadline is None else min(deadline, POLL_RETRY_DEADLINE)
    return credentials.model_copy(update={"retry_deadline": capped})
