"""Where the documents come from: the items of a v1 batch job, the results of a v2 batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect_llamabatch.models import JobItem
from prefect_llamabatch.models.v2 import Batch
from prefect_llamabatch.orchestration.effects import (
    ClientIteration,
    Steps,
    Tenant,
    tenant,
)
from prefect_llamabatch.orchestration.outputs.names import DocumentRef

if TYPE_CHECKING:
    from prefect_llamabatch.client import AsyncBatchClient, BatchClient


_V1_STATUS = {"completed": "COMPLETED", "failed": "FAILED", "cancelled": "CANCELLED"}


def _document_of(item: JobItem) -> DocumentRef | None:
    if not item.job_id:
        return None
    # A skipped item may have an output (skipped as already processed): its status is asked for.
    status = _V1_STATUS.get(item.status_value)
    return DocumentRef(item.item_name, item.job_id, item.item_id, status)


@dataclass(frozen=True)
class ItemDocuments(ClientIteration[DocumentRef]):
    """``client.iter_items``, each item kept as a :class:`DocumentRef` as its page arrives (the
    item models of 10,000 items are never all in memory)."""

    job_id: str
    tenant: Tenant = field(default_factory=tenant)

    def sync(self, client: BatchClient) -> Iterator[DocumentRef]:
        for item in client.iter_items(self.job_id, **self.tenant):
            doc = _document_of(item)
            if doc is not None:
                yield doc

    async def aio(self, client: AsyncBatchClient) -> Any:  # an AsyncIterator[DocumentRef]
        async for item in client.iter_items(self.job_id, **self.tenant):
            doc = _document_of(item)
            if doc is not None:
                yield doc


@dataclass(frozen=True)
class FileNames(ClientIteration[tuple[str, str]]):
    """``client.iter_directory_files`` as ``(file id, display name)`` pairs."""

    directory_id: str
    tenant: Tenant = field(default_factory=tenant)

    def sync(self, client: BatchClient) -> Iterator[tuple[str, str]]:
        for f in client.iter_directory_files(self.directory_id, **self.tenant):
            yield f.id, f.display_name

    async def aio(self, client: AsyncBatchClient) -> Any:  # an AsyncIterator[tuple[str, str]]
        async for f in client.iter_directory_files(self.directory_id, **self.tenant):
            yield f.id, f.display_name


def job_documents(job_id: str, overrides: Tenant | None = None) -> Steps[list[DocumentRef]]:
    """The documents of a v1 batch job: every item with its parse job id and known status
    (one paged item listing; an item without a ``job_id`` has no output)."""
    docs: list[DocumentRef] = yield from ItemDocuments(job_id, overrides or tenant())
    return docs


def batch_documents(batch: Batch, overrides: Tenant | None = None) -> Steps[list[DocumentRef]]:
    """The documents of a v2 batch fetched with ``expand=results``: each result's job, named
    after its source file (one paged listing of the source directory)."""
    if batch.results is None:
        raise ValueError(
            f"batch {batch.id} has no results: fetch it with expand=results once it is finished"
        )
    pairs = yield from FileNames(batch.source_directory_id, overrides or tenant())
    names = dict(pairs)
    return [
        DocumentRef(
            names.get(r.source_directory_file_id, r.source_directory_file_id),
            r.job_reference.id,
            r.source_directory_file_id,
        )
        for r in batch.results
        if r.job_reference is not None
    ]
