"""Parsed outputs delivered where users keep documents: any fsspec URL or Prefect filesystem block.

The logic of the ``download_outputs`` task, written once as steps (``effects.py``) so that the
sync and the async driver both run it. For each completed document (a :class:`DocumentJob`:
its name with relative path and its parse or extract job id) it writes one output file under
the destination, named after the document (:func:`output_paths`), and a JSONL manifest
(:data:`MANIFEST_NAME`) with one :class:`ManifestEntry` per output. See ``docs/outputs.md``.

* **Lookups are batched**: job statuses come from ``iter_parse_jobs(job_ids=…)`` (50 ids a
  request), never one request per document; a job the listing does not return is asked for by
  its own fetch. Extract results come inline with that listing.
* **Streamed**: a parse output is fetched through the presigned URL of its
  ``*_content_metadata`` in 1 MiB chunks into a local staging file (hashed on the way), then
  moved or uploaded to the destination; memory does not depend on the document's size.
* **Concurrent, bounded**: ``max_concurrency`` documents at a time, in windows of
  :data:`WINDOW` documents. Memory does not grow with the number of documents: the documents,
  their output paths, the previous manifest and the run's manifest lines are kept in a sqlite3
  table in the run's staging directory (``table``), filled as the listing's pages arrive and
  read back one window at a time.
* **Resumable**: an output whose manifest entry names the same job and whose file still has the
  recorded SHA-256 is skipped without any request; a fetched output identical to the file
  already there is not written again.

The package, by what each part does: ``names`` (the documents and their output paths),
``table`` (the run's per-document state in sqlite3, and the path rule), ``refs`` (what both
use), ``sources`` (the documents of a v1 job or a v2 batch), ``destination`` (the filesystem and the
file work on it), ``manifest``, ``fetch`` (the client calls that fetch outputs), ``steps`` (a
run, and ``write_outputs`` / ``awrite_outputs``), ``task`` (``download_outputs``). Every name
is importable from here.
"""

from __future__ import annotations

from prefect_llamabatch.orchestration.outputs.destination import CHUNK as CHUNK
from prefect_llamabatch.orchestration.outputs.destination import Destination, open_destination
from prefect_llamabatch.orchestration.outputs.destination import Discard as Discard
from prefect_llamabatch.orchestration.outputs.destination import ExistingDigest as ExistingDigest
from prefect_llamabatch.orchestration.outputs.destination import FileWork as FileWork
from prefect_llamabatch.orchestration.outputs.destination import Publish as Publish
from prefect_llamabatch.orchestration.outputs.destination import Staged as Staged
from prefect_llamabatch.orchestration.outputs.fetch import FetchExtractOutput as FetchExtractOutput
from prefect_llamabatch.orchestration.outputs.fetch import FetchParseOutput as FetchParseOutput
from prefect_llamabatch.orchestration.outputs.fetch import LookUp as LookUp
from prefect_llamabatch.orchestration.outputs.fetch import OutputUnavailable as OutputUnavailable
from prefect_llamabatch.orchestration.outputs.manifest import ManifestEntry
from prefect_llamabatch.orchestration.outputs.manifest import ReadManifest as ReadManifest
from prefect_llamabatch.orchestration.outputs.manifest import WriteManifest as WriteManifest
from prefect_llamabatch.orchestration.outputs.names import (
    FORMATS,
    MANIFEST_NAME,
    DocumentInput,
    DocumentJob,
    DocumentRef,
    OutputFormat,
    output_paths,
)
from prefect_llamabatch.orchestration.outputs.names import as_document as as_document
from prefect_llamabatch.orchestration.outputs.names import as_documents as as_documents
from prefect_llamabatch.orchestration.outputs.sources import FileNames as FileNames
from prefect_llamabatch.orchestration.outputs.sources import ItemDocuments as ItemDocuments
from prefect_llamabatch.orchestration.outputs.sources import batch_documents, job_documents
from prefect_llamabatch.orchestration.outputs.steps import (
    WINDOW,
    OutputFailure,
    OutputsResult,
    awrite_outputs,
    outputs_steps,
    write_outputs,
)
from prefect_llamabatch.orchestration.outputs.table import DocumentTable as DocumentTable
from prefect_llamabatch.orchestration.outputs.task import download_outputs

__all__ = [
    "FORMATS",
    "MANIFEST_NAME",
    "WINDOW",
    "Destination",
    "DocumentInput",
    "DocumentJob",
    "DocumentRef",
    "ManifestEntry",
    "OutputFailure",
    "OutputFormat",
    "OutputsResult",
    "awrite_outputs",
    "batch_documents",
    "download_outputs",
    "job_documents",
    "open_destination",
    "output_paths",
    "outputs_steps",
    "write_outputs",
]
