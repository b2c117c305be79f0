"""Retry rounds: resubmit a job's failed items, round after round, and merge the outcome.

The ``retry_failed_items`` flow and ``LlamaBatchJobRun.retry_failed_items`` both run
:func:`retry_rounds` (inside a flow run: its steps are tasks).
"""

from __future__ import annotations

import time
from typing import Any, cast

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as runtime_flow_run

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import (
    MASK,
    BatchJobCreate,
    BatchParseJobRecordCreate,
    ClassifyJobConfig,
    JobStatus,
)
from prefect_llamabatch.orchestration.effects import Tenant, tenant
from prefect_llamabatch.orchestration.pipeline import finish
from prefect_llamabatch.orchestration.reporting import publish_retry_report
from prefect_llamabatch.orchestration.results import BatchRunResult, JobCounts, RetryRound
from prefect_llamabatch.orchestration.runtime import run_logger
from prefect_llamabatch.orchestration.secrets import find_secrets
from prefect_llamabatch.orchestration.submit import default_idempotency_key
from prefect_llamabatch.orchestration.tasks import submit_batch_job, wait_for_batch_job
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["items_only", "read_job_config", "retry_rounds", "round_key"]


@task(name="read-job-config", cache_policy=NO_CACHE, task_run_name="read-job-config/{job_id}")
def read_job_config(
    credentials: LlamaCloudCredentials, job_id: str, job_type: str, tenant: Tenant
) -> tuple[BatchParseJobRecordCreate | ClassifyJobConfig | None, int]:
    """The config a job ran with, as echoed in a completed item's processing results.

    Returns the config (None when no completed item has results) and the requests made.
    """
    with credentials.get_client() as client:
        done = client.list_items(job_id, status="completed", limit=1, **tenant).items
        candidates = []
        if done:
            results = client.get_item_results(done[0].item_id, job_type=job_type, **tenant)
            candidates = sorted(
                results.processing_results or [], key=lambda r: r.processed_at, reverse=True
            )
        requests = client.stats.requests
    if not candidates:
        return None, requests
    echoed = candidates[0].job_config
    if isinstance(echoed, ClassifyJobConfig):
        # Only the definition: the record fields (id, status …) belong to the old job.
        echoed = ClassifyJobConfig.model_validate(
            echoed.model_dump(include={"rules", "mode", "parsing_configuration"}, exclude_none=True)
        )
    return echoed, requests


def items_only(result: BatchRunResult) -> bool:
    """Whether a finished round's outcome is about its items only: completed, or ``failed``
    because every one of its items failed (the service fails such a job as a whole)."""
    if result.status == JobStatus.COMPLETED.value:
        return True
    c = result.counts
    return result.status == JobStatus.FAILED.value and c.total > 0 and c.failed == c.total


def round_key(body: BatchJobCreate, number: int, overrides: Tenant) -> str | None:
    """The idempotency key of retry round ``number``: the flow run, the round and its body.

    Rounds over the same still-failing items have equal bodies; without the round number they
    would share one key and reattach to the previous round's job instead of retrying. A retry
    of the flow run gets the same key per round, so it reattaches. None outside a flow run
    (the task then draws a random key).
    """
    flow_run_id = runtime_flow_run.id
    if not flow_run_id:
        return None
    return default_idempotency_key(f"{flow_run_id}/retry-round-{number}", body, **overrides)


def retry_rounds(
    credentials: LlamaCloudCredentials,
    job_id: str,
    *,
    config: BatchParseJobRecordCreate | ClassifyJobConfig | None,
    settings: WaitSettings,
    max_rounds: int,
    max_failed_fraction: float | None,
    report: bool,
    export_path: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Any:
    """The rounds of the ``retry_failed_items`` flow (also used by ``LlamaBatchJobRun``, whose config may
    hold secrets that must not become flow parameters). Returns the result, or the state the run
    ends in (:func:`~prefect_llamabatch.orchestration.pipeline.finish`).
    """
    logger = run_logger()
    started = time.monotonic()
    overrides = tenant(organization_id, project_id)
    # Waiting on a finished job is one poll, and it lists the failed items; a job still
    # running is waited for first.
    base = wait_for_batch_job.sync(
        credentials, job_id, settings, raise_on_failure=False, fetch_items=True, **overrides
    )
    original = base.job
    api_calls = base.api_calls
    if not base.failed_items:
        logger.info("Batch job %s has no failed item: nothing to retry", job_id)
        return cast(BatchRunResult, finish(base, max_failed_fraction, logger))
    if config is None:
        config, n = read_job_config(credentials, job_id, original.job_type, overrides)
        api_calls += n
        if config is None:
            raise ValueError(
                f"job_config is required: the config of batch job {job_id} could not be found "
                "(no completed item with processing results to read it from); pass the "
                "job_config the job was created with"
            )
        # A server echoes secrets masked: resubmitting the echo would send the mask as the key.
        hidden = find_secrets(config, where=lambda clear: MASK in clear)
        if hidden:
            raise ValueError(
                f"the config of batch job {job_id} was echoed with {', '.join(hidden)} masked "
                f"({MASK}), so it cannot be resubmitted as is (the mask would be sent as the "
                "secret): save the definition with its secrets in a LlamaBatchJob block and "
                "retry inside a flow with LlamaBatchJobRun.retry_failed_items(), or pass a "
                "job_config without secrets"
            )
    rounds: list[RetryRound] = []
    last: BatchRunResult | None = None
    pending = [item.item_id for item in base.failed_items]
    for number in range(1, max_rounds + 1):
        logger.info(
            "Retry round %d of %d: resubmitting %d failed item(s)", number, max_rounds, len(pending)
        )
        body = BatchJobCreate(item_ids=pending, job_config=config)
        created = submit_batch_job.sync(
            credentials, body, idempotency_key=round_key(body, number, overrides), **overrides
        )
        last = wait_for_batch_job.sync(
            credentials,
            created.job.id,
            settings,
            raise_on_failure=False,
            fetch_items=True,
            **overrides,
        )
        api_calls += created.api_calls + last.api_calls
        rounds.append(
            RetryRound(
                round=number,
                job_id=last.job_id,
                submitted=len(pending),
                counts=last.counts,
                status=last.status,
            )
        )
        if not items_only(last):
            break
        pending = [item.item_id for item in last.failed_items]
        if not pending:
            break
    assert last is not None
    if not items_only(last):
        # The round's job itself failed or was cancelled: judge that job, not the merge.
        return finish(last, max_failed_fraction, logger)
    still = len(last.failed_items)
    # The original job, its counters updated with what the rounds fixed; rounds list the jobs.
    job = original.model_copy(
        update={"status": JobStatus.COMPLETED, "failed_items": still, "error_message": None}
    )
    merged = BatchRunResult(
        job=job,
        counts=JobCounts.from_job(job),
        progress_percentage=100.0,
        failed_items=last.failed_items,
        skipped_items=[*base.skipped_items, *last.skipped_items],
        rounds=rounds,
    )
    if report:
        merged = merged.model_copy(
            update={
                "export_path": publish_retry_report(
                    merged,
                    original_job=original,
                    originally_failed=len(base.failed_items),
                    max_failed_fraction=max_failed_fraction,
                    export_path=export_path,
                )
            }
        )
    merged = merged.model_copy(
        update={"api_calls": api_calls, "duration_seconds": time.monotonic() - started}
    )
    return cast(BatchRunResult, finish(merged, max_failed_fraction, logger))
