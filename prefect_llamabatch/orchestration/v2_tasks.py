"""Prefect tasks of v2 runs, and the run bodies the flows call (see :mod:`.v2_pipeline`).

Tasks: :func:`resolve_v2_configuration`, :func:`plan_v2_shards` (persisted per flow run),
:func:`create_v2_batch` (persisted per flow run: a flow retry reattaches), :func:`wait_for_v2_batch`
(one task run per shard: polls ``get_batch``, then reads the outcomes in batched lookups) and
:func:`read_v2_batch` (a finished batch's outcomes, for retries and reports).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging.loggers import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import BaseModel

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models.v2 import MAX_FILES_PER_BATCH, TERMINAL_BATCH_STATUSES, Batch
from prefect_llamabatch.orchestration.effects import tenant as tenant_of
from prefect_llamabatch.orchestration.events import emit_batch_event
from prefect_llamabatch.orchestration.exceptions import BatchJobTimeout
from prefect_llamabatch.orchestration.pipeline import finish
from prefect_llamabatch.orchestration.reporting import report_v2
from prefect_llamabatch.orchestration.results import (
    BatchRunResult,
    FailedItem,
    JobCounts,
    RetryRound,
    verdict,
)
from prefect_llamabatch.orchestration.runtime import current_flow_run_id, run_logger
from prefect_llamabatch.orchestration.tracking import forget_job, record_job
from prefect_llamabatch.orchestration.v2_pipeline import (
    DEFAULT_SHARD_CONCURRENCY,
    Shard,
    ShardRun,
    V2Target,
    batch_job,
    counts_of,
    fill_shard,
    item_outcomes,
    merge_shard_runs,
    plan_shards,
    read_batch_outcomes,
    run_shards,
    shard_cache_scope,
)
from prefect_llamabatch.orchestration.waiting import WaitSettings

if TYPE_CHECKING:
    from prefect.context import TaskRunContext

__all__ = [
    "CreatedBatch",
    "ShardPlan",
    "create_v2_batch",
    "fill_v2_shard",
    "plan_v2_shards",
    "read_v2_batch",
    "resolve_v2_configuration",
    "retry_v2_rounds",
    "run_v2_batch",
    "wait_for_v2_batch",
]


def _scoped_key(prefix: str, *names: str) -> Any:
    """A cache key function: the flow run, the API, the tenant and the named parameters."""

    def key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
        flow_run_id = context.task_run.flow_run_id
        if flow_run_id is None:
            return None  # outside a flow run there is nothing to reattach to
        overrides = tenant_of(parameters.get("organization_id"), parameters.get("project_id"))
        parts = [str(flow_run_id), *(parameters.get(n) for n in names)]
        return prefix + shard_cache_scope(parameters.get("credentials"), overrides, *parts)

    return key


@task(name="resolve-v2-configuration")
def resolve_v2_configuration(
    credentials: LlamaCloudCredentials,
    target: V2Target,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> str:
    """The configuration id of a v2 run: as given, or the parameters saved idempotently.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.v2_pipeline import v2_target
        from prefect_llamabatch.orchestration.v2_tasks import resolve_v2_configuration

        @flow
        def saved() -> str:
            target = v2_target(parse_v2={"tier": "fast", "version": "latest"})
            return resolve_v2_configuration(LlamaCloudCredentials.load("llamacloud"), target)

        print(saved())
        ```
    """
    if target.configuration_id is not None:
        return target.configuration_id
    assert target.parameters is not None
    with credentials.get_client() as client:
        saved = client.save_parameters(target.parameters, **tenant_of(organization_id, project_id))
    run_logger().info("v2 configuration %s (%s)", saved.id, saved.name)
    return saved.id


class ShardPlan(BaseModel):
    """The shards of a run and the requests it took to plan them."""

    shards: list[Shard]
    api_calls: int = 0


@task(
    name="plan-v2-shards",
    task_run_name="plan-v2-shards/{directory_id}",
    cache_key_fn=_scoped_key("llamabatch-v2-plan-", "directory_id", "only", "max_files", "label"),
    persist_result=True,
)
def plan_v2_shards(
    credentials: LlamaCloudCredentials,
    directory_id: str,
    only: list[str] | None = None,
    max_files: int = MAX_FILES_PER_BATCH,
    label: str = "run",
    organization_id: str | None = None,
    project_id: str | None = None,
) -> ShardPlan:
    """Split the files to process into batches of at most ``max_files`` (see ``plan_shards``).

    Persisted per flow run: a flow retry finds the same plan (and, through
    :func:`fill_v2_shard`, the same shard directories). ``label`` tells apart plans of one run
    (retry rounds).

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.v2_tasks import plan_v2_shards

        @flow
        def plan() -> int:
            return len(plan_v2_shards(LlamaCloudCredentials.load("llamacloud"), "dir-1").shards)

        print(plan())
        ```
    """
    planned = run_coro_as_sync(
        plan_shards(
            credentials,
            directory_id,
            only=only,
            max_files=max_files,
            tenant=tenant_of(organization_id, project_id),
        )
    )
    assert planned is not None
    shards, calls = planned
    files = sum(len(s.files) for s in shards)
    run_logger().info(
        "%d file(s) of directory %s in %d batch(es) of at most %d",
        files,
        directory_id,
        len(shards),
        max_files,
    )
    return ShardPlan(shards=shards, api_calls=calls)


@task(
    name="fill-v2-shard",
    task_run_name="fill-v2-shard/{label}-{index}",
    cache_key_fn=_scoped_key("llamabatch-v2-fill-", "source_directory_id", "label", "index"),
    persist_result=True,
)
def fill_v2_shard(
    credentials: LlamaCloudCredentials,
    shard: Shard,
    source_directory_id: str,
    label: str,
    index: int,
    total: int,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> ShardPlan:
    """Copy a planned shard's files (by file id) into a new ephemeral directory.

    Persisted per flow run: a flow retry finds the shard's directory instead of copying again.
    """
    flow_run = current_flow_run_id() or "local"
    filled = run_coro_as_sync(
        fill_shard(
            credentials,
            shard,
            name=f"llamabatch-{label}-{flow_run[:8]}-{index + 1}-of-{total}",
            source_directory_id=source_directory_id,
            tenant=tenant_of(organization_id, project_id),
        )
    )
    assert filled is not None
    return ShardPlan(shards=[filled[0]], api_calls=filled[1])


class CreatedBatch(BaseModel):
    """A created (or reattached) v2 batch and the requests the create made."""

    batch: Batch
    api_calls: int = 0


@task(
    name="create-v2-batch",
    task_run_name="create-v2-batch/{source_directory_id}",
    cache_key_fn=_scoped_key("llamabatch-v2-create-", "source_directory_id", "configuration_id"),
    persist_result=True,
)
def create_v2_batch(
    credentials: LlamaCloudCredentials,
    source_directory_id: str,
    configuration_id: str,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> CreatedBatch:
    """Create a v2 batch, record it for the stop hooks, announce it.

    Its result is persisted per flow run: a retry of the flow run gets the batch back without
    asking the API (the client's own reconciliation covers a create whose answer was lost).

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.v2_tasks import create_v2_batch

        @flow
        def start() -> str:
            creds = LlamaCloudCredentials.load("llamacloud")
            return create_v2_batch(creds, "dir-1", "cfg-PARSE_FAST").batch.id

        print(start())
        ```
    """
    overrides = tenant_of(organization_id, project_id)
    with credentials.get_client() as client:
        batch = client.create_batch(source_directory_id, configuration_id, **overrides)
        calls = client.stats.requests
    run_logger().info(
        "Created LlamaCloud v2 batch %s (%s, configuration %s, directory %s)",
        batch.id,
        batch.config.job.type,
        configuration_id,
        source_directory_id,
    )
    flow_run_id = current_flow_run_id()
    if flow_run_id is not None:
        record_job(flow_run_id, batch, credentials, api="v2")
    emit_batch_event(batch_job(batch, JobCounts(), directory_id=source_directory_id))
    return CreatedBatch(batch=batch, api_calls=calls)


@task(name="wait-for-v2-batch", task_run_name="wait-for-v2-batch/{batch_id}")
def wait_for_v2_batch(
    credentials: LlamaCloudCredentials,
    batch_id: str,
    shard: Shard,
    settings: WaitSettings,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> ShardRun:
    """Poll a v2 batch until it is final, then read its files' outcomes in batched lookups.

    Polls every ``poll_interval`` seconds, growing by ``backoff_factor`` up to
    ``max_poll_interval``; past ``timeout_seconds`` the batch is cancelled (unless
    ``cancel_on_timeout=False``) and ``BatchJobTimeout`` raised. An event is emitted on every
    status change (``emit_events``).

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.v2_tasks import (
            create_v2_batch, plan_v2_shards, wait_for_v2_batch,
        )
        from prefect_llamabatch.orchestration.waiting import WaitSettings

        @flow
        def parse(directory_id: str) -> int:
            creds = LlamaCloudCredentials.load("llamacloud")
            shard = plan_v2_shards(creds, directory_id).shards[0]
            batch = create_v2_batch(creds, shard.directory_id, "cfg-PARSE_FAST").batch
            return len(wait_for_v2_batch(creds, batch.id, shard, WaitSettings()).outcomes)

        print(parse("dir-1"))
        ```
    """
    overrides = tenant_of(organization_id, project_id)
    deadline = (
        None if settings.timeout_seconds is None else time.monotonic() + settings.timeout_seconds
    )
    interval = settings.poll_interval
    previous: str | None = None
    with credentials.get_client() as client:
        while True:
            batch = client.get_batch(batch_id, **overrides)
            if batch.status != previous:
                if settings.emit_events:
                    emit_batch_event(
                        batch_job(batch, JobCounts(total=len(shard.files)), directory_id=None),
                        previous_status=None if previous is None else previous.lower(),
                    )
                previous = batch.status
            if batch.status in TERMINAL_BATCH_STATUSES:
                break
            if deadline is not None and time.monotonic() >= deadline:
                cancelled = False
                if settings.cancel_on_timeout:
                    try:
                        client.cancel_batch(batch_id, **overrides)
                        cancelled = True
                    except Exception as exc:
                        run_logger().error("Could not cancel v2 batch %s: %s", batch_id, exc)
                raise BatchJobTimeout(
                    job_id=batch_id,
                    timeout_seconds=float(settings.timeout_seconds or 0),
                    last_status=batch.status,
                    progress_percentage=0.0,
                    remote_cancelled=cancelled,
                )
            time.sleep(interval)
            interval = min(interval * settings.backoff_factor, settings.max_poll_interval)
        final = client.get_batch(batch_id, expand_results=True, **overrides)
        outcomes = item_outcomes(client, final, shard, overrides)
        calls = client.stats.requests
    flow_run_id = current_flow_run_id()
    if flow_run_id is not None:
        forget_job(flow_run_id, batch_id)
    counts = counts_of(outcomes)
    run_logger().info(
        "v2 batch %s %s: %d/%d completed, %d failed",
        batch_id,
        final.status,
        counts.succeeded,
        counts.total,
        counts.failed,
    )
    return ShardRun(shard_index=shard.index, batch=final, outcomes=outcomes, api_calls=calls)


@task(name="read-v2-batch", task_run_name="read-v2-batch/{batch_id}")
def read_v2_batch(
    credentials: LlamaCloudCredentials,
    batch_id: str,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> ShardRun:
    """A batch as it is now, with its files' outcomes (item ids of its source directory)."""
    return read_batch_outcomes(credentials, batch_id, tenant_of(organization_id, project_id))


# ---- the run bodies of the flows ----------------------------------------------------------


class _Progress:
    """The run's progress artifact: the share of files in finished shards."""

    def __init__(self, shards: Sequence[Shard], enabled: bool) -> None:
        self.total = sum(len(s.files) for s in shards) or 1
        self.lock = threading.Lock()
        self.artifact: UUID | None = None
        if enabled:
            self.artifact = cast(
                UUID,
                create_progress_artifact(
                    progress=0.0,
                    description=f"LlamaCloud v2: {len(shards)} batch(es), {self.total} file(s)",
                    _sync=True,  # type: ignore[call-arg]
                ),
            )

    def update(self, runs: Sequence[ShardRun]) -> None:
        if self.artifact is None:
            return
        done = sum(len(r.outcomes) for r in runs)
        with self.lock:
            update_progress_artifact(
                self.artifact,
                progress=min(100.0, 100.0 * done / self.total),
                _sync=True,  # type: ignore[call-arg]
            )


def _execute(
    credentials: LlamaCloudCredentials,
    configuration_id: str,
    *,
    directory_id: str,
    only: list[str] | None,
    label: str,
    settings: WaitSettings,
    max_files_per_batch: int,
    shard_concurrency: int,
    organization_id: str | None,
    project_id: str | None,
) -> tuple[BatchRunResult, list[FailedItem], int]:
    overrides = tenant_of(organization_id, project_id)
    plan = plan_v2_shards(credentials, directory_id, only, max_files_per_batch, label, **overrides)
    progress = _Progress(plan.shards, settings.progress_artifact)

    def run_one(planned: Shard) -> ShardRun:
        shard, copy_calls = planned, 0
        if not planned.directory_id:
            filled = fill_v2_shard(
                credentials,
                planned,
                directory_id,
                label,
                planned.index,
                len(plan.shards),
                **overrides,
            )
            (shard,), copy_calls = filled.shards, filled.api_calls
        created = create_v2_batch(credentials, shard.directory_id, configuration_id, **overrides)
        run = wait_for_v2_batch(credentials, created.batch.id, shard, settings, **overrides)
        calls = run.api_calls + created.api_calls + copy_calls
        return run.model_copy(update={"api_calls": calls})

    runs = run_shards(plan.shards, run_one, concurrency=shard_concurrency, on_done=progress.update)
    result, failed = merge_shard_runs(runs, directory_id=directory_id)
    return result, failed, plan.api_calls


def _report_and_finish(
    result: BatchRunResult,
    failed: list[FailedItem],
    *,
    report: bool,
    export_path: str | None,
    max_failed_fraction: float | None,
    started: float,
) -> Any:
    if report:
        job = result.job
        findings = report_v2(
            result,
            failed,
            export_path=export_path,
            max_failed_fraction=max_failed_fraction,
            verdict=verdict(
                job.status_value,
                result.counts,
                max_failed_fraction,
                error_message=job.error_message,
            ),
        )
        result = result.model_copy(update={"export_path": findings.export_path})
    result = result.model_copy(
        update={"failed_items": failed, "duration_seconds": time.monotonic() - started}
    )
    return finish(result, max_failed_fraction, get_run_logger())


def run_v2_batch(
    credentials: LlamaCloudCredentials,
    target: V2Target,
    *,
    directory_id: str,
    item_ids: list[str] | None,
    settings: WaitSettings,
    max_failed_fraction: float | None,
    report: bool,
    export_path: str | None,
    organization_id: str | None,
    project_id: str | None,
    started: float,
    prior_api_calls: int = 0,
    max_files_per_batch: int = MAX_FILES_PER_BATCH,
    shard_concurrency: int = DEFAULT_SHARD_CONCURRENCY,
) -> Any:
    """Configuration, shards, batches, outcomes, report, judgement (inside a flow run)."""
    overrides = tenant_of(organization_id, project_id)
    configuration_id = resolve_v2_configuration(credentials, target, **overrides)
    result, failed, calls = _execute(
        credentials,
        configuration_id,
        directory_id=directory_id,
        only=item_ids,
        label="items" if item_ids is not None else "run",
        settings=settings,
        max_files_per_batch=max_files_per_batch,
        shard_concurrency=shard_concurrency,
        **overrides,
    )
    result = result.model_copy(update={"api_calls": result.api_calls + calls + prior_api_calls})
    return _report_and_finish(
        result,
        failed,
        report=report,
        export_path=export_path,
        max_failed_fraction=max_failed_fraction,
        started=started,
    )


def retry_v2_rounds(
    credentials: LlamaCloudCredentials,
    batch_id: str,
    *,
    configuration_id: str | None,
    max_rounds: int,
    settings: WaitSettings,
    max_failed_fraction: float | None,
    report: bool,
    export_path: str | None,
    organization_id: str | None,
    project_id: str | None,
    max_files_per_batch: int = MAX_FILES_PER_BATCH,
    shard_concurrency: int = DEFAULT_SHARD_CONCURRENCY,
) -> Any:
    """Resubmit a v2 batch's failed files, round after round, each round a new batch over a new
    ephemeral directory holding only them (``add_file`` of their file ids)."""
    started = time.monotonic()
    overrides = tenant_of(organization_id, project_id)
    original = read_v2_batch(credentials, batch_id, **overrides)
    config = configuration_id or original.batch.config.job.configuration_id
    failed = [
        FailedItem(
            item_id=o.item_id,
            item_name=o.item_name,
            status="failed",
            error_message=o.error_message,
            job_id=o.job_id,
            batch_job_id=o.batch_id,
        )
        for o in original.outcomes
        if o.status == "failed"
    ]
    api_calls = original.api_calls
    rounds: list[RetryRound] = []
    for number in range(1, max_rounds + 1):
        if not failed:
            break
        submitted = [f.item_id for f in failed]
        result, failed, calls = _execute(
            credentials,
            config,
            directory_id=original.batch.source_directory_id,
            only=submitted,
            label=f"retry-{number}",
            settings=settings,
            max_files_per_batch=max_files_per_batch,
            shard_concurrency=shard_concurrency,
            **overrides,
        )
        api_calls += calls + result.api_calls
        rounds.append(
            RetryRound(
                round=number,
                job_id=result.job.id,
                submitted=len(submitted),
                counts=result.counts,
                status=result.job.status_value,
            )
        )
        if result.job.status_value != "completed":
            break
    counts = counts_of(original.outcomes)
    merged_counts = JobCounts(total=counts.total, processed=counts.processed, failed=len(failed))
    job = batch_job(original.batch, merged_counts, directory_id=None)
    merged = BatchRunResult(
        job=job,
        counts=merged_counts,
        progress_percentage=100.0,
        api_calls=api_calls,
        rounds=rounds,
    )
    return _report_and_finish(
        merged,
        failed,
        report=report,
        export_path=export_path,
        max_failed_fraction=max_failed_fraction,
        started=started,
    )
