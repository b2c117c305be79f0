"""The pipeline every flow shares: submit, wait, report, judge (inside a flow run).

Also used by ``LlamaBatchJobRun`` through ``rounds.py``; the flows only validate their inputs
and call it.
"""

from __future__ import annotations

import time
from typing import Any

from prefect.logging.loggers import get_run_logger
from prefect.states import Cancelled

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import BatchJobCreate
from prefect_llamabatch.orchestration.effects import tenant
from prefect_llamabatch.orchestration.exceptions import (
    BatchItemsFailed,
    BatchJobCancelled,
    BatchJobFailed,
)
from prefect_llamabatch.orchestration.reporting import collect_report
from prefect_llamabatch.orchestration.results import BatchRunResult, check_outcome, verdict
from prefect_llamabatch.orchestration.runtime import Logger
from prefect_llamabatch.orchestration.tasks import submit_batch_job, wait_for_batch_job
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["finish", "run_batch"]


def _flow_retries_left() -> bool:
    """Whether the current flow run will be retried if it fails now."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow is None or context.flow_run is None:
        return False
    return (context.flow_run.run_count or 1) <= (context.flow.retries or 0)


def finish(result: BatchRunResult, max_failed_fraction: float | None, logger: Logger) -> Any:
    """Judge a finished run: the judged result, or the state the flow run ends in.

    Prefect makes a returned state the run's final state. A remotely cancelled job is a
    ``Cancelled`` state; too many failed items (``BatchItemsFailed``) or a failed job
    (``BatchJobFailed``) a ``Failed`` state carrying the error, which carries the result: these
    are outcomes of the job, not faults of the run, so the log gets their one-line reason and
    no traceback. Calling the flow still raises the error; anything unexpected still raises
    here, traceback and all.
    """
    try:
        judged = check_outcome(result, max_failed_fraction=max_failed_fraction, logger=logger)
    except BatchJobCancelled as exc:
        logger.warning("%s", exc)
        return Cancelled(message=str(exc))
    except (BatchItemsFailed, BatchJobFailed) as exc:
        if _flow_retries_left():
            # Prefect retries a flow run on a raised error, not on a returned Failed state: while
            # the run has retries left, the error is raised so the retry happens.
            raise
        state = exc.as_state()
        logger.error("%s", state.message)
        return state
    if not judged.accepted_failures:
        logger.info("%s", judged.summary())
    return judged


def run_batch(
    credentials: LlamaCloudCredentials,
    body: BatchJobCreate,
    *,
    settings: WaitSettings,
    max_failed_fraction: float | None,
    report: bool,
    include_results: bool,
    export_path: str | None,
    idempotency_key: str | None,
    organization_id: str | None,
    project_id: str | None,
    started: float,
    prior_api_calls: int = 0,
) -> Any:
    """Submit, wait, report, judge: the steps every flow here shares (inside a flow run)."""
    logger = get_run_logger()
    overrides = tenant(organization_id, project_id)
    created = submit_batch_job.sync(credentials, body, idempotency_key=idempotency_key, **overrides)
    result: BatchRunResult = wait_for_batch_job.sync(
        credentials,
        created.job.id,
        settings,
        raise_on_failure=False,
        fetch_items=not report,
        **overrides,
    )
    api_calls = prior_api_calls + created.api_calls + result.api_calls
    if report:
        job = result.job
        findings = collect_report(
            credentials,
            job.id,
            include_results=include_results,
            export_path=export_path,
            max_failed_fraction=max_failed_fraction,
            verdict=verdict(
                job.status_value,
                result.counts,
                max_failed_fraction,
                error_message=job.error_message,
            ),
            **overrides,
        )
        api_calls += findings.api_calls
        result = result.model_copy(
            update={
                "failed_items": findings.failed,
                "skipped_items": findings.skipped,
                "export_path": findings.export_path,
            }
        )
    result = result.model_copy(
        update={"api_calls": api_calls, "duration_seconds": time.monotonic() - started}
    )
    return finish(result, max_failed_fraction, logger)
