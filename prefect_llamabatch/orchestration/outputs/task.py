"""The ``download_outputs`` Prefect task: :func:`~.steps.outputs_steps` run by the sync or the
async driver, whichever the caller is."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prefect.cache_policies import NO_CACHE

from prefect_llamabatch.models.v2 import Batch
from prefect_llamabatch.orchestration.dispatch import dual_task
from prefect_llamabatch.orchestration.effects import Steps
from prefect_llamabatch.orchestration.outputs.names import (
    MANIFEST_NAME,
    DocumentInput,
    OutputFormat,
)
from prefect_llamabatch.orchestration.outputs.steps import OutputsResult, outputs_steps

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem

    from prefect_llamabatch.credentials import LlamaCloudCredentials


def _outputs_run_name() -> str:
    from prefect.runtime import task_run

    parameters = task_run.parameters or {}
    source = parameters.get("job_id") or getattr(parameters.get("batch"), "id", None) or "documents"
    return f"download-outputs/{source}"


@dual_task(name="download-outputs", cache_policy=NO_CACHE, task_run_name=_outputs_run_name)
def download_outputs(
    credentials: LlamaCloudCredentials,
    destination: str | os.PathLike[str] | WritableFileSystem,
    documents: list[DocumentInput] | None = None,
    *,
    job_id: str | None = None,
    batch: Batch | None = None,
    output_format: OutputFormat = "markdown",
    max_concurrency: int = 16,
    manifest_name: str = MANIFEST_NAME,
    storage_options: dict[str, Any] | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[OutputsResult]:
    """Write the parsed output of every completed document to a folder, an fsspec URL or a
    Prefect filesystem block, named after the documents, with a JSONL manifest.

    Give one source: ``job_id`` (a v1 batch job: each item's parse job), ``batch`` (a v2
    batch fetched with ``expand=results``) or ``documents`` (``(name, job id)`` pairs,
    :class:`DocumentJob` s or dicts). Job statuses are looked up in batches; each completed
    document costs one API call and one streamed download. ``reports/q1.pdf`` is written to
    ``<destination>/reports/q1.md`` (collisions: see :func:`output_paths`). A rerun skips
    outputs whose manifest entry and file still match; jobs not completed are listed in
    ``not_completed``, errors of single documents in ``failed`` (neither fails the task).

    Args:
        credentials: LlamaCloud credentials block.
        destination: A local folder, an fsspec URL (``s3://bucket/prefix``, ``gcs://…``,
            ``memory://…``) or a Prefect ``LocalFileSystem`` / ``RemoteFileSystem`` block.
        documents: ``(document name, job id)`` pairs (or DocumentJob / dicts).
        job_id: A v1 batch job id instead of documents.
        batch: A v2 ``Batch`` with its results instead of documents.
        output_format: ``markdown`` (default, ``.md``), ``text`` (``.txt``), ``items``
            (structured JSON, ``.json``) or ``extract`` (extract jobs' results, ``.json``).
        max_concurrency: Documents fetched and written at once.
        manifest_name: The manifest's file name under the destination.
        storage_options: fsspec options of a URL destination (e.g. ``{"anon": False}``);
            never logged nor returned.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        Counts, the manifest's path, and the documents not written with the reason.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.outputs import download_outputs

        @flow
        def deliver(job_id: str) -> int:
            credentials = LlamaCloudCredentials.load("llamacloud")
            return download_outputs(credentials, "./parsed", job_id=job_id).written

        print(deliver("bjb-123"))
        ```
    """
    return (
        yield from outputs_steps(
            destination,
            documents,
            job_id=job_id,
            batch=batch,
            output_format=output_format,
            max_concurrency=max_concurrency,
            manifest_name=manifest_name,
            storage_options=storage_options,
            organization_id=organization_id,
            project_id=project_id,
        )
    )
