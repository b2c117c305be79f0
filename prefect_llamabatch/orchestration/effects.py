"""The Prefect layer's effects: what a task's steps ask their driver to do, typed by their answer.

The vocabulary is the client core's (:mod:`prefect_llamabatch.client.effects`): an
:class:`~prefect_llamabatch.client.effects.Effect` ``[T]`` answered with a ``T``, ``yield from``
to get it typed, ``Sleep`` and ``Gather`` as in the core. This module adds:

* :class:`ClientCall` ``[T]``: one client method; each call knows how to run itself on the sync
  and on the async client (``sync`` / ``aio``), so the drivers never name a method.
* :class:`ClientIteration` ``[T]``: a paginated client iterator, collected into ``list[T]``.
* :class:`ClientDrain` ``[T]``: a paginated client iterator drained into a sink (``put``) as its
  pages arrive, answered with the count: nothing is collected.
* :class:`Monotonic`, :class:`RequestsMade`: the driver's clock and its client's request count.
* :class:`RecordJob`, :class:`ForgetJob`: job tracking for the stop hooks (``tracking.py``).
* :class:`CreateProgressArtifact`, :class:`UpdateProgressArtifact`: the wait's progress artifact.

The drivers (``drivers.py``) dispatch on these classes; a test drives steps with an in-memory
driver that answers them itself.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar
from uuid import UUID

from prefect_llamabatch.client.effects import Effect, Gather, Op, Sleep
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    Directory,
    DirectoryFile,
    ItemProcessingResults,
    JobItem,
    JobItemList,
    JobStatus,
    JobType,
)

if TYPE_CHECKING:
    from prefect_llamabatch.client import AsyncBatchClient, BatchClient
    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "AllDirectories",
    "AllDirectoryFiles",
    "AllItems",
    "AllJobs",
    "CancelJob",
    "ClientCall",
    "ClientDrain",
    "ClientIteration",
    "CreateDirectory",
    "CreateJob",
    "CreateProgressArtifact",
    "Effect",
    "ForgetJob",
    "Gather",
    "GetItemResults",
    "GetJob",
    "ListItems",
    "ListJobs",
    "Monotonic",
    "RecordJob",
    "RequestsMade",
    "Sleep",
    "Steps",
    "Tenant",
    "UpdateProgressArtifact",
    "UploadFile",
    "tenant",
]

T = TypeVar("T")

Steps = Op[T]
"""A task's logic: a generator of effects returning its result (the client core's ``Op``)."""


class Tenant(TypedDict):
    """The ``organization_id`` / ``project_id`` overrides every client call takes."""

    organization_id: str | None
    project_id: str | None


def tenant(organization_id: str | None = None, project_id: str | None = None) -> Tenant:
    """The per-call organization and project overrides, as client keyword arguments.

    Example:
        ```python
        from prefect_llamabatch.orchestration.effects import tenant

        assert tenant(project_id="p") == {"organization_id": None, "project_id": "p"}
        ```
    """
    return Tenant(organization_id=organization_id, project_id=project_id)


def _no_tenant() -> Tenant:
    return tenant()


# --------------------------------------------------------------------------------------------
# Client calls
# --------------------------------------------------------------------------------------------


class ClientCall(Effect[T]):
    """One client method call, answered with its return value."""

    __slots__ = ()

    @abstractmethod
    def sync(self, client: BatchClient) -> T:
        """Make the call with the sync client."""

    @abstractmethod
    async def aio(self, client: AsyncBatchClient) -> T:
        """Make the call with the async client."""


class ClientIteration(Effect[list[T]], Generic[T]):
    """A paginated client iterator, answered with every element collected."""

    __slots__ = ()

    @abstractmethod
    def sync(self, client: BatchClient) -> Iterator[T]:
        """The sync client's iterator."""

    @abstractmethod
    def aio(self, client: AsyncBatchClient) -> AsyncIterator[T]:
        """The async client's iterator."""


class ClientDrain(Effect[int], Generic[T]):
    """A paginated client iterator drained into a sink: the driver calls :meth:`put` with each
    element as its page arrives (nothing is collected) and answers with how many there were.

    ``put`` runs in the driver's own flow of control (the event loop for the async driver,
    never a worker thread of its own), one element at a time.
    """

    __slots__ = ()

    @abstractmethod
    def sync(self, client: BatchClient) -> Iterator[T]:
        """The sync client's iterator."""

    @abstractmethod
    def aio(self, client: AsyncBatchClient) -> AsyncIterator[T]:
        """The async client's iterator."""

    @abstractmethod
    def put(self, element: T) -> None:
        """Keep one element (e.g. insert it into a table)."""


@dataclass(frozen=True)
class GetJob(ClientCall[BatchJobStatus]):
    """``client.get_job``."""

    job_id: str
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> BatchJobStatus:
        return client.get_job(self.job_id, **self.tenant)

    async def aio(self, client: AsyncBatchClient) -> BatchJobStatus:
        return await client.get_job(self.job_id, **self.tenant)


@dataclass(frozen=True)
class CreateJob(ClientCall[BatchJob]):
    """``client.create_job`` under an idempotency key."""

    body: BatchJobCreate
    idempotency_key: str
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> BatchJob:
        return client.create_job(self.body, idempotency_key=self.idempotency_key, **self.tenant)

    async def aio(self, client: AsyncBatchClient) -> BatchJob:
        return await client.create_job(
            self.body, idempotency_key=self.idempotency_key, **self.tenant
        )


@dataclass(frozen=True)
class CancelJob(ClientCall[BatchCancelResponse]):
    """``client.cancel_job``."""

    job_id: str
    reason: str | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> BatchCancelResponse:
        return client.cancel_job(self.job_id, self.reason, **self.tenant)

    async def aio(self, client: AsyncBatchClient) -> BatchCancelResponse:
        return await client.cancel_job(self.job_id, self.reason, **self.tenant)


@dataclass(frozen=True)
class ListJobs(ClientCall[BatchJobList]):
    """``client.list_jobs`` (one page)."""

    directory_id: str | None = None
    job_type: JobType | str | None = None
    status: JobStatus | str | None = None
    limit: int | None = None
    offset: int | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "directory_id": self.directory_id,
            "job_type": self.job_type,
            "status": self.status,
            "limit": self.limit,
            "offset": self.offset,
            **self.tenant,
        }

    def sync(self, client: BatchClient) -> BatchJobList:
        return client.list_jobs(**self._kwargs())

    async def aio(self, client: AsyncBatchClient) -> BatchJobList:
        return await client.list_jobs(**self._kwargs())


@dataclass(frozen=True)
class AllJobs(ClientIteration[BatchJob]):
    """``client.iter_jobs``, collected."""

    directory_id: str | None = None
    job_type: JobType | str | None = None
    status: JobStatus | str | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "directory_id": self.directory_id,
            "job_type": self.job_type,
            "status": self.status,
            **self.tenant,
        }

    def sync(self, client: BatchClient) -> Iterator[BatchJob]:
        return client.iter_jobs(**self._kwargs())

    def aio(self, client: AsyncBatchClient) -> AsyncIterator[BatchJob]:
        return client.iter_jobs(**self._kwargs())


@dataclass(frozen=True)
class ListItems(ClientCall[JobItemList]):
    """``client.list_items`` (one page)."""

    job_id: str
    status: str | None = None
    limit: int | None = None
    offset: int | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> JobItemList:
        return client.list_items(
            self.job_id, status=self.status, limit=self.limit, offset=self.offset, **self.tenant
        )

    async def aio(self, client: AsyncBatchClient) -> JobItemList:
        return await client.list_items(
            self.job_id, status=self.status, limit=self.limit, offset=self.offset, **self.tenant
        )


@dataclass(frozen=True)
class AllItems(ClientIteration[JobItem]):
    """``client.iter_items``, collected: every item of a job (optionally of one status)."""

    job_id: str
    status: str | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> Iterator[JobItem]:
        return client.iter_items(self.job_id, status=self.status, **self.tenant)

    def aio(self, client: AsyncBatchClient) -> AsyncIterator[JobItem]:
        return client.iter_items(self.job_id, status=self.status, **self.tenant)


@dataclass(frozen=True)
class GetItemResults(ClientCall[ItemProcessingResults]):
    """``client.get_item_results``."""

    item_id: str
    job_type: JobType | str | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> ItemProcessingResults:
        return client.get_item_results(self.item_id, job_type=self.job_type, **self.tenant)

    async def aio(self, client: AsyncBatchClient) -> ItemProcessingResults:
        return await client.get_item_results(self.item_id, job_type=self.job_type, **self.tenant)


@dataclass(frozen=True)
class CreateDirectory(ClientCall[Directory]):
    """``client.create_directory``."""

    name: str
    type: str = "ephemeral"
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> Directory:
        return client.create_directory(self.name, type=self.type, **self.tenant)  # type: ignore[arg-type]

    async def aio(self, client: AsyncBatchClient) -> Directory:
        return await client.create_directory(self.name, type=self.type, **self.tenant)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AllDirectories(ClientIteration[Directory]):
    """``client.iter_directories(name=...)``, collected."""

    name: str | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> Iterator[Directory]:
        return client.iter_directories(name=self.name, **self.tenant)

    def aio(self, client: AsyncBatchClient) -> AsyncIterator[Directory]:
        return client.iter_directories(name=self.name, **self.tenant)


@dataclass(frozen=True)
class AllDirectoryFiles(ClientIteration[DirectoryFile]):
    """``client.iter_directory_files``, collected."""

    directory_id: str
    tenant: Tenant = field(default_factory=_no_tenant)

    def sync(self, client: BatchClient) -> Iterator[DirectoryFile]:
        return client.iter_directory_files(self.directory_id, **self.tenant)

    def aio(self, client: AsyncBatchClient) -> AsyncIterator[DirectoryFile]:
        return client.iter_directory_files(self.directory_id, **self.tenant)


@dataclass(frozen=True)
class UploadFile(ClientCall[DirectoryFile]):
    """``client.upload_file`` of a local path."""

    directory_id: str
    path: Path
    display_name: str | None = None
    unique_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    tenant: Tenant = field(default_factory=_no_tenant)

    def _kwargs(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "unique_id": self.unique_id,
            "metadata": self.metadata,
            **self.tenant,
        }

    def sync(self, client: BatchClient) -> DirectoryFile:
        return client.upload_file(self.directory_id, self.path, **self._kwargs())

    async def aio(self, client: AsyncBatchClient) -> DirectoryFile:
        return await client.upload_file(self.directory_id, self.path, **self._kwargs())


# --------------------------------------------------------------------------------------------
# The driver's own effects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Monotonic(Effect[float]):
    """The driver's monotonic clock (a test driver answers with a fake one)."""


@dataclass(frozen=True)
class RequestsMade(Effect[int]):
    """HTTP requests the driver's client has made so far (retries included)."""


@dataclass(frozen=True)
class RecordJob(Effect[None]):
    """Record a created job against the flow run, so that stopping the run cancels it."""

    flow_run_id: str
    job: BatchJob
    credentials: LlamaCloudCredentials


@dataclass(frozen=True)
class ForgetJob(Effect[None]):
    """Forget a tracked job (it finished, or was cancelled or left running on purpose)."""

    flow_run_id: str
    job_id: str


@dataclass(frozen=True)
class CreateProgressArtifact(Effect[UUID]):
    """Create a Prefect progress artifact (0-100); answered with its id."""

    progress: float
    key: str | None
    description: str


@dataclass(frozen=True)
class UpdateProgressArtifact(Effect[None]):
    """Move a progress artifact to ``progress`` (0-100)."""

    artifact_id: UUID
    progress: float
