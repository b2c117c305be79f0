"""Prefect events for remote batch-job state changes: ``llamacloud.batch.<status>``.

One event when the job is created (its first status, normally ``pending``), then one per status
change seen while waiting or cancelling (a status already announced by this process is not
announced again).

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
import threading
from collections import OrderedDict
from typing import Any

from prefect.events import Event, emit_event

from prefect_llamabatch.models import BatchJob
from prefect_llamabatch.orchestration.results import JobCounts

__all__ = [
    "EVENT_PREFIX",
    "batch_event_name",
    "batch_resource",
    "emit_batch_event",
    "last_emitted_status",
]

EVENT_PREFIX = "llamacloud.batch"
_UNSAFE = re.compile(r"[^a-z0-9_]+")

# The status last announced per job in this process (bounded): the wait that follows a create
# does not announce "pending" a second time, and its first event names the status before it.
_LAST_STATUS: OrderedDict[str, str] = OrderedDict()
_LAST_STATUS_SIZE = 4096
_LAST_STATUS_LOCK = threading.Lock()


def last_emitted_status(job_id: str) -> str | None:
    """The status of the last ``llamacloud.batch.<status>`` event emitted for a job here, if any.

    Example:
        ```python
        from prefect_llamabatch.orchestration.events import emit_batch_event, last_emitted_status
        from prefect_llamabatch.models import BatchJob

        job = BatchJob(id="bj-7", job_type="parse", project_id="p", status="pending", total_items=1)
        emit_batch_event(job)
        assert last_emitted_status("bj-7") == "pending"
        ```
    """
    with _LAST_STATUS_LOCK:
        return _LAST_STATUS.get(job_id)


def _remember(job_id: str, status: str) -> None:
    with _LAST_STATUS_LOCK:
        _LAST_STATUS[job_id] = status
        _LAST_STATUS.move_to_end(job_id)
        while len(_LAST_STATUS) > _LAST_STATUS_SIZE:
            _LAST_STATUS.popitem(last=False)


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
        from prefect_llamabatch.orchestration.events import emit_batch_event
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
    _remember(job.id, job.status_value)
    return emit_event(
        event=batch_event_name(job.status_value),
        resource=batch_resource(job),
        related=related or None,
        payload=payload,
    )
