"""Cancelling a batch job on request: cancel, read back its status, announce it, stop tracking it."""

from __future__ import annotations

from prefect_llamabatch.models import BatchCancelResponse
from prefect_llamabatch.orchestration.effects import CancelJob, ForgetJob, GetJob, Steps, tenant
from prefect_llamabatch.orchestration.events import emit_batch_event
from prefect_llamabatch.orchestration.runtime import current_flow_run_id, run_logger

__all__ = ["cancel_steps"]


def cancel_steps(
    job_id: str,
    reason: str | None,
    *,
    organization_id: str | None,
    project_id: str | None,
) -> Steps[BatchCancelResponse]:
    """Cancel a job, emit its event, forget it (shared by the task and ``LlamaBatchJobRun``)."""
    overrides = tenant(organization_id, project_id)
    response = yield from CancelJob(job_id, reason, overrides)
    status = yield from GetJob(job_id, overrides)
    emit_batch_event(status.job, progress_percentage=status.progress_percentage)
    flow_run_id = current_flow_run_id()
    if flow_run_id is not None:
        yield from ForgetJob(flow_run_id, job_id)
    run_logger().info(
        "Cancel of batch job %s: now %s (%s)",
        job_id,
        status.job.status_value,
        response.message or "no message",
    )
    return response
