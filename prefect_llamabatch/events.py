"""Prefect events for remote batch-job state changes: ``llamacloud.batch.<status>``.

Each event's resource is the batch job::

    {"prefect.resource.id": "llamacloud.batch.<job_id>", "prefect.resource.name": "<job_id>",
     "llamacloud.directory-id": "dir-…", "llamacloud.job-type": "parse", "llamacloud.project-id": "…"}

the directory (when there is one) is a related resource with role ``directory``, and Prefect relates
the event to the flow/task run it is emitted from. The payload carries the counters and progress, so
an automation can trigger on ``llamacloud.batch.completed``, or on ``llamacloud.batch.completed``
with ``payload.counts.failed > 0``. Payloads hold ids, counts and the server's status text only:
never a job config, a key or a header.
"""

from __future__ import annotations

import re
from typing import Any

from prefect.events import Event, emit_event

from prefect_llamabatch.models import BatchJob
from prefect_llamabatch.results import JobCounts

__all__ = ["EVENT_PREFIX", "batch_event_name", "batch_resource", "emit_batch_event"]

EVENT_PREFIX = "llamacloud.batch"
_UNSAFE = re.compile(r"[^a-z0-9_]+")


def batch_event_name(status: str) -> str:
    """``llamacloud.batch.<status>``; an unknown status is kept, made safe for an event name."""
    return f"{EVENT_PREFIX}.{_UNSAFE.sub('_', status.lower()).strip('_') or 'unknown'}"


def _job_type(job: BatchJob) -> str:
    return job.job_type.value if hasattr(job.job_type, "value") else str(job.job_type)


def batch_resource(job: BatchJob) -> dict[str, str]:
    """The Prefect resource describing a batch job (all labels are strings)."""
    return {
        "prefect.resource.id": f"{EVENT_PREFIX}.{job.id}",
        "prefect.resource.name": job.id,
        "llamacloud.directory-id": job.directory_id or "",
        "llamacloud.job-type": _job_type(job),
        "llamacloud.project-id": job.project_id,
    }


def emit_batch_event(
    job: BatchJob,
    *,
    progress_percentage: float | None = None,
    previous_status: str | None = None,
) -> Event | None:
    """Emit ``llamacloud.batch.<status>`` for a job's current state.

    Args:
        job: The job record as last seen.
        progress_percentage: The progress the service reported with it, if known.
        previous_status: The status seen before this one, if any.

    Returns:
        The event, or ``None`` when events are disabled.

    Example:
        ```python
        from prefect_llamabatch.events import emit_batch_event
        from prefect_llamabatch.models import BatchJob

        job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="completed", total_items=3)
        emit_batch_event(job, progress_percentage=100.0, previous_status="running")
        ```
    """
    counts = JobCounts.from_job(job)
    payload: dict[str, Any] = {
        "job_id": job.id,
        "status": job.status_value,
        "previous_status": previous_status,
        "job_type": _job_type(job),
        "directory_id": job.directory_id,
        "counts": counts.as_payload(),
        "progress_percentage": progress_percentage,
    }
    if job.error_message:
        payload["error_message"] = job.error_message
    related: list[dict[str, str]] = []
    if job.directory_id:
        related.append(
            {
                "prefect.resource.id": f"llamacloud.directory.{job.directory_id}",
                "prefect.resource.role": "directory",
            }
        )
    return emit_event(
        event=batch_event_name(job.status_value),
        resource=batch_resource(job),
        related=related or None,
        payload=payload,
    )
