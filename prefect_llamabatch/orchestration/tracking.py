"""Where remote batch jobs of a flow run are recorded, so whoever stops the run can cancel them.

A job is recorded when ``create_batch_job`` creates it inside a flow run and forgotten when a wait
sees it finish (or a cancel succeeds). Two records, for two kinds of stopper:

* in this process, a registry holding the credentials object itself (a flow timeout, a crash or a
  SIGTERM runs the flow's hooks here, where even unsaved credentials are available);
* in the Prefect API, one Variable per job, named ``llamabatch_job_<flow run id>_<hash>``, holding
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.logging.loggers import get_logger
from prefect.variables import Variable

from prefect_llamabatch.client.errors import APIConnectionError, RateLimitError, ServerError

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, State
    from prefect.flows import Flow

    from prefect_llamabatch.client import BatchClient
    from prefect_llamabatch.credentials import LlamaCloudCredentials
    from prefect_llamabatch.models import BatchCancelResponse, BatchJob, BatchJobStatus
    from prefect_llamabatch.models.v2 import Batch

__all__ = [
    "TrackedJob",
    "cancel_remote_jobs",
    "forget_job",
    "jobs_from_variables",
    "record_job",
    "stop_job",
    "subflow_levels",
    "tracked_jobs",
    "wants_cancel_on_stop",
    "with_local_jobs",
]

PREFIX = "llamabatch_job_"
# Prefect 3.4.0 validates Variable names as lowercase letters, digits and underscores (later
# versions also allow dashes), so the flow run id's dashes become underscores.
TAG = "llamabatch"
_PAGE = 200
HOOK_RETRY_DEADLINE = 15.0
"""Seconds a stop hook keeps retrying a cancel (the credentials' own deadline is 300 s)."""
_lock = threading.Lock()
_local: dict[str, dict[str, LlamaCloudCredentials]] = {}
_apis: dict[str, str] = {}  # job id -> "v2" for v2 batches recorded in this process
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
    api: str = "v1"
    """``v1`` (a batch job) or ``v2`` (a v2 batch, cancelled with ``cancel_batch``)."""


def _run_prefix(flow_run_id: str) -> str:
    return f"{PREFIX}{flow_run_id.lower().replace('-', '_')}_"


def variable_name(flow_run_id: str, job_id: str) -> str:
    """A name every Prefect 3.4+ accepts (``[a-z0-9_]``); the job id is hashed in."""
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:16]
    return f"{_run_prefix(flow_run_id)}{digest}"


def _value(
    flow_run_id: str, job: BatchJob | Batch, credentials: LlamaCloudCredentials, api: str
) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "flow_run_id": flow_run_id,
        "credentials_block": getattr(credentials, "_block_document_name", None),
        "base_url": credentials.base_url,
        "organization_id": credentials.organization_id,
        "project_id": job.project_id or credentials.project_id,
        "api": api,
    }


def _remember(flow_run_id: str, job_id: str, credentials: LlamaCloudCredentials, api: str) -> None:
    with _lock:
        _local.setdefault(flow_run_id, {})[job_id] = credentials
        if api != "v1":
            _apis[job_id] = api


def _drop(flow_run_id: str, job_id: str) -> None:
    with _lock:
        jobs = _local.get(flow_run_id, {})
        jobs.pop(job_id, None)
        _apis.pop(job_id, None)
        if not jobs:
            _local.pop(flow_run_id, None)


def record_job(
    flow_run_id: str,
    job: BatchJob | Batch,
    credentials: LlamaCloudCredentials,
    *,
    api: str = "v1",
) -> None:
    """Record a job (``api="v2"``: a v2 batch) for a flow run (registry + Variable)."""
    _remember(flow_run_id, job.id, credentials, api)
    try:
        Variable.set(  # type: ignore[call-arg]
            variable_name(flow_run_id, job.id),
            _value(flow_run_id, job, credentials, api),
            tags=[TAG],
            overwrite=True,
            _sync=True,
        )
    except Exception as exc:  # the job exists either way; losing the record only weakens cancel
        log.warning("Could not record batch job %s for cancel-on-stop: %s", job.id, exc)


async def arecord_job(flow_run_id: str, job: BatchJob, credentials: LlamaCloudCredentials) -> None:
    """Async :func:`record_job`."""
    _remember(flow_run_id, job.id, credentials, "v1")
    try:
        await Variable.aset(
            variable_name(flow_run_id, job.id),
            _value(flow_run_id, job, credentials, "v1"),
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
    prefix = _run_prefix(flow_run_id)
    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/variables/filter",
            json={"variables": {"name": {"like_": f"{prefix}%"}}, "limit": 200},
        )
        rows = response.json()
    return jobs_from_variables(flow_run_id, rows)


def jobs_from_variables(flow_run_id: str, rows: Sequence[Any]) -> list[TrackedJob]:
    """The jobs of one flow run among Variable rows (``name``/``value`` dicts) of the Prefect API.

    Rows of other runs (the ``LIKE`` filter treats ``_`` as a wildcard) and rows whose value is
    not a job record are left out.

    Example:
        ```python
        from prefect_llamabatch.orchestration.tracking import jobs_from_variables, variable_name

        run = "0b1c2d3e-0000-0000-0000-000000000001"
        rows = [{"name": variable_name(run, "bj-1"), "value": {"job_id": "bj-1"}}]
        assert [j.job_id for j in jobs_from_variables(run, rows)] == ["bj-1"]
        ```
    """
    prefix = _run_prefix(flow_run_id)
    jobs = []
    for row in rows:
        # ``_`` is a LIKE wildcard: keep only the names that really start with the prefix.
        if not str(row.get("name", "")).startswith(prefix):
            continue
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
                    api=str(value.get("api") or "v1"),  # records before v2 have no "api"
                )
            )
    return jobs


def with_local_jobs(flow_run_id: str, jobs: Sequence[TrackedJob]) -> list[TrackedJob]:
    """``jobs`` (read from the Prefect API) and the run's jobs only this process knows of.

    A record that was never written, or an API that cannot be read while the run stops, must not
    leave a job running that this process created: those come from the in-process registry.
    """
    with _lock:
        known = {j.job_id for j in jobs}
        return [*jobs] + [
            TrackedJob(job_id=job_id, flow_run_id=flow_run_id, api=_apis.get(job_id, "v1"))
            for job_id in _local.get(flow_run_id, {})
            if job_id not in known
        ]


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
    cancelled: list[str] = []
    for job in with_local_jobs(flow_run_id, jobs):
        try:
            credentials = _credentials_for(job)
        except Exception as exc:
            logger.error(
                "Could not load the credentials to cancel LlamaCloud batch job %s (%s): the job "
                "may still be running; cancel it with `llamabatch cancel %s`",
                job.job_id,
                exc,
                job.job_id,
            )
            continue
        if stop_job(
            credentials,
            job.job_id,
            reason,
            flow_run_id=flow_run_id,
            organization_id=job.organization_id,
            project_id=job.project_id,
            logger=logger,
            api=job.api,
        ):
            cancelled.append(job.job_id)
    return cancelled


def stop_job(
    credentials: LlamaCloudCredentials,
    job_id: str,
    reason: str,
    *,
    flow_run_id: str | None,
    organization_id: str | None = None,
    project_id: str | None = None,
    logger: logging.Logger | Any = None,
    api: str = "v1",
) -> bool:
    """Cancel a job whose flow run is stopping, announce it, finalise its progress, forget it.

    The one place every cancel made *by the integration* goes through (stop hooks, a wait
    interrupted by Ctrl-C, SIGTERM, a flow cancel or timeout): it emits
    ``llamacloud.batch.cancelled`` and sets the job's progress artifact to its last value with a
    note. Errors are logged, never raised (this runs while a run is stopping); on an API that
    cannot be reached the job stays recorded, so a later stop may still cancel it. Returns
    whether the cancel was accepted.
    """
    logger = logger or log
    tenant_ids = {"organization_id": organization_id, "project_id": project_id}
    try:
        with hook_client(credentials) as client:
            if api == "v2":  # a v2 batch has its own cancel (no reason field) and no counters
                batch = client.cancel_batch(job_id, **tenant_ids)
                logger.warning(
                    "Cancelled LlamaCloud batch %s (%s): status %s", job_id, reason, batch.status
                )
                if flow_run_id is not None:
                    forget_job(flow_run_id, job_id)
                return True
            response = client.cancel_job(job_id, reason, **tenant_ids)
            try:
                status: BatchJobStatus | None = client.get_job(job_id, **tenant_ids)
            except Exception:  # the cancel was accepted; the read-back is only for the event
                status = None
    except (APIConnectionError, ServerError, RateLimitError) as exc:
        logger.error(
            "Could not reach the LlamaCloud API to cancel batch job %s within %gs (%s): the "
            "job may still be running; cancel it with `llamabatch cancel %s`",
            job_id,
            HOOK_RETRY_DEADLINE,
            exc,
            job_id,
        )
        return False
    except Exception as exc:
        logger.error(
            "Could not cancel LlamaCloud batch job %s (%s): the job may still be running; "
            "cancel it with `llamabatch cancel %s`",
            job_id,
            exc,
            job_id,
        )
        return False
    logger.warning(
        "Cancelled LlamaCloud batch job %s (%s): status %s", job_id, reason, response.status
    )
    if flow_run_id is not None:
        forget_job(flow_run_id, job_id)  # first: no later stop of the run cancels it again
    _announce(job_id, response, status, reason, logger)
    return True


def _announce(
    job_id: str,
    response: BatchCancelResponse,
    status: BatchJobStatus | None,
    reason: str,
    logger: logging.Logger | Any,
) -> None:
    from prefect_llamabatch.orchestration.events import emit_batch_event, last_emitted_status
    from prefect_llamabatch.orchestration.waiting import progress_artifact_key

    try:
        if status is not None:
            job = status.job
            if not job.is_terminal:
                # The cancel was accepted; a service may still say "running" for a moment.
                job = job.model_copy(update={"status": "cancelled"})
            emit_batch_event(
                job,
                progress_percentage=status.progress_percentage,
                previous_status=last_emitted_status(job_id),
            )
    except Exception as exc:
        logger.warning("Could not emit the cancel event of batch job %s: %s", job_id, exc)
    try:
        from prefect.artifacts import Artifact, create_progress_artifact, update_progress_artifact

        key = progress_artifact_key(job_id)
        note = (
            f"Progress of LlamaCloud batch job {job_id}: cancelled by prefect-llamabatch "
            f"({reason}); {response.processed_items} item(s) processed before the cancel"
        )
        # The newest version of the key: the wait that was stopped created it. A stop that came
        # before the wait created it (or with no wait at all) leaves a final one all the same.
        artifact: Any = Artifact.get(key, _sync=True)  # type: ignore[call-arg]
        last = (
            artifact.data
            if artifact is not None and isinstance(artifact.data, (int, float))
            else 0.0
        )
        percent = min(
            max(float((status.progress_percentage if status else last) or 0.0), 0.0), 100.0
        )
        if artifact is not None and artifact.id is not None:
            update_progress_artifact(artifact.id, percent, description=note, _sync=True)  # type: ignore[call-arg]
        else:
            create_progress_artifact(percent, key=key, description=note, _sync=True)  # type: ignore[call-arg]
    except Exception as exc:
        logger.warning("Could not finalise the progress artifact of batch job %s: %s", job_id, exc)


def hook_client(credentials: LlamaCloudCredentials) -> BatchClient:
    """The client of a stop hook: the credentials' settings, retries capped at
    :data:`HOOK_RETRY_DEADLINE` (a stopping run must not hang on an API that is down)."""
    return hook_credentials(credentials).get_client()


def hook_credentials(credentials: LlamaCloudCredentials) -> LlamaCloudCredentials:
    """The credentials of :func:`hook_client`: retry deadline and request timeout capped at
    :data:`HOOK_RETRY_DEADLINE` (or the credentials' own deadline, when shorter)."""
    deadline = min(credentials.retry_deadline or HOOK_RETRY_DEADLINE, HOOK_RETRY_DEADLINE)
    return credentials.model_copy(
        update={"retry_deadline": deadline, "timeout": min(credentials.timeout, deadline)}
    )


def wants_cancel_on_stop(parameters: dict[str, Any] | None) -> bool:
    """Whether a flow run's stop cancels its jobs: yes unless its ``cancel_on_stop`` is False.

    Example:
        ```python
        from prefect_llamabatch.orchestration.tracking import wants_cancel_on_stop

        assert wants_cancel_on_stop({}) and wants_cancel_on_stop(None)
        assert not wants_cancel_on_stop({"cancel_on_stop": False})
        ```
    """
    return (parameters or {}).get("cancel_on_stop", True) is not False


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
        from prefect_llamabatch.orchestration.tasks import create_batch_job, wait_for_batch_job

        @flow(on_cancellation=[cancel_remote_jobs], on_crashed=[cancel_remote_jobs],
              on_failure=[cancel_remote_jobs])
        def my_flow(directory_id: str) -> None:
            credentials = LlamaCloudCredentials.load("llamacloud")
            job = create_batch_job(credentials, {}, directory_id=directory_id)
            wait_for_batch_job(credentials, job.id)

        my_flow("dir-123")
        ```
    """
    if not wants_cancel_on_stop(flow_run.parameters):
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
    try:
        with get_client(sync_client=True) as client:

            def read_page(parents: list[UUID], offset: int, limit: int) -> Sequence[_Run]:
                return client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)
                    ),
                    offset=offset,
                    limit=limit,
                )

            for level in subflow_levels(flow_run_id, read_page):
                runs += level
    except Exception as exc:
        (logger or log).error(
            "Could not read the subflow runs of flow run %s: %s", flow_run_id, exc
        )
    return runs


class _Run(Protocol):
    """What :func:`subflow_levels` reads of a flow run."""

    @property
    def id(self) -> UUID: ...

    @property
    def parameters(self) -> dict[str, Any]: ...


def subflow_levels(
    flow_run_id: str, read_page: Callable[[list[UUID], int, int], Sequence[_Run]]
) -> Iterator[list[str]]:
    """The subflow runs under a flow run whose stop cancels their jobs, one depth at a time.

    ``read_page(parents, offset, limit)`` reads one page of the runs whose parent is one of
    ``parents``. Every page is read (a run may have many subflow runs); runs with
    ``cancel_on_stop=False`` are left out, and so are their own subflow runs.
    """
    parents = [UUID(flow_run_id)]
    while parents:
        children: list[UUID] = []
        offset = 0
        while True:
            page = read_page(parents, offset, _PAGE)
            offset += len(page)
            children += [run.id for run in page if wants_cancel_on_stop(run.parameters)]
            if len(page) < _PAGE:
                break
        yield [str(child) for child in children]
        parents = children
