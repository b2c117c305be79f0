"""The exceptions a batch run ends with (``BatchRunError`` and its family).

* the job completed with too many failed items: ``BatchItemsFailed`` (carries the result);
* the job failed: ``BatchJobFailed`` (carries the result);

(a flow ends with these two as a returned Failed state, :meth:`BatchRunError.as_state`: an
expected outcome, so the run log gets a one-line reason, not a traceback; calling the flow still
raises them)
* the job was cancelled remotely: ``BatchJobCancelled`` from tasks, a ``Cancelled`` state from flows;
* the wait ran out of time: ``BatchJobTimeout``;
* the API stayed unreachable longer than the outage budget: ``BatchApiUnavailable``.

Every exception here pickles (Prefect persists a failed state's exception) and none carries a
secret: they hold job ids, counts and messages written by the server. They are re-exported by
``prefect_llamabatch.orchestration.results``, where they lived before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: results imports this module
    from prefect.client.schemas.objects import State

    from prefect_llamabatch.orchestration.results import BatchRunResult

ERROR_SNIPPET = 160
"""Characters of one item's error message quoted in a ``BatchItemsFailed`` message."""

__all__ = [
    "BatchApiUnavailable",
    "BatchItemsFailed",
    "BatchJobCancelled",
    "BatchJobFailed",
    "BatchJobTimeout",
    "BatchRunError",
]


class BatchRunError(Exception):
    """Base of the errors a batch run ends with. ``job_id`` names the remote job.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_directory
        from prefect_llamabatch.orchestration.exceptions import BatchItemsFailed, BatchRunError

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

    def as_state(self) -> State[Any]:
        """This outcome as a Failed state, for a flow to return instead of raising it.

        Prefect makes a returned state the run's final state and logs no traceback for it (a
        raised exception gets a traceback through the flow's code and Prefect's engine). The
        message is this error's text on one line; the data is this error, so ``state.result()``
        (and so calling the flow) raises it, with ``result`` attached where it has one.

        Example:
            ```python
            import pytest
            from prefect_llamabatch.models import BatchJob
            from prefect_llamabatch.orchestration.exceptions import BatchItemsFailed
            from prefect_llamabatch.orchestration.results import BatchRunResult

            job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="completed",
                           total_items=2, processed_items=2, failed_items=1)
            state = BatchItemsFailed(BatchRunResult.from_job(job)).as_state()
            assert state.is_failed() and state.message.startswith("batch job bj-1 completed")
            with pytest.raises(BatchItemsFailed) as info:
                state.result()
            assert info.value.result.counts.failed == 1
            ```
        """
        from prefect.states import Failed  # here: the CLI imports this module without Prefect

        # Where it was raised is no news to anyone: the state carries the outcome, not the
        # frames that judged it (a caller re-raising it gets its own frames only).
        return Failed(message=" ".join(str(self).splitlines()), data=self.with_traceback(None))


def _rebuild(cls: type[BatchRunError], state: dict[str, Any]) -> BatchRunError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, state.get("message", ""))
    exc.__dict__.update(state)
    return exc


def _snippet(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= ERROR_SNIPPET else flat[: ERROR_SNIPPET - 1] + "…"


class BatchJobFailed(BatchRunError):
    """The remote batch job ended ``failed``. ``result`` has what is known about its items."""

    def __init__(self, result: BatchRunResult) -> None:
        detail = f": {_snippet(result.job.error_message)}" if result.job.error_message else ""
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
        errors = result.top_errors(limit=3)
        common = "; ".join(f"{_snippet(msg)} (x{n})" for msg, n in errors)
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
