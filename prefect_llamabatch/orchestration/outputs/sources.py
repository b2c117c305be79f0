"""Where the documents come from: the items of a v1 batch job, the results of a v2 batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect_llamabatch.models import JobItem
from prefect_llamabatch.models.v2 import Batch
from prefect_llamabatch.orchestration.effects import (
    ClientDrain,
    Steps,
    Tenant,
    tenant,
)
from prefect_llamabatch.orchestration.outputs.names import DocumentRef
from prefect_llamabatch.orchestration.outputs.table import DocumentTable

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
class ItemDocuments(ClientDrain[DocumentRef]):
    """``client.iter_items``, each item put into the run's table as a :class:`DocumentRef` as
    its page arrives (neither the item models nor the documents of 10,000 items are ever all
    in memory)."""

    job_id: str
    table: DocumentTable
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

    def put(self, element: DocumentRef) -> None:
        self.table.add(element)


@dataclass(frozen=True)
class FileNames(ClientDrain[tuple[str, str]]):
    """``client.iter_directory_files`` as ``(file id, display name)`` pairs, put into the run's
    table's names as their pages arrive."""

    directory_id: str
    table: DocumentTable
    tenant: Tenant = field(default_factory=tenant)

    def sync(self, client: BatchClient) -> Iterator[tuple[str, str]]:
        for f in client.iter_directory_files(self.directory_id, **self.tenant):
            yield f.id, f.display_name

    async def aio(self, client: AsyncBatchClient) -> Any:  # an AsyncIterator[tuple[str, str]]
        async for f in client.iter_directory_files(self.directory_id, **self.tenant):
            yield f.id, f.display_name

    def put(self, element: tuple[str, str]) -> None:
        self.table.add_name(element)


def job_documents(table: DocumentTable, job_id: str, overrides: Tenant | None = None) -> Steps[int]:
    """Put the documents of a v1 batch job into ``table``: every item with its parse job id and
    known status (one paged item listing; an item without a ``job_id`` has no output).
    Answered with the number of items that have one."""
    n: int = yield from ItemDocuments(job_id, table, overrides or tenant())
    return n


def batch_documents(
    table: DocumentTable, batch: Batch, overrides: Tenant | None = None
) -> Steps[int]:
    """Put the documents of a v2 batch fetched with ``expand=results`` into ``table``: each
    result's job, named after its source file (one paged listing of the source directory, its
    names kept in the table and joined to the results). Answered with the number of
    documents in the table."""
    if batch.results is None:
        raise ValueError(
            f"batch {batch.id} has no results: fetch it with expand=results once it is finished"
        )
    yield from FileNames(batch.source_directory_id, table, overrides or tenant())
    table.add_results(
        (r.job_reference.id, r.source_directory_file_id)
        for r in batch.results
        if r.job_reference is not None
    )
    return table.count()
