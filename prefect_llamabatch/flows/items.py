"""The ``process_items`` flow: process specific directory files with one batch job."""

from typing import Any

from prefect_llamabatch.flows.base import (
    CredentialsParam,
    JobConfigParam,
    RunOptions,
    batch_flow,
    check_credentials,
    refuse_v2_secrets,
    run_either,
    run_parameter,
    validated_config,
    wait_settings,
)
from prefect_llamabatch.models import BatchJobCreate
from prefect_llamabatch.orchestration.outputs import open_destination
from prefect_llamabatch.orchestration.results import BatchRunResult, check_max_failed_fraction
from prefect_llamabatch.orchestration.v2_pipeline import (
    DEFAULT_SHARD_CONCURRENCY,
    MAX_FILES_PER_BATCH,
    v2_target,
)
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["process_items"]


def _process_items_name() -> str:
    items = run_parameter("item_ids")
    return f"process-items/{len(items) if isinstance(items, list) else '?'}-items"


@batch_flow(name="process-items", flow_run_name=_process_items_name)
def process_items(
    credentials: CredentialsParam,
    item_ids: list[str],
    job_config: JobConfigParam | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    include_results: bool = False,
    export_path: str | None = None,
    idempotency_key: str | None = None,
    output_path: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
    directory_id: str | None = None,
    configuration_id: str | None = None,
    parse_v2: dict[str, Any] | None = None,
    extract_v2: dict[str, Any] | None = None,
    max_files_per_batch: int = MAX_FILES_PER_BATCH,
    shard_concurrency: int = DEFAULT_SHARD_CONCURRENCY,
) -> BatchRunResult:
    """Process specific items (directory-file ids, ``dfl-…``) with one batch job.

    Args:
        credentials: LlamaCloud credentials block, or the name of a saved one (never a key
            or a dict: refused before the run is created).
        item_ids: The items; non-empty, without duplicates.
        job_config: Parse or classify config, as a model or a dict (no secrets).
        wait: Polling, deadline and outage settings.
        max_failed_fraction: Failed/total fraction accepted (default 0); None accepts any.
        cancel_on_stop: Cancel the remote job when this flow run stops.
        report: List failed/skipped items and create the artifacts.
        include_results: Also fetch each failed item's processing results.
        export_path: File or folder to write every failed item to.
        idempotency_key: Overrides the default (flow run id + job definition).
        output_path: Write each completed document's parsed markdown here once the run
            succeeded: a folder or an fsspec URL (``s3://bucket/prefix``), named after the
            documents, with a manifest (see ``download_outputs``).
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.
        directory_id: v2: the directory the items are files of (a v2 batch runs over a
            directory: the items are added, by file id, to a new ephemeral one).
        configuration_id: v2: a saved configuration or preset to run the items with.
        parse_v2: v2: ``parse_v2`` parameters, saved once as a named configuration.
        extract_v2: v2: ``extract_v2`` parameters, saved the same way.
        max_files_per_batch: v2: files per batch (the service's limit is 1,000).
        shard_concurrency: v2: batches run at once.

    Returns:
        The run's result.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_items

        result = process_items(LlamaCloudCredentials.load("llamacloud"), ["dfl-1", "dfl-2"])
        ```
    """
    credentials = check_credentials(credentials)
    target = v2_target(
        job_config=job_config,
        configuration_id=configuration_id,
        parse_v2=parse_v2,
        extract_v2=extract_v2,
    )
    refuse_v2_secrets(parse_v2, extract_v2)
    config = validated_config(job_config if target is None else None)
    settings = wait_settings(wait)
    check_max_failed_fraction(max_failed_fraction)
    if output_path is not None:
        open_destination(output_path)  # a malformed destination fails before the job starts
    options = RunOptions(
        settings=settings,
        max_failed_fraction=max_failed_fraction,
        report=report,
        include_results=include_results,
        export_path=export_path,
        idempotency_key=idempotency_key,
        output_path=output_path,
        organization_id=organization_id,
        project_id=project_id,
        max_files_per_batch=max_files_per_batch,
        shard_concurrency=shard_concurrency,
    )
    if target is None:
        return run_either(
            credentials, options, v1=BatchJobCreate(item_ids=item_ids, job_config=config)
        )
    if directory_id is None:
        raise ValueError("a v2 run of items needs directory_id: the directory they are files of")
    if not item_ids or len(set(item_ids)) != len(item_ids):
        raise ValueError("item_ids must be non-empty and without duplicates")
    return run_either(
        credentials, options, v2=target, directory_id=directory_id, item_ids=list(item_ids)
    )
