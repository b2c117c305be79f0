"""Where remote batch jobs of a flow run are recorded, so whoever stops the run can cancel them.

A job is recorded when ``create_batch_job`` creates it inside a flow run and forgotten when a wait
sees it finish (or a cancel succeeds). Two records, for two kinds of stopper:

* in this process, a registry holding the credentials object itself (a flow timeout, a crash or a
  SIGTERM runs the flow's hooks here, where even unsaved credentials are available);
* in the Prefect API, one Variable per job, named ``llamabatch-job-<flow run id>-<hash>``, holding
  the job id, the credentials block's *name* (never a key) and the tenant ids. A cancel from the
  UI/API of a flow started by ``serve`` or a worker may run ``on_cancellation`` in another process,
  which re-imports the flow: it finds the jobs there, loads the named block (or, for credentials that
  were never saved, ``LlamaCloudCredentials.from_env()``) and cancels them.

See ``docs/cancellation.md``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.logging.loggers import get_logger
from prefect.variables import Variable

from prefect_llamabatch.errors import APIConnectionError, RateLimitError, ServerError

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.flows import Flow

    from prefect_llamabatch.client import BatchClient
    from prefect_llamabatch.credentials import LlamaCloudCredentials
    from prefect_llamabatch.models import BatchJob

__all__ = ["TrackedJob", "cancel_remote_jobs", "forget_job", "record_job", "tracked_jobs"]

PREFIX = "llamabatch-job-"
TAG = "llamabatch"
_PAGE = 200
HOOK_RETRY_DEADLINE = 15.0
"""Seconds a stop hook keeps retrying a cancel (the credentials' own deadline is 300 s)."""
_lock = threading.Lock()
_local: dict[str, dict[str, LlamaCloudCredentials]] = {}
log = get_logger("prefect_llamabatch.cancellation")


@dataclass(frozen=True)
class TrackedJob:
    """A remote job recorded for a flow run."""

    job_id: str
    flow_run_id: str
    credentials_block: str | None = None
    base_url: str | None = None
    organization_id: str | None = None
    project_id: str | None = None


def variable_name(flow_run_id: str, job_id: str) -> str:
    """Variable names allow letters, digits, dashes and underscores; job ids are hashed in."""
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:16]
    return f"{PREFIX}{flow_run_id}-{digest}"


def _value(flow_run_id: str, job: BatchJob, credentials: LlamaCloudCredentials) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "flow_run_id": flow_run_id,
        "credentials_block": getattr(credentials, "_block_document_name", None),
        "base_url": credentials.base_url,
        "organization_id": credentials.organization_id,
        "project_id": job.project_id or credentials.project_id,
    }


def _remember(flow_run_id: str, job_id: str, credentials: LlamaCloudCredentials) -> None:
    with _lock:
        _local.setdefault(flow_run_id, {})[job_id] = credentials


def _drop(flow_run_id: str, job_id: str) -> None:
    with _lock:
        jobs = _local.get(flow_run_id, {})
        jobs.pop(job_id, None)
        if not jobs:
            _local.pop(flow_run_id, None)


def record_job(flow_run_id: str, job: BatchJob, credentials: LlamaCloudCredentials) -> None:
    """Record a job for a flow run (registry + Variable)."""
    _remember(flow_run_id, job.id, credentials)
    try:
        Variable.set(  # type: ignore[call-arg]
            variable_name(flow_run_id, job.id),
            _value(flow_run_id, job, credentials),
            tags=[TAG],
            overwrite=True,
            _sync=True,
        )
    except Exception as exc:  # the job exists either way; losing the record only weakens cancel
        log.warning("Could not record batch job %s for cancel-on-stop: %s", job.id, exc)


async def arecord_job(flow_run_id: str, job: BatchJob, credentials: LlamaCloudCredentials) -> None:
    """Async :func:`record_job`."""
    _remember(flow_run_id, job.id, credentials)
    try:
        await Variable.aset(
            variable_name(flow_run_id, job.id),
            _value(flow_run_id, job, credentials),
            tags=[TAG],
            overwrite=True,
        )
    except Exception as exc:
        log.warning("Could not record batch job %s for cancel-on-stop: %s", job.id, exc)


def forget_job(flow_run_id: str, job_id: str) -> None:
    """Forget a job that finished or was cancelled."""
    _drop(flow_run_id, job_id)
    try:
        Variable.unset(variable_name(flow_run_id, job_id), _sync=True)  # type: ignore[call-arg]
    except Exception as exc:
        log.debug("Could not delete the record of batch job %s: %s", job_id, exc)


async def aforget_job(flow_run_id: str, job_id: str) -> None:
    """Async :func:`forget_job`."""
    _drop(flow_run_id, job_id)
    try:
        await Variable.aunset(variable_name(flow_run_id, job_id))
    except Exception as exc:
        log.debug("Could not delete the record of batch job %s: %s", job_id, exc)


def tracked_jobs(flow_run_id: str) -> list[TrackedJob]:
    """Every job recorded for a flow run, from the Prefect API (any process may call this)."""
    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/variables/filter",
            json={"variables": {"name": {"like_": f"{PREFIX}{flow_run_id}-%"}}, "limit": 200},
        )
        rows = response.json()
    jobs = []
    for row in rows:
        value = row.get("value")
        if isinstance(value, dict) and value.get("job_id"):
            jobs.append(
                TrackedJob(
                    job_id=str(value["job_id"]),
                    flow_run_id=flow_run_id,
                    credentials_block=value.get("credentials_block"),
                    base_url=value.get("base_url"),
                    organization_id=value.get("organization_id"),
                    project_id=value.get("project_id"),
                )
            )
    return jobs


def _credentials_for(job: TrackedJob) -> LlamaCloudCredentials:
    from prefect_llamabatch.credentials import LlamaCloudCredentials

    with _lock:
        local = _local.get(job.flow_run_id, {}).get(job.job_id)
    if local is not None:
        return local
    if job.credentials_block:
        loaded = LlamaCloudCredentials.load(job.credentials_block, _sync=True)  # type: ignore[call-arg]
        return cast(LlamaCloudCredentials, loaded)
    overrides: dict[str, Any] = {}
    if job.base_url:
        overrides["base_url"] = job.base_url
    return LlamaCloudCredentials.from_env(**overrides)


def cancel_tracked_jobs(
    flow_run_id: str, reason: str, logger: logging.Logger | Any = None
) -> list[str]:
    """Cancel every job still recorded for a flow run; returns the ids cancelled.

    Errors are logged, never raised: this runs in state hooks, which must not crash.
    """
    logger = logger or log
    try:
        jobs = tracked_jobs(flow_run_id)
    except Exception as exc:
        logger.error("Could not read the batch jobs of flow run %s: %s", flow_run_id, exc)
        jobs = []
    with _lock:
        known = {j.job_id for j in jobs}
        jobs += [
            TrackedJob(job_id=job_id, flow_run_id=flow_run_id)
            for job_id in _local.get(flow_run_id, {})
            if job_id not in known
        ]
    cancelled: list[str] = []
    for job in jobs:
        try:
            credentials = _credentials_for(job)
            with hook_client(credentials) as client:
                response = client.cancel_job(
                    job.job_id,
                    reason,
                    organization_id=job.organization_id,
                    project_id=job.project_id,
                )
            logger.warning(
                "Cancelled LlamaCloud batch job %s (%s): status %s",
                job.job_id,
                reason,
                response.status.value if hasattr(response.status, "value") else response.status,
            )
            cancelled.append(job.job_id)
            forget_job(flow_run_id, job.job_id)
        except (APIConnectionError, ServerError, RateLimitError) as exc:
            # Kept recorded: a later stop of the run may still reach the API.
            logger.error(
                "Could not reach the LlamaCloud API to cancel batch job %s within %gs (%s): the "
                "job may still be running; cancel it with `llamabatch cancel %s`",
                job.job_id,
                HOOK_RETRY_DEADLINE,
                exc,
                job.job_id,
            )
        except Exception as exc:
            logger.error(
                "Could not cancel LlamaCloud batch job %s (%s): the job may still be running; "
                "cancel it with `llamabatch cancel %s`",
                job.job_id,
                exc,
                job.job_id,
            )
    return cancelled


def hook_client(credentials: LlamaCloudCredentials) -> BatchClient:
    """The client of a stop hook: the credentials' settings, retries capped at
    :data:`HOOK_RETRY_DEADLINE` (a stopping run must not hang on an API that is down)."""
    deadline = min(credentials.retry_deadline or HOOK_RETRY_DEADLINE, HOOK_RETRY_DEADLINE)
    capped = credentials.model_copy(
        update={"retry_deadline": deadline, "timeout": min(credentials.timeout, deadline)}
    )
    return capped.get_client()


def cancel_remote_jobs(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow state hook: cancel the remote batch jobs of a run that is stopping.

    Attach it to ``on_cancellation``, ``on_crashed`` and ``on_failure`` (a flow-level timeout ends
    the run ``Failed``/``TimedOut``). It does nothing when the run has a parameter
    ``cancel_on_stop`` set to false. Jobs that already finished are no longer recorded, so a
    flow failing *because* its job failed makes no extra API call.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials, cancel_remote_jobs
        from prefect_llamabatch.tasks import create_batch_job, wait_for_batch_job

        @flow(on_cancellation=[cancel_remote_jobs], on_crashed=[cancel_remote_jobs],
              on_failure=[cancel_remote_jobs])
        def my_flow(directory_id: str) -> None:
            credentials = LlamaCloudCredentials.load("llamacloud")
            job = create_batch_job(credentials, {}, directory_id=directory_id)
            wait_for_batch_job(credentials, job.id)

        my_flow("dir-123")
        ```
    """
    if (flow_run.parameters or {}).get("cancel_on_stop", True) is False:
        return
    reason = f"Prefect flow run {flow_run.name!r} stopped ({state.name})"
    for run_id in stopped_runs(str(flow_run.id)):
        cancel_tracked_jobs(run_id, reason)


def stopped_runs(flow_run_id: str, logger: logging.Logger | Any = None) -> list[str]:
    """A stopping flow run and its subflow runs (any depth) whose jobs its stop cancels.

    Jobs are recorded under the (sub)flow run that created them, but a runner that cancels a
    deployment's run, or sees its process die, runs only the top-level flow's hooks. Subflow
    runs with ``cancel_on_stop=False`` (and theirs) are left out. Errors are logged: the run
    itself is always returned.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    runs = [flow_run_id]
    parents = [UUID(flow_run_id)]
    try:
        with get_client(sync_client=True) as client:
            while parents:
                children: list[UUID] = []
                offset = 0
                while True:  # paged: a run may have many subflow runs
                    page = client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(
                            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)
                        ),
                        offset=offset,
                        limit=_PAGE,
                    )
                    offset += len(page)
                    children += [
                        run.id
                        for run in page
                        if (run.parameters or {}).get("cancel_on_stop", True) is not False
                    ]
                    if len(page) < _PAGE:
                        break
                runs += [str(child) for child in children]
                parents = children
    except Exception as exc:
        (logger or log).error(
            "Could not read the subflow runs of flow run %s: %s", flow_run_id, exc
        )
    return runs
