"""The async client: the source of truth of both clients.

``scripts/unasync.py`` generates the sync :class:`BatchClient` (``_sync_client.py``) from this
file; edit here, then run ``python scripts/unasync.py`` (``--check`` in ``make lint`` fails when
the generated file is stale). What must differ by hand (one request under a deadline, concurrent
ops as tasks or threads) lives in ``_async_io`` / ``_sync_io``. Every endpoint is written once, in
:class:`~prefect_llamabatch.client.core.ClientCore`; a client method only runs its op.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import SecretStr

from prefect_llamabatch.client._base import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ClientBase,
    LazyModule,
    resume,
)
from prefect_llamabatch.client.config import USER_AGENT
from prefect_llamabatch.client.effects import Effect, Emit, Gather, Op, Send, Sleep
from prefect_llamabatch.client.retries import RetryPolicy
from prefect_llamabatch.client.uploads import FileInput
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    Directory,
    DirectoryFile,
    DirectoryFileList,
    DirectoryList,
    ItemProcessingResults,
    ItemStatus,
    JobItem,
    JobItemList,
    JobStatus,
    JobType,
)

if TYPE_CHECKING:
    from prefect_llamabatch.client import _async_io as io
    from prefect_llamabatch.client import core_v2, jobs_v2
    from prefect_llamabatch.client.core_v2 import ParametersInput
    from prefect_llamabatch.models.v2 import (
        Batch,
        BatchJobType,
        BatchPage,
        BatchStatus,
        Configuration,
        ConfigurationPage,
        ConfigurationParameters,
        ExtractJob,
        ExtractJobPage,
        ParseJob,
        ParseJobPage,
        ParseJobResult,
        ProductType,
        V2JobStatus,
        V2WebhookConfiguration,
    )
else:
    # Loaded on first use, not with the package: the I/O driver when a client is built, the
    # v2 API (its models, the generated parse options) on a v2 method's first call (bench B5).
    io = LazyModule("prefect_llamabatch.client._async_io")
    core_v2 = LazyModule("prefect_llamabatch.client.core_v2")
    jobs_v2 = LazyModule("prefect_llamabatch.client.jobs_v2")

__all__ = ["AsyncBatchClient"]

T = TypeVar("T")

DirectoryKind = Literal["ephemeral", "user"]
# A presigned URL authenticates by its signature: no API key, nothing but identification.
DOWNLOAD_HEADERS = {"User-Agent": USER_AGENT}


class AsyncBatchClient(ClientBase):
    """Async client of the LlamaCloud batch-processing and directories APIs.

    One client may be shared by several tasks (and, for the sync client, threads): it holds no
    per-call state besides its connection pool and counters (``docs/client.md``).

    Args:
        api_key: The API key; ``None`` reads ``LLAMA_CLOUD_API_KEY``, then ``LLAMA_PARSE_API_KEY``.
        base_url: The API host; ``None`` reads ``LLAMA_CLOUD_BASE_URL``, else the North America
            host. Must be https (plain http only for loopback hosts such as the emulator).
        organization_id: Default ``organization_id`` query parameter of every call.
        project_id: Default ``project_id`` query parameter of every call.
        timeout: Timeout of each connect, read and write, in seconds, or an ``httpx.Timeout``.
        request_deadline: Seconds one request may take in all, from connecting to the last byte
            of the response (default: ``timeout``, or its largest phase); a request still running
            then fails with ``APITimeoutError`` (and is retried like any timeout).
        max_response_bytes: Largest response body read (decoded), default 64 MiB; a larger one
            fails with ``APIResponseValidationError`` without being read further.
        retry: What is retried and how long to wait (default :class:`RetryPolicy`).
        max_concurrency: Bound on concurrent page fetches of ``iter_items``/``iter_jobs``.
        http_client: An ``httpx.AsyncClient`` to use (not closed by this client).
        sleep: Function used to wait between attempts (tests inject a fake one).

    Example:
        ```python
        import asyncio
        from prefect_llamabatch import AsyncBatchClient

        async def main() -> None:
            async with AsyncBatchClient.from_env() as client:
                job = await client.create_job({"directory_id": "dir-123", "job_config": {}})
                status = await client.get_job(job.id)
                print(status.progress_percentage)
                async for item in client.iter_items(job.id, status="failed"):
                    print(item.item_name, item.error_message)

        asyncio.run(main())
        ```
    """

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
        timeout: float | httpx.Timeout = 60.0,
        request_deadline: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            organization_id=organization_id,
            project_id=project_id,
            timeout=timeout,
            request_deadline=request_deadline,
            max_response_bytes=max_response_bytes,
            retry=retry,
            max_concurrency=max_concurrency,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self._timeout)
        self._sleep = sleep or io.sleep

    async def __aenter__(self) -> AsyncBatchClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    # ---- driver -----------------------------------------------------------------------

    async def _perform(self, instruction: Effect[Any]) -> Any:
        if isinstance(instruction, Send):
            return await io.send(self._http, instruction.request, self._limits)
        if isinstance(instruction, Sleep):
            await self._sleep(instruction.seconds)
            return None
        if isinstance(instruction, Gather):
            return await io.gather(self._run, instruction)
        raise TypeError(f"unexpected instruction {instruction!r}")

    async def _run(self, op: Op[T]) -> T:
        try:
            instruction = next(op)
            while True:
                if isinstance(instruction, Emit):
                    raise TypeError("an iterator op was run as a call")
                instruction = resume(op, await self._perform(instruction))
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            op.close()

    async def _iterate(self, op: Op[None]) -> AsyncIterator[Any]:
        try:
            instruction = next(op)
            while True:
                value = None
                if isinstance(instruction, Emit):
                    for item in instruction.values:
                        yield item
                else:
                    value = await self._perform(instruction)
                instruction = resume(op, value)
        except StopIteration:
            return
        finally:
            op.close()

    # ---- batch jobs -----------------------------------------------------------------------

    async def create_job(
        self,
        body: BatchJobCreate | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
        temporal_namespace: str | None = None,
    ) -> BatchJob:
        """Create a batch job; never starts a duplicate (see :mod:`prefect_llamabatch.client.retries`).

        ``idempotency_key`` is sent as the ``Idempotency-Key`` header (generated if not given)
        and stays the same across the retries of this call. The emulator honours it;
        LlamaCloud's beta API documents no such key, so duplicates are prevented by
        reconciliation (listing recent jobs after an ambiguous failure), not by the key.
        """
        return await self._run(
            self._core.create_job(
                body,
                idempotency_key=idempotency_key,
                organization_id=organization_id,
                project_id=project_id,
                temporal_namespace=temporal_namespace,
            )
        )

    async def get_job(
        self, job_id: str, *, organization_id: str | None = None, project_id: str | None = None
    ) -> BatchJobStatus:
        """The job's status, counters and ``progress_percentage``."""
        return await self._run(
            self._core.get_job(job_id, organization_id=organization_id, project_id=project_id)
        )

    async def cancel_job(
        self,
        job_id: str,
        reason: str | None = None,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
        temporal_namespace: str | None = None,
    ) -> BatchCancelResponse:
        """Cancel a job; a job that already finished is not an error (its final status returns)."""
        return await self._run(
            self._core.cancel_job(
                job_id,
                reason,
                organization_id=organization_id,
                project_id=project_id,
                temporal_namespace=temporal_namespace,
            )
        )

    async def list_jobs(
        self,
        *,
        directory_id: str | None = None,
        job_type: JobType | str | None = None,
        status: JobStatus | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> BatchJobList:
        """One page of jobs, optionally filtered."""
        return await self._run(
            self._core.list_jobs(
                directory_id=directory_id,
                job_type=job_type,
                status=status,
                limit=limit,
                offset=offset,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def iter_jobs(
        self,
        *,
        directory_id: str | None = None,
        job_type: JobType | str | None = None,
        status: JobStatus | str | None = None,
        page_size: int = 100,
        concurrency: int | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[BatchJob]:
        """Every job matching the filters, all pages (see ``ClientCore.offset_pages``)."""
        return self._iterate(
            self._core.iter_jobs(
                directory_id=directory_id,
                job_type=job_type,
                status=status,
                page_size=page_size,
                concurrency=concurrency,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def list_items(
        self,
        job_id: str,
        *,
        status: ItemStatus | str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> JobItemList:
        """One page of a job's items."""
        return await self._run(
            self._core.list_items(
                job_id,
                status=status,
                limit=limit,
                offset=offset,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def iter_items(
        self,
        job_id: str,
        *,
        status: ItemStatus | str | None = None,
        page_size: int = 100,
        concurrency: int | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[JobItem]:
        """Every item of a job, in order; pages after the first are fetched concurrently."""
        return self._iterate(
            self._core.iter_items(
                job_id,
                status=status,
                page_size=page_size,
                concurrency=concurrency,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def get_item_results(
        self,
        item_id: str,
        *,
        job_type: JobType | str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ItemProcessingResults:
        """Every processing result of one item (directory file), across jobs."""
        return await self._run(
            self._core.get_item_results(
                item_id, job_type=job_type, organization_id=organization_id, project_id=project_id
            )
        )

    # ---- directories ------------------------------------------------------------------

    async def create_directory(
        self,
        name: str,
        *,
        description: str | None = None,
        type: DirectoryKind | None = None,
        system_metadata: Mapping[str, Any] | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Directory:
        """Create a directory (``type="ephemeral"`` for batch input that expires)."""
        return await self._run(
            self._core.create_directory(
                name,
                description=description,
                type=type,
                system_metadata=system_metadata,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def get_directory(
        self,
        directory_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Directory:
        """One directory."""
        return await self._run(
            self._core.get_directory(
                directory_id, organization_id=organization_id, project_id=project_id
            )
        )

    async def delete_directory(
        self,
        directory_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Delete a directory."""
        await self._run(
            self._core.delete_directory(
                directory_id, organization_id=organization_id, project_id=project_id
            )
        )

    async def list_directories(
        self,
        *,
        name: str | None = None,
        type: str | None = None,
        types: Sequence[str] | None = None,
        include_deleted: bool | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> DirectoryList:
        """One page of directories."""
        return await self._run(
            self._core.list_directories(
                name=name,
                type=type,
                types=types,
                include_deleted=include_deleted,
                page_size=page_size,
                page_token=page_token,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def iter_directories(
        self,
        *,
        name: str | None = None,
        type: str | None = None,
        types: Sequence[str] | None = None,
        include_deleted: bool | None = None,
        page_size: int = 100,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[Directory]:
        """Every directory matching the filters (cursor pagination)."""
        return self._iterate(
            self._core.iter_directories(
                name=name,
                type=type,
                types=types,
                include_deleted=include_deleted,
                page_size=page_size,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def upload_file(
        self,
        directory_id: str,
        file: FileInput,
        *,
        display_name: str | None = None,
        unique_id: str | None = None,
        external_file_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> DirectoryFile:
        """Upload a file (path, bytes or binary file object) into a directory.

        Without ``unique_id`` it defaults to ``external_file_id``, else ``display_name``, else
        the file's name, else ``sha256:<hex>`` of unnamed content, so that an upload whose
        response was lost is found again instead of being added twice (``docs/client.md``).
        """
        return await self._run(
            self._core.upload_file(
                directory_id,
                file,
                display_name=display_name,
                unique_id=unique_id,
                external_file_id=external_file_id,
                metadata=metadata,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def add_file(
        self,
        directory_id: str,
        file_id: str,
        *,
        display_name: str | None = None,
        unique_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> DirectoryFile:
        """Add an already uploaded file (``file_id``) to a directory.

        Without ``unique_id`` it defaults to ``display_name``, else ``file_id`` (see
        :meth:`upload_file`).
        """
        return await self._run(
            self._core.add_file(
                directory_id,
                file_id,
                display_name=display_name,
                unique_id=unique_id,
                metadata=metadata,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def list_directory_files(
        self,
        directory_id: str,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        unique_id: str | None = None,
        display_name: str | None = None,
        display_name_contains: str | None = None,
        file_id: str | None = None,
        include_deleted: bool | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> DirectoryFileList:
        """One page of a directory's files."""
        return await self._run(
            self._core.list_directory_files(
                directory_id,
                page_size=page_size,
                page_token=page_token,
                unique_id=unique_id,
                display_name=display_name,
                display_name_contains=display_name_contains,
                file_id=file_id,
                include_deleted=include_deleted,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def iter_directory_files(
        self,
        directory_id: str,
        *,
        page_size: int = 100,
        unique_id: str | None = None,
        display_name: str | None = None,
        display_name_contains: str | None = None,
        file_id: str | None = None,
        include_deleted: bool | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[DirectoryFile]:
        """Every file of a directory (cursor pagination)."""
        return self._iterate(
            self._core.iter_directory_files(
                directory_id,
                page_size=page_size,
                unique_id=unique_id,
                display_name=display_name,
                display_name_contains=display_name_contains,
                file_id=file_id,
                include_deleted=include_deleted,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    # ---- v2: batches and configurations ----

    async def create_batch(
        self,
        source_directory_id: str,
        configuration_id: str | None = None,
        *,
        job_type: BatchJobType | None = None,
        parameters: ParametersInput | None = None,
        configuration_name: str | None = None,
        webhook_configurations: Sequence[V2WebhookConfiguration | Mapping[str, Any]] | None = None,
        webhook_configuration_ids: Sequence[str] | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Batch:
        """Create a v2 batch over a source directory; never starts a duplicate.

        Pass ``configuration_id`` (a saved configuration or a preset such as
        ``cfg-PARSE_AGENTIC``; ``job_type`` is read from it when not given) or ``parameters``
        (``parse_v2``/``extract_v2``, saved first with :meth:`save_parameters`, under
        ``configuration_name`` if given). The v2 API has no idempotency key: after a failure
        that leaves open whether the batch was created, the source directory's batches are
        listed and the one that provably matches is adopted
        (:mod:`prefect_llamabatch.client.reconcile_v2`). The created
        batch is checked to run the job type asked for.

        Example:
            ```python
            import asyncio
            from prefect_llamabatch import AsyncBatchClient

            async def main() -> None:
                async with AsyncBatchClient.from_env() as client:
                    batch = await client.create_batch("dir-123", "cfg-PARSE_AGENTIC")
                    print(batch.id, batch.status)

            asyncio.run(main())
            ```
        """
        return await self._run(
            core_v2.create_batch(
                self._core,
                source_directory_id,
                configuration_id,
                job_type=job_type,
                parameters=parameters,
                configuration_name=configuration_name,
                webhook_configurations=webhook_configurations,
                webhook_configuration_ids=webhook_configuration_ids,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def get_batch(
        self,
        batch_id: str,
        *,
        expand_results: bool = False,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Batch:
        """One batch; ``expand_results=True`` fills ``results`` (per-file job references)."""
        return await self._run(
            core_v2.get_batch(
                self._core,
                batch_id,
                expand_results=expand_results,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def list_batches(
        self,
        *,
        source_directory_id: str | None = None,
        status: BatchStatus | None = None,
        created_at_on_or_after: datetime | None = None,
        created_at_on_or_before: datetime | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> BatchPage:
        """One cursor page of batches, optionally filtered."""
        return await self._run(
            core_v2.list_batches(
                self._core,
                source_directory_id=source_directory_id,
                status=status,
                created_at_on_or_after=created_at_on_or_after,
                created_at_on_or_before=created_at_on_or_before,
                page_size=page_size,
                page_token=page_token,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def iter_batches(
        self,
        *,
        source_directory_id: str | None = None,
        status: BatchStatus | None = None,
        created_at_on_or_after: datetime | None = None,
        created_at_on_or_before: datetime | None = None,
        page_size: int = 100,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[Batch]:
        """Every batch matching the filters, each once (cursor pagination)."""
        return self._iterate(
            core_v2.iter_batches(
                self._core,
                source_directory_id=source_directory_id,
                status=status,
                created_at_on_or_after=created_at_on_or_after,
                created_at_on_or_before=created_at_on_or_before,
                page_size=page_size,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def cancel_batch(
        self,
        batch_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Batch:
        """Cancel a batch; one that already finished is not an error (it is returned as it is)."""
        return await self._run(
            core_v2.cancel_batch(
                self._core, batch_id, organization_id=organization_id, project_id=project_id
            )
        )

    async def create_configuration(
        self,
        name: str,
        parameters: ConfigurationParameters | Mapping[str, Any],
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Configuration:
        """Save a configuration: created, or updated if one has this name and product type."""
        return await self._run(
            core_v2.create_configuration(
                self._core,
                name,
                parameters,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def get_configuration(
        self,
        configuration_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Configuration:
        """One saved configuration or built-in preset."""
        return await self._run(
            core_v2.get_configuration(
                self._core,
                configuration_id,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def list_configurations(
        self,
        *,
        name: str | None = None,
        product_type: ProductType | Sequence[ProductType] | None = None,
        latest_only: bool | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ConfigurationPage:
        """One cursor page of saved configurations, optionally filtered."""
        return await self._run(
            core_v2.list_configurations(
                self._core,
                name=name,
                product_type=product_type,
                latest_only=latest_only,
                page_size=page_size,
                page_token=page_token,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def iter_configurations(
        self,
        *,
        name: str | None = None,
        product_type: ProductType | Sequence[ProductType] | None = None,
        latest_only: bool | None = None,
        page_size: int = 100,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[Configuration]:
        """Every saved configuration matching the filters, each once (cursor pagination)."""
        return self._iterate(
            core_v2.iter_configurations(
                self._core,
                name=name,
                product_type=product_type,
                latest_only=latest_only,
                page_size=page_size,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def update_configuration(
        self,
        configuration_id: str,
        *,
        name: str | None = None,
        parameters: ConfigurationParameters | Mapping[str, Any] | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Configuration:
        """Change a saved configuration's name and/or parameters."""
        return await self._run(
            core_v2.update_configuration(
                self._core,
                configuration_id,
                name=name,
                parameters=parameters,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def delete_configuration(
        self,
        configuration_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Delete a saved configuration."""
        await self._run(
            core_v2.delete_configuration(
                self._core,
                configuration_id,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def save_parameters(
        self,
        parameters: ParametersInput,
        *,
        name: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Configuration:
        """Save ``parse_v2``/``extract_v2`` parameters as a named configuration, idempotently.

        The name defaults to ``llamabatch-<product type>-<hash of the parameters>``; when a
        configuration of that name already holds equal parameters it is returned and nothing
        is saved, so running this again (a flow retry, the next run) changes nothing.

        Example:
            ```python
            import asyncio
            from prefect_llamabatch import AsyncBatchClient

            async def main() -> None:
                async with AsyncBatchClient.from_env() as client:
                    saved = await client.save_parameters(
                        {"product_type": "parse_v2", "tier": "fast", "version": "latest"}
                    )
                    batch = await client.create_batch("dir-123", saved.id)
                    print(saved.name, batch.id)

            asyncio.run(main())
            ```
        """
        return await self._run(
            core_v2.save_parameters(
                self._core,
                parameters,
                name=name,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    # ---- v2: parse and extract jobs ----

    async def get_parse_job(
        self,
        job_id: str,
        *,
        expand: str | Sequence[str] | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ParseJobResult:
        """A parse job (v2, or the one behind a v1 item's ``job_id``) and the outputs in ``expand``.

        ``expand`` names outputs to include inline (``markdown``, ``text``, ``items``,
        ``metadata``, ``job_metadata`` …) or as presigned files (``markdown_content_metadata``
        …, in ``result_content_metadata``; fetch those with :meth:`iter_download`).
        """
        return await self._run(
            jobs_v2.get_parse_job(
                self._core,
                job_id,
                expand=expand,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def list_parse_jobs(
        self,
        *,
        job_ids: Sequence[str] | None = None,
        status: V2JobStatus | None = None,
        created_at_on_or_after: datetime | None = None,
        created_at_on_or_before: datetime | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ParseJobPage:
        """One cursor page of parse jobs (at most 50 ``job_ids``; see :meth:`iter_parse_jobs`)."""
        page: ParseJobPage = await self._run(
            jobs_v2.list_jobs(
                self._core,
                "parse",
                job_ids=job_ids,
                status=status,
                created_at_on_or_after=created_at_on_or_after,
                created_at_on_or_before=created_at_on_or_before,
                page_size=page_size,
                page_token=page_token,
                organization_id=organization_id,
                project_id=project_id,
            )
        )
        return page

    def iter_parse_jobs(
        self,
        *,
        job_ids: Sequence[str] | None = None,
        status: V2JobStatus | None = None,
        created_at_on_or_after: datetime | None = None,
        created_at_on_or_before: datetime | None = None,
        page_size: int = 100,
        concurrency: int | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[ParseJob]:
        """Every parse job matching the filters; any number of ``job_ids``, looked up 50 per
        request, ``concurrency`` requests at a time (an unknown id is absent, not an error)."""
        return self._iterate(
            jobs_v2.iter_jobs(
                self._core,
                "parse",
                job_ids=job_ids,
                status=status,
                created_at_on_or_after=created_at_on_or_after,
                created_at_on_or_before=created_at_on_or_before,
                page_size=page_size,
                concurrency=concurrency,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def get_extract_job(
        self,
        job_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ExtractJob:
        """An extract job; a completed one carries its ``extract_result``."""
        return await self._run(
            jobs_v2.get_extract_job(
                self._core, job_id, organization_id=organization_id, project_id=project_id
            )
        )

    async def list_extract_jobs(
        self,
        *,
        job_ids: Sequence[str] | None = None,
        status: V2JobStatus | None = None,
        created_at_on_or_after: datetime | None = None,
        created_at_on_or_before: datetime | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ExtractJobPage:
        """One cursor page of extract jobs (at most 50 ``job_ids``)."""
        page: ExtractJobPage = await self._run(
            jobs_v2.list_jobs(
                self._core,
                "extract",
                job_ids=job_ids,
                status=status,
                created_at_on_or_after=created_at_on_or_after,
                created_at_on_or_before=created_at_on_or_before,
                page_size=page_size,
                page_token=page_token,
                organization_id=organization_id,
                project_id=project_id,
            )
        )
        return page

    def iter_extract_jobs(
        self,
        *,
        job_ids: Sequence[str] | None = None,
        status: V2JobStatus | None = None,
        created_at_on_or_after: datetime | None = None,
        created_at_on_or_before: datetime | None = None,
        page_size: int = 100,
        concurrency: int | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> AsyncIterator[ExtractJob]:
        """Every extract job matching the filters (``job_ids`` grouped as in
        :meth:`iter_parse_jobs`)."""
        return self._iterate(
            jobs_v2.iter_jobs(
                self._core,
                "extract",
                job_ids=job_ids,
                status=status,
                created_at_on_or_after=created_at_on_or_after,
                created_at_on_or_before=created_at_on_or_before,
                page_size=page_size,
                concurrency=concurrency,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    async def iter_download(self, url: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The body of a presigned URL (``presigned_url`` of a ``*_content_metadata``), in chunks.

        Streamed: memory stays at one chunk whatever the size. The URL is sent as it is and
        without the API key; errors name it without its signature. Not retried here (a body
        half consumed cannot be replayed): on failure, get a fresh URL and start again.

        Raises:
            APIStatusError: The URL answered an error (an expired URL: 403 on S3 and the
                emulator).
            APIConnectionError: The transfer failed.
        """
        target = jobs_v2.download_target(url)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size: must be an integer >= 1, got {chunk_size!r}")
        try:
            async with self._http.stream("GET", target.url, headers=DOWNLOAD_HEADERS) as response:
                if not response.is_success:
                    await response.aread()
                    target.check(response)
                async for chunk in response.aiter_bytes(chunk_size):
                    yield chunk
        except httpx.TransportError as exc:
            raise target.transport_error(exc) from None
