"""Prefect tasks for the LlamaCloud batch API, usable from sync and async flows.

Every task takes a :class:`~prefect_llamabatch.credentials.LlamaCloudCredentials` block first
(never a raw API key). Called from a sync flow it returns the value; from an async flow it returns
an awaitable (``await create_batch_job(...)``); ``.sync`` / ``.aio`` force one variant, and
``.submit`` / ``.map`` / ``.with_options`` work as on any Prefect task.

* Reads (``get_batch_job``, ``list_*``, ``get_item_processing_results``) are never cached.
* ``create_batch_job`` is idempotent across flow-run retries and resumes: its idempotency key
  (default: a hash of the flow run id and the job definition) is sent as ``Idempotency-Key`` and
  also keys its persisted result, so a retried run reattaches to the job it created.
* HTTP retries are the client's (see ``prefect_llamabatch.client.retries``); no task retries on top.

Each task is thin: check its arguments, run its steps (``submit.py``, ``waiting.py``,
``cancelling.py``, ``uploads.py``) with the client built from the credentials, return the value.

Example:
    ```python
    from prefect import flow
    from prefect_llamabatch import LlamaCloudCredentials
    from prefect_llamabatch.orchestration.tasks import create_batch_job, wait_for_batch_job

    @flow
    def parse(directory_id: str) -> int:
        credentials = LlamaCloudCredentials.load("llamacloud")
        job = create_batch_job(credentials, {"parameters": {"fast_mode": True}}, directory_id=directory_id)
        return wait_for_batch_job(credentials, job.id).counts.succeeded
    ```
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.runtime import flow_run as runtime_flow_run

from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobStatus,
    ItemProcessingResults,
    JobItem,
    JobStatus,
    JobType,
)
from prefect_llamabatch.orchestration.cancelling import cancel_steps
from prefect_llamabatch.orchestration.dispatch import dual_task
from prefect_llamabatch.orchestration.drivers import FlowRunCancelRequested
from prefect_llamabatch.orchestration.effects import (
    AllItems,
    AllJobs,
    GetItemResults,
    GetJob,
    ListItems,
    ListJobs,
    Steps,
    tenant,
)
from prefect_llamabatch.orchestration.results import (
    BatchRunResult,
    check_max_failed_fraction,
    check_outcome,
)
from prefect_llamabatch.orchestration.runtime import current_flow_run_id, require_text, run_logger
from prefect_llamabatch.orchestration.submit import (
    CreatedJob,
    JobConfigInput,
    create_cache_key,
    create_run_name,
    create_steps,
    default_idempotency_key,
    submit_cache_key,
)

# Lived here before the split; still importable from this module.
from prefect_llamabatch.orchestration.submit import build_job_request as build_job_request
from prefect_llamabatch.orchestration.tracking import stop_job
from prefect_llamabatch.orchestration.uploads import (
    UPLOAD_CONCURRENCY,
    UPLOAD_RATE_LIMIT,
    UploadedDirectory,
    upload_cache_key,
    upload_steps,
)
from prefect_llamabatch.orchestration.uploads import LocalFile as LocalFile
from prefect_llamabatch.orchestration.uploads import local_files as local_files
from prefect_llamabatch.orchestration.waiting import (
    WaitSettings,
    wait_credentials,
    wait_result_steps,
)

if TYPE_CHECKING:
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


@dual_task(
    name="create-batch-job",
    task_run_name=create_run_name,
    cache_key_fn=create_cache_key,
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
        from prefect_llamabatch.orchestration.tasks import create_batch_job

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
    created = yield from create_steps(
        credentials, body, idempotency_key, organization_id, project_id
    )
    return created.job


@dual_task(
    name="submit-batch-job",
    task_run_name=create_run_name,
    cache_key_fn=submit_cache_key,
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
        from prefect_llamabatch.orchestration.tasks import submit_batch_job

        @flow
        def submit(directory_id: str) -> str:
            body = BatchJobCreate(directory_id=directory_id, job_config={})
            return submit_batch_job(LlamaCloudCredentials.load("llamacloud"), body).job.id

        print(submit("dir-123"))
        ```
    """
    return (
        yield from create_steps(credentials, body, idempotency_key, organization_id, project_id)
    )


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
        from prefect_llamabatch.orchestration.tasks import get_batch_job

        @flow
        def status(job_id: str) -> float:
            return get_batch_job(LlamaCloudCredentials.load("llamacloud"), job_id).progress_percentage

        print(status("bjb-123"))
        ```
    """
    require_text("job_id", job_id)
    return (yield from GetJob(job_id, tenant(organization_id, project_id)))


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
        from prefect_llamabatch.orchestration.tasks import list_batch_jobs

        @flow
        def running() -> list[str]:
            jobs = list_batch_jobs(LlamaCloudCredentials.load("llamacloud"), status="running")
            return [job.id for job in jobs]

        print(running())
        ```
    """
    overrides = tenant(organization_id, project_id)
    if limit is None and offset is None:
        return (yield from AllJobs(directory_id, job_type, status, overrides))
    page = yield from ListJobs(directory_id, job_type, status, limit, offset, overrides)
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
        from prefect_llamabatch.orchestration.tasks import list_job_items

        @flow
        def failed(job_id: str) -> list[str]:
            items = list_job_items(LlamaCloudCredentials.load("llamacloud"), job_id, status="failed")
            return [item.item_name for item in items]

        print(failed("bjb-123"))
        ```
    """
    require_text("job_id", job_id)
    overrides = tenant(organization_id, project_id)
    if limit is None and offset is None:
        return (yield from AllItems(job_id, status, overrides))
    page = yield from ListItems(job_id, status, limit, offset, overrides)
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
        from prefect_llamabatch.orchestration.tasks import get_item_processing_results

        @flow
        def outputs(item_id: str) -> list[str]:
            results = get_item_processing_results(LlamaCloudCredentials.load("llamacloud"), item_id)
            return [r.output_s3_path for r in results.processing_results or []]

        print(outputs("dfl-1"))
        ```
    """
    require_text("item_id", item_id)
    return (yield from GetItemResults(item_id, job_type, tenant(organization_id, project_id)))


def _stop_described(stop: BaseException) -> str:
    if isinstance(stop, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(stop, TerminationSignal):
        return f"terminated (signal {stop.signal}): a cancel from serve/a worker, or a SIGTERM"
    if isinstance(stop, FlowRunCancelRequested):
        return f"its flow run is {stop.state_name}"
    if isinstance(stop, SystemExit):
        return "the process is exiting"
    timeout = _timeout_passed()
    if timeout is not None:
        return f"TimedOut: {timeout}"
    return "cancelled: a cancel, or Ctrl-C in an async flow"


def _timeout_passed() -> str | None:
    """Which timeout (the flow's or the task's) has passed, if one has: what cancelled the wait."""
    from prefect.context import FlowRunContext, TaskRunContext

    now = datetime.now(timezone.utc)
    for context, kind in ((TaskRunContext.get(), "task"), (FlowRunContext.get(), "flow")):
        run = getattr(context, "task_run" if kind == "task" else "flow_run", None)
        owner = getattr(context, "task" if kind == "task" else "flow", None)
        seconds = getattr(owner, "timeout_seconds", None)
        started = getattr(run, "start_time", None)
        if seconds and started is not None and (now - started).total_seconds() >= seconds:
            return f"the {kind} run exceeded its timeout of {seconds:g}s"
    return None


def _hooks_will_cancel() -> bool:
    """Whether the flow carries ``cancel_remote_jobs`` on every stop (the package's flows do)."""
    from prefect.context import FlowRunContext

    from prefect_llamabatch.orchestration.tracking import cancel_remote_jobs

    context = FlowRunContext.get()
    flow = getattr(context, "flow", None)
    if flow is None:
        return False
    hooks = (flow.on_cancellation_hooks, flow.on_crashed_hooks, flow.on_failure_hooks)
    return all(cancel_remote_jobs in (listed or []) for listed in hooks)


def _stopping(flow_run_id: str | None) -> str:
    """The state a SIGTERM ends the run in: Cancelling/Cancelled if a cancel was asked, else Crashed."""
    if flow_run_id:
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(UUID(flow_run_id)).state
        except Exception:  # the API is unreachable: the runner will call the run Crashed
            return "Crashed"
        if state is not None and (state.is_cancelling() or state.is_cancelled()):
            return state.name or "Cancelling"
    return "Crashed"


def _cancel_on_stop(
    credentials: LlamaCloudCredentials, bound: inspect.BoundArguments, stop: BaseException
) -> None:
    """The wait was stopped from outside: cancel the job it was waiting for (no flow hook needed)."""
    arguments = bound.arguments
    hooks = _hooks_will_cancel()
    if hooks and not isinstance(stop, (FlowRunCancelRequested, TerminationSignal)):
        return  # the flow's own stop hooks cancel the job, with the state they see in the reason
    flow_run_id = current_flow_run_id()
    run_parameters = (runtime_flow_run.parameters or {}) if flow_run_id else {}
    if arguments.get("cancel_on_stop", True) is False or (
        run_parameters.get("cancel_on_stop", True) is False
    ):
        run_logger().warning(
            "Wait for batch job %s stopped (%s); the job is left running (cancel_on_stop=False)",
            arguments["job_id"],
            _stop_described(stop),
        )
        return
    reason = f"prefect-llamabatch: the wait for the job was stopped ({_stop_described(stop)})"
    if hooks and isinstance(stop, TerminationSignal):
        # Prefect before 3.6.26 ends the process right after a SIGTERM without running the flow's
        # hooks, so the wait cancels here, in the words the hook would use.
        reason = f"Prefect flow run {runtime_flow_run.name!r} stopped ({_stopping(flow_run_id)})"
    elif hooks and isinstance(stop, FlowRunCancelRequested):
        # The wait saw the cancel before the runner delivered it: the same words as the hook's.
        reason = f"Prefect flow run {runtime_flow_run.name!r} stopped ({stop.state_name})"
    stop_job(
        credentials,
        arguments["job_id"],
        reason,
        flow_run_id=flow_run_id,
        organization_id=arguments.get("organization_id"),
        project_id=arguments.get("project_id"),
        logger=run_logger(),
    )
    if isinstance(stop, FlowRunCancelRequested):
        _finish_cancelled(stop)


_CANCELLED_RUNS: set[str] = set()
"""Flow runs of this process whose cancel the wait noticed itself (see ``_finish_cancelled``)."""


def _finish_cancelled(stop: FlowRunCancelRequested) -> None:
    """End a flow run that no runner supervises in Cancelled, as a runner would.

    The wait raises ``CancelledRun``; the engine then proposes Failed, which the API accepts
    after Cancelled. So the run is marked Cancelled now (nothing else moves it on from
    Cancelling) and again by an ``on_failure`` hook added to the running flow object, after
    the engine's Failed.
    """
    from prefect.context import FlowRunContext

    _CANCELLED_RUNS.add(stop.flow_run_id)
    flow = getattr(FlowRunContext.get(), "flow", None)
    if flow is not None and _mark_cancelled not in flow.on_failure_hooks:
        flow.on_failure_hooks.append(_mark_cancelled)
    _set_cancelled(stop.flow_run_id)


def _mark_cancelled(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` hook: a run whose cancel the wait handled ends Cancelled, not Failed."""
    if str(flow_run.id) in _CANCELLED_RUNS:
        _CANCELLED_RUNS.discard(str(flow_run.id))
        _set_cancelled(str(flow_run.id), force=True)


def _set_cancelled(flow_run_id: str, *, force: bool = False) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(
                UUID(flow_run_id),
                Cancelled(message="Flow run was cancelled; its batch job was cancelled too."),
                force=force,
            )
    except Exception as exc:
        run_logger().warning("Could not mark flow run %s Cancelled: %s", flow_run_id, exc)


@dual_task(
    credentials_for=wait_credentials,
    on_stop=_cancel_on_stop,
    watch_flow_run=True,
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
    cancel_on_stop: bool = True,
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
        cancel_on_stop: Cancel the job when the wait is stopped from outside: Ctrl-C, SIGTERM,
            a cancel of the flow run (from the UI, under ``serve``, a worker or a plain
            process), the flow's or the task's timeout. No flow hook is needed; the cancel
            emits ``llamacloud.batch.cancelled`` and finalises the progress artifact. A flow
            run parameter ``cancel_on_stop=False`` also leaves the job running.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The run's result.

    Example:
        ```python
        import asyncio

        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.tasks import wait_for_batch_job
        from prefect_llamabatch.orchestration.waiting import WaitSettings

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
    require_text("job_id", job_id)
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
    logger = run_logger()
    if not raise_on_failure:
        logger.info("%s", result.summary())
        return result
    judged = check_outcome(result, max_failed_fraction=max_failed_fraction, logger=logger)
    if not judged.accepted_failures:
        logger.info("%s", judged.summary())
    return judged


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
        from prefect_llamabatch.orchestration.tasks import cancel_batch_job

        @flow
        def stop(job_id: str) -> str:
            response = cancel_batch_job(LlamaCloudCredentials.load("llamacloud"), job_id, "not needed")
            return str(response.status)

        print(stop("bjb-123"))
        ```
    """
    require_text("job_id", job_id)
    return (
        yield from cancel_steps(
            job_id, reason, organization_id=organization_id, project_id=project_id
        )
    )


@dual_task(
    name="upload-directory",
    task_run_name="upload-directory/{local_path}",
    cache_key_fn=upload_cache_key,
    persist_result=True,
)
def upload_directory(
    credentials: LlamaCloudCredentials,
    local_path: str | os.PathLike[str],
    *,
    directory_id: str | None = None,
    directory_name: str | None = None,
    directory_type: str = "ephemeral",
    max_concurrency: int = UPLOAD_CONCURRENCY,
    organization_id: str | None = None,
    project_id: str | None = None,
    rate_limit: int | None = UPLOAD_RATE_LIMIT,
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
        max_concurrency: Uploads in flight at once.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.
        rate_limit: Uploads started per 5 s (default 50: LlamaCloud's published per-project
            limit, past which uploads are refused with 429); ``None`` for no pacing.

    Returns:
        The directory id, each file's item id, and which files were uploaded or unchanged.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.tasks import upload_directory

        @flow
        def upload(folder: str) -> str:
            return upload_directory(LlamaCloudCredentials.load("llamacloud"), folder).directory_id

        print(upload("./invoices"))
        ```
    """
    return (
        yield from upload_steps(
            local_path,
            directory_id=directory_id,
            directory_name=directory_name,
            directory_type=directory_type,
            max_concurrency=max_concurrency,
            organization_id=organization_id,
            project_id=project_id,
            rate_limit=rate_limit,
        )
    )
