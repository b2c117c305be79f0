"""Prefect tasks for the LlamaCloud batch API, usable from sync and async flows.

Every task takes a :class:`~prefect_llamabatch.credentials.LlamaCloudCredentials` block first
(never a raw API key). Called from a sync flow it returns the value; from an async flow it returns
an awaitable (``await create_batch_job(...)``); ``.sync`` / ``.aio`` force one variant, and
``.submit`` / ``.map`` / ``.with_options`` work as on any Prefect task.

* Reads (``get_batch_job``, ``list_*``, ``get_item_processing_results``) are never cached.
* ``create_batch_job`` is idempotent across flow-run retries and resumes: its idempotency key
  (default: a hash of the flow run id and the job definition) is sent as ``Idempotency-Key`` and
  also keys its persisted result, so a retried run reattaches to the job it created.
* HTTP retries are the client's (see ``prefect_llamabatch.retries``); no task retries on top.

Example:
    ```python
    from prefect import flow
    from prefect_llamabatch import LlamaCloudCredentials
    from prefect_llamabatch.tasks import create_batch_job, wait_for_batch_job

    @flow
    def parse(directory_id: str) -> int:
        credentials = LlamaCloudCredentials.load("llamacloud")
        job = create_batch_job(credentials, {"parameters": {"fast_mode": True}}, directory_id=directory_id)
        return wait_for_batch_job(credentials, job.id).counts.succeeded
    ```
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, cast
from uuid import uuid4

from prefect.cache_policies import NO_CACHE
from prefect.logging.loggers import get_logger, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run
from prefect.runtime import task_run as runtime_task_run
from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch import _dispatch as ops
from prefect_llamabatch._dispatch import (
    Call,
    Steps,
    dual_task,
)
from prefect_llamabatch.events import emit_batch_event, last_emitted_status
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobStatus,
    BatchParseJobRecordCreate,
    ClassifyJobConfig,
    Directory,
    DirectoryFile,
    ItemProcessingResults,
    JobItem,
    JobStatus,
    JobType,
)
from prefect_llamabatch.results import (
    BatchJobTimeout,
    BatchRunResult,
    FailedItem,
    SkippedItem,
    check_max_failed_fraction,
    check_outcome,
)
from prefect_llamabatch.waiting import POLL_RETRY_DEADLINE, Logger, WaitSettings, wait_steps

if TYPE_CHECKING:
    from prefect.context import TaskRunContext

    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "CreatedJob",
    "JobConfigInput",
    "UploadedDirectory",
    "cancel_batch_job",
    "create_batch_job",
    "default_idempotency_key",
    "get_batch_job",
    "get_item_processing_results",
    "list_batch_jobs",
    "list_job_items",
    "submit_batch_job",
    "upload_directory",
    "wait_for_batch_job",
]


JobConfigInput = Union[BatchParseJobRecordCreate, ClassifyJobConfig, Mapping[str, Any]]
"""A job config as a model or a dict (``{}`` is a default parse job; ``rules`` makes it classify)."""


def _logger() -> Logger:
    try:
        return get_run_logger()
    except Exception:
        return get_logger("prefect_llamabatch")


def _flow_run_id() -> str | None:
    value = runtime_flow_run.id
    return str(value) if value else None


def _tenant(organization_id: str | None, project_id: str | None) -> dict[str, Any]:
    return {"organization_id": organization_id, "project_id": project_id}


# --------------------------------------------------------------------------------------------
# Creating a job: idempotency key, persisted result
# --------------------------------------------------------------------------------------------


def build_job_request(
    job_config: JobConfigInput | None,
    *,
    directory_id: str | None = None,
    item_ids: list[str] | None = None,
    page_size: int | None = None,
    continue_as_new_threshold: int | None = None,
) -> BatchJobCreate:
    """Validate a job definition into a request body (no I/O; errors name the field)."""
    fields: dict[str, Any] = {
        "job_config": {} if job_config is None else job_config,
        "directory_id": directory_id,
        "item_ids": item_ids,
        "page_size": page_size,
        "continue_as_new_threshold": continue_as_new_threshold,
    }
    return BatchJobCreate.model_validate(
        {k: v for k, v in fields.items() if v is not None or k == "job_config"}
    )


def job_definition(
    body: BatchJobCreate, *, organization_id: str | None, project_id: str | None
) -> str:
    """A canonical text of what a create would do (secrets masked), for hashing."""
    data = {
        "body": body.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "organization_id": organization_id,
        "project_id": project_id,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def default_idempotency_key(
    flow_run_id: str | None,
    body: BatchJobCreate,
    *,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> str:
    """The default ``Idempotency-Key``: a hash of the flow run id and the job definition.

    Outside a flow run there is nothing to be idempotent across, so the key is random.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJobCreate
        from prefect_llamabatch.tasks import default_idempotency_key

        body = BatchJobCreate(directory_id="dir-1", job_config={})
        assert default_idempotency_key("run-1", body) == default_idempotency_key("run-1", body)
        assert default_idempotency_key("run-1", body) != default_idempotency_key("run-2", body)
        ```
    """
    if flow_run_id is None:
        return f"llamabatch-{uuid4().hex}"
    definition = job_definition(body, organization_id=organization_id, project_id=project_id)
    digest = hashlib.sha256(f"{flow_run_id}\n{definition}".encode()).hexdigest()
    return f"llamabatch-{digest[:48]}"


class CreatedJob(BaseModel):
    """What ``submit_batch_job`` returns: the job, the key it was created under, requests made.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.tasks import CreatedJob

        job = BatchJob(id="bjb-1", job_type="parse", project_id="p", status="pending", total_items=3)
        created = CreatedJob(job=job, idempotency_key="llamabatch-abc", api_calls=1)
        assert created.job.id == "bjb-1"
        ```
    """

    model_config = ConfigDict(frozen=True)

    job: BatchJob
    idempotency_key: str
    api_calls: int = 0


def _create_steps(
    credentials: LlamaCloudCredentials,
    body: BatchJobCreate,
    idempotency_key: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Steps[CreatedJob]:
    flow_run_id = _flow_run_id()
    key = idempotency_key or default_idempotency_key(
        flow_run_id, body, organization_id=organization_id, project_id=project_id
    )
    job = yield from ops.create_job(
        body, idempotency_key=key, **_tenant(organization_id, project_id)
    )
    _logger().info(
        "Created LlamaCloud batch job %s (%s, %d items, %s)",
        job.id,
        job.job_type.value if isinstance(job.job_type, JobType) else job.job_type,
        job.total_items,
        f"directory {body.directory_id}"
        if body.directory_id
        else f"{len(body.item_ids or [])} item ids",
    )
    if flow_run_id is not None:
        yield Call("record", (flow_run_id, job, credentials))
    emit_batch_event(job)  # the first remote state change: the job exists (normally pending)
    requests = yield from ops.requests_made()
    return CreatedJob(job=job, idempotency_key=key, api_calls=requests)


def _create_key_from(
    context: TaskRunContext, body: BatchJobCreate, parameters: dict[str, Any]
) -> str | None:
    """The persisted-result key of a create: scoped to the flow run and the API it talks to.

    Only retries and resumes of the same flow run reattach through the persisted result; an
    explicit ``idempotency_key`` reused by another run relies on the server honouring it.
    """
    flow_run_id = context.task_run.flow_run_id
    if flow_run_id is None:
        return None  # nothing to reattach to: do not persist anything
    tenant = _tenant(parameters.get("organization_id"), parameters.get("project_id"))
    key = parameters.get("idempotency_key") or default_idempotency_key(
        str(flow_run_id), body, **tenant
    )
    credentials = parameters.get("credentials")
    scope = json.dumps(
        [
            str(flow_run_id),
            str(key),
            getattr(credentials, "base_url", None),
            getattr(credentials, "project_id", None),
            tenant,
        ],
        default=str,
    )
    return "llamabatch-create-" + hashlib.sha256(scope.encode()).hexdigest()[:48]


def _create_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    try:
        body = build_job_request(
            parameters.get("job_config"),
            directory_id=parameters.get("directory_id"),
            item_ids=parameters.get("item_ids"),
            page_size=parameters.get("page_size"),
            continue_as_new_threshold=parameters.get("continue_as_new_threshold"),
        )
    except Exception:
        return None  # the task itself reports the bad input
    return _create_key_from(context, body, parameters)


def _submit_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    body = parameters.get("body")
    if not isinstance(body, BatchJobCreate):
        return None
    key = _create_key_from(context, body, parameters)
    return None if key is None else key + "-submit"  # different return type than create's


def _create_run_name() -> str:
    params = runtime_task_run.parameters
    target = params.get("directory_id") or (
        f"{len(params['item_ids'])}-items" if params.get("item_ids") else None
    )
    body = params.get("body")
    if target is None and isinstance(body, BatchJobCreate):
        target = body.directory_id or f"{len(body.item_ids or [])}-items"
    return f"create-batch-job/{target or 'job'}"


@dual_task(
    name="create-batch-job",
    task_run_name=_create_run_name,
    cache_key_fn=_create_cache_key,
    persist_result=True,
)
def create_batch_job(
    credentials: LlamaCloudCredentials,
    job_config: JobConfigInput | None = None,
    *,
    directory_id: str | None = None,
    item_ids: list[str] | None = None,
    page_size: int | None = None,
    continue_as_new_threshold: int | None = None,
    idempotency_key: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[BatchJob]:
    """Create a batch job over a directory or a list of items; returns the job record.

    Idempotent across retries and resumes of the flow run: the same definition in the same flow
    run gives back the same job (persisted result keyed by the idempotency key, and the
    ``Idempotency-Key`` header for a server that honours it). Inside a flow run the job is
    recorded so that stopping the run cancels it (see ``docs/cancellation.md``).

    Args:
        credentials: LlamaCloud credentials block.
        job_config: Parse config (``{}`` for defaults) or classify config (with ``rules``), as a
            model or a dict.
        directory_id: Process every file of this directory (exactly one of this and item_ids).
        item_ids: Process these directory-file ids.
        page_size: Files per processing cycle in directory mode.
        continue_as_new_threshold: Files per execution cycle in directory mode.
        idempotency_key: Overrides the default key (a hash of the flow run id and the definition).
            It is sent as ``Idempotency-Key``; the emulator answers a repeated key with the
            same job, but LlamaCloud's beta API documents no such key, so there the protection
            is the client's create reconciliation plus this task's persisted result, both
            scoped to one flow run: the same key from another flow run may start a second job.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The created (or reattached) job.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import create_batch_job

        @flow
        def submit(directory_id: str) -> str:
            credentials = LlamaCloudCredentials.load("llamacloud")
            return create_batch_job(credentials, {}, directory_id=directory_id).id

        print(submit("dir-123"))
        ```
    """
    body = build_job_request(
        job_config,
        directory_id=directory_id,
        item_ids=item_ids,
        page_size=page_size,
        continue_as_new_threshold=continue_as_new_threshold,
    )
    created = yield from _create_steps(
        credentials, body, idempotency_key, organization_id, project_id
    )
    return created.job


@dual_task(
    name="submit-batch-job",
    task_run_name=_create_run_name,
    cache_key_fn=_submit_cache_key,
    persist_result=True,
)
def submit_batch_job(
    credentials: LlamaCloudCredentials,
    body: BatchJobCreate,
    *,
    idempotency_key: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[CreatedJob]:
    """``create_batch_job`` for an already validated body; also returns the key and requests made.

    The package's flows use it (they validate everything before any HTTP call, then submit).

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.models import BatchJobCreate
        from prefect_llamabatch.tasks import submit_batch_job

        @flow
        def submit(directory_id: str) -> str:
            body = BatchJobCreate(directory_id=directory_id, job_config={})
            return submit_batch_job(LlamaCloudCredentials.load("llamacloud"), body).job.id

        print(submit("dir-123"))
        ```
    """
    return (
        yield from _create_steps(credentials, body, idempotency_key, organization_id, project_id)
    )


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def _require(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string (got {value!r})")
    return value


@dual_task(name="get-batch-job", cache_policy=NO_CACHE, task_run_name="get-batch-job/{job_id}")
def get_batch_job(
    credentials: LlamaCloudCredentials,
    job_id: str,
    *,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[BatchJobStatus]:
    """The job's current status, counters and ``progress_percentage``.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import get_batch_job

        @flow
        def status(job_id: str) -> float:
            return get_batch_job(LlamaCloudCredentials.load("llamacloud"), job_id).progress_percentage

        print(status("bjb-123"))
        ```
    """
    _require("job_id", job_id)
    return (yield from ops.get_job(job_id, **_tenant(organization_id, project_id)))


@dual_task(name="list-batch-jobs", cache_policy=NO_CACHE)
def list_batch_jobs(
    credentials: LlamaCloudCredentials,
    *,
    directory_id: str | None = None,
    job_type: JobType | str | None = None,
    status: JobStatus | str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[list[BatchJob]]:
    """Jobs, optionally filtered: one page when ``limit`` is given, otherwise every page.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import list_batch_jobs

        @flow
        def running() -> list[str]:
            jobs = list_batch_jobs(LlamaCloudCredentials.load("llamacloud"), status="running")
            return [job.id for job in jobs]

        print(running())
        ```
    """
    filters: dict[str, Any] = {
        "directory_id": directory_id,
        "job_type": job_type,
        "status": status,
        **_tenant(organization_id, project_id),
    }
    if limit is None and offset is None:
        jobs = yield from ops.call("collect", "iter_jobs", **filters)
        return cast(list[BatchJob], jobs)
    page = yield from ops.call("list_jobs", limit=limit, offset=offset, **filters)
    return list(page.items)


@dual_task(name="list-job-items", cache_policy=NO_CACHE, task_run_name="list-job-items/{job_id}")
def list_job_items(
    credentials: LlamaCloudCredentials,
    job_id: str,
    *,
    status: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[list[JobItem]]:
    """A job's items (optionally of one status): one page when ``limit`` is given, else all.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import list_job_items

        @flow
        def failed(job_id: str) -> list[str]:
            items = list_job_items(LlamaCloudCredentials.load("llamacloud"), job_id, status="failed")
            return [item.item_name for item in items]

        print(failed("bjb-123"))
        ```
    """
    _require("job_id", job_id)
    tenant = _tenant(organization_id, project_id)
    if limit is None and offset is None:
        return (yield from ops.all_items(job_id, status=status, **tenant))
    page = yield from ops.list_items(job_id, status=status, limit=limit, offset=offset, **tenant)
    return list(page.items)


@dual_task(
    name="get-item-processing-results",
    cache_policy=NO_CACHE,
    task_run_name="get-item-processing-results/{item_id}",
)
def get_item_processing_results(
    credentials: LlamaCloudCredentials,
    item_id: str,
    *,
    job_type: JobType | str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[ItemProcessingResults]:
    """Every processing result of one item (directory file), across the jobs that processed it.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import get_item_processing_results

        @flow
        def outputs(item_id: str) -> list[str]:
            results = get_item_processing_results(LlamaCloudCredentials.load("llamacloud"), item_id)
            return [r.output_s3_path for r in results.processing_results or []]

        print(outputs("dfl-1"))
        ```
    """
    _require("item_id", item_id)
    return (
        yield from ops.get_item_results(
            item_id, job_type=job_type, **_tenant(organization_id, project_id)
        )
    )


# --------------------------------------------------------------------------------------------
# Waiting, cancelling
# --------------------------------------------------------------------------------------------


def _on_change(settings: WaitSettings) -> Any:
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
    logger = _logger()
    flow_run_id = _flow_run_id()
    tenant = _tenant(organization_id, project_id)
    try:
        outcome = yield from wait_steps(
            job_id,
            settings,
            logger=logger,
            api=credentials.base_url,
            on_change=_on_change(settings),
            request_options=tenant,
        )
    except BatchJobTimeout as exc:
        # Cancelled, or left running on purpose: either way the stop hooks must not cancel it.
        if flow_run_id is not None and (exc.remote_cancelled or not settings.cancel_on_timeout):
            yield Call("forget", (flow_run_id, job_id))
        raise
    if flow_run_id is not None:
        yield Call("forget", (flow_run_id, job_id))
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
            items = yield from ops.all_items(job_id, status="failed", **tenant)
            failed = [FailedItem.from_item(i, batch_job_id=job_id) for i in items]
        if job.skipped_items:
            items = yield from ops.all_items(job_id, status="skipped", **tenant)
            skipped = [SkippedItem.from_item(i, batch_job_id=job_id) for i in items]
        result = result.model_copy(update={"failed_items": failed, "skipped_items": skipped})
    requests = yield from ops.requests_made()
    return result.model_copy(update={"api_calls": requests})


def wait_credentials(credentials: LlamaCloudCredentials) -> LlamaCloudCredentials:
    """The credentials a wait's client is built from: each request retried for at most
    :data:`~prefect_llamabatch.waiting.POLL_RETRY_DEADLINE` seconds.

    The wait rides out outages itself (``outage_budget_seconds``); a poll retried for the
    client's full ``retry_deadline`` (300 s by default) would overrun that budget.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import wait_credentials

        creds = LlamaCloudCredentials(api_key="llx-example", retry_deadline=300)
        assert wait_credentials(creds).retry_deadline == 30.0
        assert wait_credentials(creds.model_copy(update={"retry_deadline": 5})).retry_deadline == 5
        ```
    """
    deadline = credentials.retry_deadline
    capped = POLL_RETRY_DEADLINE if deadline is None else min(deadline, POLL_RETRY_DEADLINE)
    return credentials.model_copy(update={"retry_deadline": capped})


@ops.dual_task(
    credentials_for=wait_credentials,
    name="wait-for-batch-job",
    cache_policy=NO_CACHE,
    task_run_name="wait-for-batch-job/{job_id}",
)
def wait_for_batch_job(
    credentials: LlamaCloudCredentials,
    job_id: str,
    settings: WaitSettings | Mapping[str, Any] | None = None,
    *,
    max_failed_fraction: float | None = 0.0,
    raise_on_failure: bool = True,
    fetch_items: bool = True,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[BatchRunResult]:
    """Wait for a batch job to finish, in one task run however many polls it takes.

    Polls with backoff (``WaitSettings``: 2 s, ×1.5, 30 s cap by default) until a final status;
    ``dispatched`` and unknown statuses are waited on. Transient API failures are ridden out for
    ``outage_budget_seconds``, counted from when the first failing poll was sent; each request of
    the wait is retried by the client for at most 30 s (:func:`wait_credentials`). At ``timeout_seconds`` the status is checked once more, then the job
    is cancelled (unless ``cancel_on_timeout=False``) and ``BatchJobTimeout`` raised. Logs, events
    (``llamacloud.batch.<status>``) and the progress artifact change only when the job does.

    Args:
        credentials: LlamaCloud credentials block.
        job_id: The batch job.
        settings: Polling, deadline and outage settings (a ``WaitSettings`` or a dict).
        max_failed_fraction: Failed/total fraction accepted for a completed job (``None``: any).
        raise_on_failure: Raise ``BatchJobFailed`` / ``BatchJobCancelled`` / ``BatchItemsFailed``
            for such outcomes; False returns the result whatever the outcome.
        fetch_items: List the failed and skipped items into the result.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The run's result.

    Example:
        ```python
        import asyncio

        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import wait_for_batch_job
        from prefect_llamabatch.waiting import WaitSettings

        @flow
        async def wait(job_id: str) -> None:
            credentials = await LlamaCloudCredentials.load("llamacloud")  # a coroutine here
            settings = WaitSettings(timeout_seconds=3600)
            # None: failed items are in the result instead of raising BatchItemsFailed.
            result = await wait_for_batch_job(credentials, job_id, settings, max_failed_fraction=None)
            print(result.summary())

        asyncio.run(wait("bjb-123"))
        ```
    """
    _require("job_id", job_id)
    # Checked now, not after a wait of hours that it would then fail.
    check_max_failed_fraction(max_failed_fraction)
    wait_settings = (
        settings
        if isinstance(settings, WaitSettings)
        else WaitSettings.model_validate(settings or {})
    )
    result = yield from wait_result_steps(
        credentials,
        job_id,
        wait_settings,
        fetch_items=fetch_items,
        organization_id=organization_id,
        project_id=project_id,
    )
    logger = _logger()
    if not raise_on_failure:
        logger.info("%s", result.summary())
        return result
    judged = check_outcome(result, max_failed_fraction=max_failed_fraction, logger=logger)
    if not judged.accepted_failures:
        logger.info("%s", judged.summary())
    return judged


def cancel_steps(
    credentials: LlamaCloudCredentials,
    job_id: str,
    reason: str | None,
    *,
    organization_id: str | None,
    project_id: str | None,
) -> Steps[BatchCancelResponse]:
    """Cancel a job, emit its event, forget it (shared by the task and ``LlamaBatchJobRun``)."""
    tenant = _tenant(organization_id, project_id)
    response = yield from ops.cancel_job(job_id, reason, **tenant)
    status = yield from ops.get_job(job_id, **tenant)
    emit_batch_event(status.job, progress_percentage=status.progress_percentage)
    flow_run_id = _flow_run_id()
    if flow_run_id is not None:
        yield Call("forget", (flow_run_id, job_id))
    _logger().info(
        "Cancel of batch job %s: now %s (%s)",
        job_id,
        status.job.status_value,
        response.message or "no message",
    )
    return response


@dual_task(
    name="cancel-batch-job", cache_policy=NO_CACHE, task_run_name="cancel-batch-job/{job_id}"
)
def cancel_batch_job(
    credentials: LlamaCloudCredentials,
    job_id: str,
    reason: str | None = None,
    *,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[BatchCancelResponse]:
    """Cancel a batch job (a job that already finished is not an error: its status is returned).

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import cancel_batch_job

        @flow
        def stop(job_id: str) -> str:
            response = cancel_batch_job(LlamaCloudCredentials.load("llamacloud"), job_id, "not needed")
            return str(response.status)

        print(stop("bjb-123"))
        ```
    """
    _require("job_id", job_id)
    return (
        yield from cancel_steps(
            credentials, job_id, reason, organization_id=organization_id, project_id=project_id
        )
    )


# --------------------------------------------------------------------------------------------
# Uploading a local folder
# --------------------------------------------------------------------------------------------

HASH_KEY = "sha256"


class UploadedDirectory(BaseModel):
    """The result of ``upload_directory``: the directory, and what was (not) uploaded.

    ``files`` maps each relative path to its directory-file (item) id.

    Example:
        ```python
        from prefect_llamabatch.tasks import UploadedDirectory

        result = UploadedDirectory(directory_id="dir-1", files={"a.txt": "dfl-1"}, unchanged=["a.txt"])
        assert list(result.files.values()) == ["dfl-1"]
        ```
    """

    directory_id: str
    files: dict[str, str] = Field(default_factory=dict)
    uploaded: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    api_calls: int = 0


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: its path, path relative to the folder (the unique id), content hash.

    Example:
        ```python
        from pathlib import Path
        from prefect_llamabatch.tasks import LocalFile

        f = LocalFile(Path("docs/a.txt"), "a.txt", "0" * 64, 5)
        assert f.relative == "a.txt"
        ```
    """

    path: Path
    relative: str
    sha256: str
    size: int


def local_files(local_path: str | os.PathLike[str]) -> list[LocalFile]:
    """The files under a folder, sorted, with hashes; hidden files and folders are left out.

    Raises:
        ValueError: The path does not exist, is not a folder, or holds no file.
    """
    root = Path(local_path).expanduser()
    if not root.exists():
        raise ValueError(f"local_path {str(local_path)!r} does not exist")
    if not root.is_dir():
        raise ValueError(
            f"local_path {str(local_path)!r} is not a folder; give a folder of documents"
        )
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        files.append(LocalFile(path, relative.as_posix(), digest.hexdigest(), path.stat().st_size))
    if not files:
        raise ValueError(
            f"local_path {str(local_path)!r} contains no files (hidden files are ignored)"
        )
    return files


def _upload_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    flow_run_id = context.task_run.flow_run_id
    if flow_run_id is None:
        return None
    try:
        root = Path(parameters["local_path"]).expanduser().resolve()
        # Sizes and mtimes (not contents): cheap, and any edit between attempts changes the key.
        manifest = [
            (p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))
            if p.is_file()
        ]
    except Exception:
        return None
    data = json.dumps(
        [
            str(flow_run_id),
            getattr(parameters.get("credentials"), "base_url", None),
            str(root),
            parameters.get("directory_id"),
            parameters.get("directory_name"),
            manifest,
        ],
        default=str,
    )
    return "llamabatch-upload-" + hashlib.sha256(data.encode()).hexdigest()[:48]


def _directory_named(name: str, tenant: dict[str, Any]) -> Steps[str | None]:
    """The id of the newest live directory called ``name``, if there is one."""
    found: list[Directory] = yield from ops.call("collect", "iter_directories", name=name, **tenant)
    live = [d for d in found if d.name == name and d.deleted_at is None]
    if not live:
        return None
    # Names are not unique on LlamaCloud: the newest one is the one a previous run created.
    return max(live, key=lambda d: (d.created_at is not None, d.created_at or 0, d.id)).id


@dual_task(
    name="upload-directory",
    task_run_name="upload-directory/{local_path}",
    cache_key_fn=_upload_cache_key,
    persist_result=True,
)
def upload_directory(
    credentials: LlamaCloudCredentials,
    local_path: str | os.PathLike[str],
    *,
    directory_id: str | None = None,
    directory_name: str | None = None,
    directory_type: str = "ephemeral",
    max_concurrency: int = 4,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[UploadedDirectory]:
    """Upload a local folder into a LlamaCloud directory; unchanged files are not uploaded again.

    Each file's ``unique_id`` is its path relative to the folder and its metadata carries its
    SHA-256. The files of the target directory are listed first; a file with the same unique id
    and hash is skipped, a changed one replaces its entry. The target is ``directory_id``, else
    the newest directory called ``directory_name`` (so running again with the same name uploads
    only what changed), else a new directory (``ephemeral`` by default: LlamaCloud cleans it up
    after it expires). Files deleted locally are left in the directory (a job over it processes
    them too). A retried flow run reuses the directory of its first attempt while the folder is
    unchanged.

    Args:
        credentials: LlamaCloud credentials block.
        local_path: The folder. Hidden files and folders (``.name``) are left out.
        directory_id: Upload into this existing directory.
        directory_name: Without ``directory_id``: upload into the newest directory of this name,
            or create it. Without either, a new directory named after the folder is created.
        directory_type: ``ephemeral`` or ``user``, for a created directory.
        max_concurrency: Uploads in flight at once (LlamaCloud rate-limits uploads per project).
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The directory id, each file's item id, and which files were uploaded or unchanged.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import upload_directory

        @flow
        def upload(folder: str) -> str:
            return upload_directory(LlamaCloudCredentials.load("llamacloud"), folder).directory_id

        print(upload("./invoices"))
        ```
    """
    if directory_type not in ("ephemeral", "user"):
        raise ValueError(f"directory_type must be 'ephemeral' or 'user' (got {directory_type!r})")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 (got {max_concurrency})")
    files = local_files(local_path)
    tenant = _tenant(organization_id, project_id)
    existing: dict[str, DirectoryFile] = {}
    if directory_id is None and directory_name is not None:
        directory_id = yield from _directory_named(directory_name, tenant)
    if directory_id is None:
        name = directory_name or Path(local_path).expanduser().resolve().name or "documents"
        directory = yield from ops.create_directory(name, type=directory_type, **tenant)
        directory_id = directory.id
    else:
        for listed in (yield from ops.all_directory_files(directory_id, **tenant)):
            existing[listed.unique_id] = listed
    todo: list[LocalFile] = []
    result = UploadedDirectory(directory_id=directory_id)
    for f in files:
        entry = existing.get(f.relative)
        if entry is not None and (entry.metadata or {}).get(HASH_KEY) == f.sha256:
            result.unchanged.append(f.relative)
            result.files[f.relative] = entry.id
        else:
            todo.append(f)
    uploads = [
        Call(
            "upload_file",
            (directory_id, f.path),
            {
                "display_name": f.relative,
                "unique_id": f.relative,
                "metadata": {HASH_KEY: f.sha256, "size": f.size},
                **tenant,
            },
        )
        for f in todo
    ]
    for f, uploaded in zip(todo, (yield from ops.gather(uploads, max_concurrency)), strict=True):
        result.uploaded.append(f.relative)
        result.files[f.relative] = uploaded.id
    result.api_calls = yield from ops.requests_made()
    _logger().info(
        "Directory %s: %d file(s) uploaded, %d unchanged",
        directory_id,
        len(result.uploaded),
        len(result.unchanged),
    )
    return result
