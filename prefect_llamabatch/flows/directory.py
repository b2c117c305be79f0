"""The ``process_directory`` flow: parse (or classify) a directory, or a local folder uploaded first."""

import time
from pathlib import Path
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
from prefect_llamabatch.orchestration.tasks import upload_directory
from prefect_llamabatch.orchestration.uploads import local_files
from prefect_llamabatch.orchestration.v2_pipeline import (
    DEFAULT_SHARD_CONCURRENCY,
    MAX_FILES_PER_BATCH,
    v2_target,
)
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["process_directory"]


def _process_directory_name() -> str:
    target = run_parameter("directory_id")
    if not target and run_parameter("local_path"):
        target = Path(str(run_parameter("local_path"))).name
    return f"process-directory/{target or 'directory'}"


@batch_flow(name="process-directory", flow_run_name=_process_directory_name)
def process_directory(
    credentials: CredentialsParam,
    directory_id: str | None = None,
    local_path: str | None = None,
    job_config: JobConfigParam | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    include_results: bool = False,
    export_path: str | None = None,
    page_size: int | None = None,
    idempotency_key: str | None = None,
    directory_name: str | None = None,
    output_path: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
    configuration_id: str | None = None,
    parse_v2: dict[str, Any] | None = None,
    extract_v2: dict[str, Any] | None = None,
    max_files_per_batch: int = MAX_FILES_PER_BATCH,
    shard_concurrency: int = DEFAULT_SHARD_CONCURRENCY,
) -> BatchRunResult:
    """Parse (or classify) every file of a directory, or of a local folder uploaded first.

    Args:
        credentials: LlamaCloud credentials block, or the name of a saved one (never a key
            or a dict: refused before the run is created).
        directory_id: An existing LlamaCloud directory (with local_path: the folder is synced
            into it first).
        local_path: A local folder, uploaded first: into directory_id, else into the newest
            directory called directory_name, else into a new ephemeral directory. Files already
            in the target with the same content are not uploaded again, so give directory_id or
            directory_name to upload only what changed since the last run; files deleted
            locally stay in the directory.
        job_config: Parse config (default: ``{}``, LlamaParse's defaults) or classify config,
            as a model or a dict. Must not carry secrets (see the module docs).
        wait: Polling, deadline and outage settings.
        max_failed_fraction: Failed/total fraction accepted (default 0: any failed item fails the
            flow); None accepts any number.
        cancel_on_stop: Cancel the remote job when this flow run is cancelled, times out,
            crashes or is terminated.
        report: List failed/skipped items and create the table and summary artifacts.
        include_results: Also fetch each failed item's processing results.
        export_path: File or folder to write every failed item to (CSV or JSONL).
        page_size: Files per processing cycle (directory mode).
        idempotency_key: Overrides the default (flow run id + job definition).
        directory_name: The directory local_path is synced into, found by name (created
            on the first run).
        output_path: Write each completed document's parsed markdown here once the run
            succeeded: a folder or an fsspec URL (``s3://bucket/prefix``), named after the
            documents, with a manifest (see ``download_outputs``).
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.
        configuration_id: v2: a saved configuration or preset (``cfg-PARSE_AGENTIC``) to run
            the directory with, through the v2 Batches API (instead of ``job_config``).
        parse_v2: v2: ``parse_v2`` parameters (``tier``, ``version`` …), saved once as a named
            configuration (the same parameters reuse it).
        extract_v2: v2: ``extract_v2`` parameters (``data_schema`` …), saved the same way.
        max_files_per_batch: v2: files per batch (the service's limit is 1,000); a larger
            directory is split into several batches, merged into one result.
        shard_concurrency: v2: batches run at once.

    Returns:
        The run's result (the flow ends Cancelled instead if the job was cancelled remotely).

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_directory

        result = process_directory(
            LlamaCloudCredentials.load("llamacloud"),
            local_path="./invoices",
            job_config={"parameters": {"parse_mode": "parse_page_with_llm"}},
            max_failed_fraction=0.05,
        )
        print(result.summary())
        ```

        The same with the v2 Batches API and a built-in preset:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_directory

        result = process_directory(
            LlamaCloudCredentials.load("llamacloud"),
            directory_id="dir-123",
            configuration_id="cfg-PARSE_FAST",
        )
        print(result.summary(), [s.job_id for s in result.shards])
        ```
    """
    credentials = check_credentials(credentials)
    if directory_id is None and local_path is None:
        raise ValueError(
            "give directory_id (an existing LlamaCloud directory), local_path (a folder to "
            "upload), or both (to sync the folder into that directory); got neither"
        )
    if directory_name is not None and (local_path is None or directory_id is not None):
        raise ValueError(
            "directory_name names the directory local_path is synced into; give it with "
            "local_path and without directory_id"
        )
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
        open_destination(output_path)  # a malformed destination fails before any upload
    if local_path is not None:
        local_files(local_path)  # exists, is a folder, has files
    # Validates page_size and the rest of the body before anything is uploaded.
    BatchJobCreate(
        directory_id=directory_id or "pending-upload", job_config=config, page_size=page_size
    )
    started = time.monotonic()
    prior = 0
    if local_path is not None:
        uploaded = upload_directory.sync(
            credentials,
            local_path,
            directory_id=directory_id,
            directory_name=directory_name,
            organization_id=organization_id,
            project_id=project_id,
        )
        directory_id, prior = uploaded.directory_id, uploaded.api_calls
    assert directory_id is not None
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
        prior_api_calls=prior,
        started=started,
    )
    if target is not None:
        return run_either(credentials, options, v2=target, directory_id=directory_id)
    body = BatchJobCreate(directory_id=directory_id, job_config=config, page_size=page_size)
    return run_either(credentials, options, v1=body)
