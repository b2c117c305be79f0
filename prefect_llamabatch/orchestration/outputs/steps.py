"""The steps of a run, written once for both drivers: resume what is unchanged, look statuses up,
fetch and publish each completed document, write the manifest; and the plain entry points
over a client (``write_outputs``, ``awrite_outputs``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from prefect_llamabatch.client.errors import (
    APIConnectionError,
    LlamaCloudError,
    PermissionDeniedError,
    ServerError,
)
from prefect_llamabatch.models.v2 import Batch, ExtractJob
from prefect_llamabatch.orchestration.effects import (
    Gather,
    RequestsMade,
    Steps,
    Tenant,
    tenant,
)
from prefect_llamabatch.orchestration.outputs.destination import (
    Destination,
    Discard,
    ExistingDigest,
    Publish,
    Staged,
    open_destination,
)
from prefect_llamabatch.orchestration.outputs.fetch import (
    FetchExtractOutput,
    FetchParseOutput,
    LookUp,
    OutputUnavailable,
)
from prefect_llamabatch.orchestration.outputs.manifest import (
    ManifestEntry,
    ReadManifest,
    WriteManifest,
)
from prefect_llamabatch.orchestration.outputs.names import (
    FORMATS,
    MANIFEST_NAME,
    DocumentInput,
    DocumentRef,
    as_document,
)
from prefect_llamabatch.orchestration.outputs.sources import batch_documents, job_documents
from prefect_llamabatch.orchestration.outputs.table import DocumentTable, Kept, Row
from prefect_llamabatch.orchestration.runtime import run_logger

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem

    from prefect_llamabatch.client import AsyncBatchClient, BatchClient

WINDOW = 512
"""Documents read from the run's table and delivered at once."""
_TABLE = "documents.sqlite3"  # the run's table, in its staging directory
_ATTEMPTS = 3  # fetches of one output (each with a fresh presigned URL)


class OutputFailure(BaseModel):
    """A document whose output was not written, and why (``status``: the job's, if known)."""

    document: str
    job_id: str
    reason: str
    status: str | None = None


class OutputsResult(BaseModel):
    """What ``download_outputs`` did.

    Example:
        ```python
        from prefect_llamabatch.orchestration.outputs import OutputsResult

        result = OutputsResult(destination="out", manifest_path="out/manifest.jsonl")
        assert result.written == 0 and result.summary().startswith("0 written")
        ```
    """

    destination: str
    manifest_path: str
    format: str = "markdown"
    documents: int = 0
    written: int = 0
    unchanged: int = 0
    bytes_written: int = 0
    failed: list[OutputFailure] = Field(default_factory=list)
    not_completed: list[OutputFailure] = Field(default_factory=list)
    api_calls: int = 0

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"{self.written} written ({self.bytes_written} bytes), {self.unchanged} unchanged, "
            f"{len(self.not_completed)} not completed, {len(self.failed)} failed "
            f"-> {self.destination}"
        )


@dataclass
class _Run:
    destination: Destination
    output_format: str
    staging: str
    overrides: Tenant
    table: DocumentTable
    """The documents, their paths, the previous manifest and the run's lines (``table.py``):
    used here only by the top-level steps (``_window``, ``outputs_steps``), never by the steps
    a ``Gather`` runs concurrently."""
    result: OutputsResult


def _retryable(exc: LlamaCloudError) -> bool:
    # A transfer cut, a 5xx or a URL that expired between its issue and its use: a fresh URL.
    return isinstance(exc, (APIConnectionError, ServerError, PermissionDeniedError))


def _fetch(run: _Run, doc: DocumentRef, known: ExtractJob | None) -> Steps[Staged]:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            if run.output_format == "extract":
                return (
                    yield from FetchExtractOutput(doc.job_id, run.staging, known, run.overrides)
                )
            return (
                yield from FetchParseOutput(
                    doc.job_id, run.output_format, run.staging, run.overrides
                )
            )
        except LlamaCloudError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
    raise AssertionError("unreachable")


def _deliver(
    run: _Run, doc: DocumentRef, relative: str, known: ExtractJob | None
) -> Steps[tuple[str, Any]]:
    """One document: ``("written" | "unchanged", entry)`` or ``("failed" | "not_completed",
    failure)``; never raises for a problem of this document alone."""
    try:
        staged = yield from _fetch(run, doc, known)
    except OutputUnavailable as exc:
        failure = OutputFailure(
            document=doc.name, job_id=doc.job_id, reason=exc.reason, status=exc.status
        )
        return ("not_completed" if exc.status != "COMPLETED" else "failed"), failure
    except (LlamaCloudError, OSError) as exc:
        return "failed", OutputFailure(document=doc.name, job_id=doc.job_id, reason=str(exc))
    path = run.destination.path(relative)
    try:
        written = yield from Publish(run.destination, staged, path)
    except OSError as exc:
        yield from Discard(staged)
        return "failed", OutputFailure(
            document=doc.name, job_id=doc.job_id, reason=f"{type(exc).__name__}: {exc}"
        )
    entry = ManifestEntry(
        document=doc.name,
        item_id=doc.item_id,
        job_id=doc.job_id,
        output_path=relative,
        bytes=staged.size,
        sha256=staged.sha256,
        format=run.output_format,
    )
    return ("written" if written else "unchanged"), entry


def _resumed(run: _Run, row: Row) -> Steps[Kept | None]:
    """The previous entry if the output is still there with the same content."""
    entry = row.kept
    if entry is None or entry.job_id != row.doc.job_id or entry.format != run.output_format:
        return None
    digest = yield from ExistingDigest(run.destination, run.destination.path(row.path))
    return entry if digest == entry.sha256 else None


def _window(run: _Run, rows: list[Row], concurrency: int) -> Steps[None]:
    result = run.result
    lines: list[tuple[str, str]] = []  # this window's manifest lines, recorded at its end
    checks = [row for row in rows if row.kept is not None]
    resumed = yield Gather([_resumed(run, row) for row in checks], concurrency)
    done = set()
    for row, entry in zip(checks, resumed, strict=True):
        if entry is not None:
            kept = ManifestEntry.model_validate_json(entry.line)
            renamed = kept.model_copy(update={"document": row.doc.name, "item_id": row.doc.item_id})
            lines.append((row.path, renamed.model_dump_json()))
            result.unchanged += 1
            done.add(row.seq)
    todo = [row for row in rows if row.seq not in done]
    kind = "extract" if run.output_format == "extract" else "parse"
    unknown = tuple(row.doc.job_id for row in todo if row.doc.status is None or kind == "extract")
    listed: dict[str, Any] = {}
    if unknown:
        for found in (yield from LookUp(kind, unknown, concurrency, run.overrides)):
            listed[found.id] = found
    deliveries = []
    for row in todo:
        doc = row.doc
        job = listed.get(doc.job_id)
        status = job.status if job is not None else doc.status
        if status is not None and status != "COMPLETED":
            reason = (getattr(job, "error_message", None) if job else None) or f"job is {status}"
            result.not_completed.append(
                OutputFailure(document=doc.name, job_id=doc.job_id, reason=reason, status=status)
            )
            continue
        known = job if isinstance(job, ExtractJob) else None
        deliveries.append(_deliver(run, doc, row.path, known))
    outcomes = yield Gather(deliveries, concurrency)
    for outcome, value in outcomes:
        if outcome in ("written", "unchanged"):
            lines.append((value.output_path, value.model_dump_json()))
            if outcome == "written":
                result.written += 1
                result.bytes_written += value.bytes
            else:
                result.unchanged += 1
        elif outcome == "not_completed":
            result.not_completed.append(value)
        else:
            result.failed.append(value)
    run.table.record(lines)


def outputs_steps(
    destination: str | os.PathLike[str] | WritableFileSystem,
    documents: Iterable[DocumentInput] | None = None,
    *,
    job_id: str | None = None,
    batch: Batch | None = None,
    output_format: str = "markdown",
    max_concurrency: int = 16,
    manifest_name: str = MANIFEST_NAME,
    storage_options: Mapping[str, Any] | None = None,
    staging_dir: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[OutputsResult]:
    """Write every completed document's output (see ``download_outputs`` for the rules)."""
    if output_format not in FORMATS:
        raise ValueError(
            f"output_format must be one of {', '.join(map(repr, FORMATS))}, got {output_format!r}"
        )
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ValueError(f"max_concurrency must be an integer >= 1, got {max_concurrency!r}")
    if sum(x is not None for x in (documents, job_id, batch)) != 1:
        raise ValueError(
            "give exactly one of documents ((name, job id) pairs), job_id (a v1 batch job) or "
            "batch (a v2 batch fetched with expand=results)"
        )
    if "/" in manifest_name or not manifest_name.endswith(".jsonl"):
        raise ValueError(
            f"manifest_name must be a file name ending in .jsonl, got {manifest_name!r}"
        )
    target = open_destination(destination, storage_options)
    overrides = tenant(organization_id, project_id)
    if target.local:
        os.makedirs(target.root, exist_ok=True)
    # Staged beside the outputs on a local disk, so that publishing one is a rename; the run's
    # table (the documents, their paths and manifest lines: memory flat in their number) too.
    with (
        tempfile.TemporaryDirectory(
            prefix=".llamabatch-staging-",
            dir=staging_dir or (target.root if target.local else None),
        ) as staging,
        DocumentTable(os.path.join(staging, _TABLE), output_format) as table,
    ):
        if job_id is not None:
            yield from job_documents(table, job_id, overrides)
        elif batch is not None:
            yield from batch_documents(table, batch, overrides)
        else:
            assert documents is not None
            table.add_many(as_document(doc) for doc in documents)
        table.assign_paths()
        yield from ReadManifest(target, manifest_name, table)
        result = OutputsResult(
            destination=target.shown,
            manifest_path=target.path(manifest_name),
            format=output_format,
            documents=table.count(),
        )
        run = _Run(target, output_format, staging, overrides, table, result)
        for rows in table.windows(WINDOW):
            yield from _window(run, rows, max_concurrency)
        # Outputs of earlier runs that this run did not touch stay listed (their files too).
        yield from WriteManifest(target, manifest_name, table)
    result.api_calls = yield from RequestsMade()
    run_logger().info("Outputs: %s", result.summary())
    return result


# --------------------------------------------------------------------------------------------
# Entry points: plain functions over a client (the Prefect task is in ``task``)
# --------------------------------------------------------------------------------------------


def write_outputs(
    client: BatchClient,
    destination: Any,
    documents: Iterable[DocumentInput] | None = None,
    **options: Any,
) -> OutputsResult:
    """:func:`outputs_steps` with a sync client, outside Prefect (threads for concurrency).

    Example:
        ```python
        from prefect_llamabatch import BatchClient
        from prefect_llamabatch.orchestration.outputs import write_outputs

        with BatchClient.from_env() as client:
            result = write_outputs(client, "./parsed", job_id="bjb-123")
            print(result.summary())
        ```
    """
    from prefect_llamabatch.orchestration.drivers import SyncDriver, drive

    return drive(outputs_steps(destination, documents, **options), SyncDriver(client))


async def awrite_outputs(
    client: AsyncBatchClient,
    destination: Any,
    documents: Iterable[DocumentInput] | None = None,
    **options: Any,
) -> OutputsResult:
    """:func:`outputs_steps` with an async client (tasks for concurrency, file work in threads)."""
    from prefect_llamabatch.orchestration.drivers import AsyncDriver, adrive

    return await adrive(outputs_steps(destination, documents, **options), AsyncDriver(client))
