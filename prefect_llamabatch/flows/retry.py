"""The ``retry_failed_items`` flow: resubmit a job's failed items, round after round."""

from typing import Literal, cast

from prefect_llamabatch.flows.base import (
    CredentialsParam,
    JobConfigParam,
    batch_flow,
    check_credentials,
    run_parameter,
    validated_config,
    wait_settings,
)
from prefect_llamabatch.orchestration.results import BatchRunResult, check_max_failed_fraction
from prefect_llamabatch.orchestration.rounds import retry_rounds
from prefect_llamabatch.orchestration.v2_pipeline import (
    DEFAULT_SHARD_CONCURRENCY,
    MAX_FILES_PER_BATCH,
)
from prefect_llamabatch.orchestration.v2_tasks import retry_v2_rounds
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["retry_failed_items"]


def _retry_name() -> str:
    return f"retry-failed-items/{run_parameter('job_id') or 'job'}"


@batch_flow(name="retry-failed-items", flow_run_name=_retry_name)
def retry_failed_items(
    credentials: CredentialsParam,
    job_id: str,
    max_rounds: int = 3,
    job_config: JobConfigParam | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    export_path: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
    api: Literal["v1", "v2"] = "v1",
    configuration_id: str | None = None,
    max_files_per_batch: int = MAX_FILES_PER_BATCH,
    shard_concurrency: int = DEFAULT_SHARD_CONCURRENCY,
) -> BatchRunResult:
    """Resubmit only the failed items of a job, round after round, until none fail.

    Each round is a new batch job over the items that failed in the previous one (by
    ``item_ids``), with the same config: ``job_config`` if given, else the config the original
    job ran with (read from a completed item's processing results). It stops when no item fails
    or after ``max_rounds``, and reports once: the still-failing items and every round.

    Args:
        credentials: LlamaCloud credentials block, or the name of a saved one (never a key
            or a dict: refused before the run is created).
        job_id: The original batch job.
        max_rounds: Most retry rounds (>= 1).
        job_config: The config to resubmit with (default: the original job's).
        wait: Polling, deadline and outage settings of each round.
        max_failed_fraction: Fraction of the original job's items that may still fail at the
            end (default 0); None accepts any.
        cancel_on_stop: Cancel the current round's job when this flow run stops.
        report: Create the table and summary artifacts of the still-failing items.
        export_path: File or folder to write the still-failing items to.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.
        api: ``v2`` when ``job_id`` is a v2 batch: each round is then a new batch over a new
            ephemeral directory holding only the failed files (added by file id).
        configuration_id: v2: the configuration to resubmit with (default: the batch's).
        max_files_per_batch: v2: files per batch of a round (the service's limit is 1,000).
        shard_concurrency: v2: batches of a round run at once.

    Returns:
        A merged result: ``job`` is the original job with its ``failed_items`` counter set to the
        items still failing (so ``counts`` are the original totals after the retries),
        ``failed_items`` lists them, and ``rounds`` has every round's job and counts.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, retry_failed_items

        result = retry_failed_items(LlamaCloudCredentials.load("llamacloud"), "bjb-123", max_rounds=2)
        print(result.counts.failed, "still failing after", len(result.rounds), "rounds")
        ```
    """
    credentials = check_credentials(credentials)
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValueError(f"job_id must be a non-empty string (got {job_id!r})")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1 (got {max_rounds})")
    settings = wait_settings(wait)
    check_max_failed_fraction(max_failed_fraction)
    if api == "v2":
        if job_config is not None:
            raise ValueError("job_config is a v1 config; give configuration_id for a v2 batch")
        return cast(
            BatchRunResult,
            retry_v2_rounds(
                credentials,
                job_id,
                configuration_id=configuration_id,
                max_rounds=max_rounds,
                settings=settings,
                max_failed_fraction=max_failed_fraction,
                report=report,
                export_path=export_path,
                organization_id=organization_id,
                project_id=project_id,
                max_files_per_batch=max_files_per_batch,
                shard_concurrency=shard_concurrency,
            ),
        )
    if api != "v1":
        raise ValueError(f"api must be 'v1' or 'v2' (got {api!r})")
    given = validated_config(job_config) if job_config is not None else None
    return cast(
        BatchRunResult,
        retry_rounds(
            credentials,
            job_id,
            config=given,
            settings=settings,
            max_rounds=max_rounds,
            max_failed_fraction=max_failed_fraction,
            report=report,
            export_path=export_path,
            organization_id=organization_id,
            project_id=project_id,
        ),
    )
