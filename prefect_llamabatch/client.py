"""Clients of the LlamaCloud beta batch-processing and directories APIs.

:class:`AsyncBatchClient` and :class:`BatchClient` have the same methods. Both only execute the
instructions of one sans-IO core (``prefect_llamabatch._http`` and the modules it composes),
which owns request building, parsing, error mapping, retries, create reconciliation and
pagination; the async client drives it with ``httpx.AsyncClient`` (concurrent page fetches as
tasks), the sync one with ``httpx.Client`` (concurrent page fetches in a thread pool).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import SecretStr

from prefect_llamabatch._config import EU_BASE_URL, NA_BASE_URL
from prefect_llamabatch._http import ClientCore
from prefect_llamabatch._ops import Emit, Gather, Op, Outcome, Send, Sleep
from prefect_llamabatch._stats import ClientStats
from prefect_llamabatch._uploads import FileInput
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
from prefect_llamabatch.retries import RetryPolicy

if TYPE_CHECKING:
    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = ["EU_BASE_URL", "NA_BASE_URL", "AsyncBatchClient", "BatchClient", "ClientStats"]

T = TypeVar("T")
C = TypeVar("C", bound="_ClientBase")

DirectoryKind = Literal["ephemeral", "user"]


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout: must be a number of seconds > 0, got {timeout!r}")
    return httpx.Timeout(float(timeout))


class _ClientBase:
    """What both clients share: configuration, the core, stats, construction helpers."""

    def __init__(
        self,
        api_key: str | SecretStr | None,
        *,
        base_url: str | None,
        organization_id: str | None,
        project_id: str | None,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
        max_concurrency: int,
    ) -> None:
        self._core = ClientCore(
            api_key=api_key,
            base_url=base_url,
            organization_id=organization_id,
            project_id=project_id,
            retry=retry,
            max_concurrency=max_concurrency,
        )
        self._timeout = _timeout(timeout)

    @classmethod
    def from_env(cls: type[C], **overrides: Any) -> C:
        """A client configured from ``LLAMA_CLOUD_API_KEY`` (or ``LLAMA_PARSE_API_KEY``) and
        ``LLAMA_CLOUD_BASE_URL``; keyword arguments override."""
        return cls(**overrides)

    @classmethod
    def from_credentials(cls: type[C], credentials: LlamaCloudCredentials, **overrides: Any) -> C:
        """A client configured from a :class:`LlamaCloudCredentials` block."""
        settings: dict[str, Any] = {
            "api_key": credentials.api_key,
            "base_url": credentials.base_url,
            "organization_id": credentials.organization_id,
            "project_id": credentials.project_id,
            "timeout": credentials.timeout,
            "retry": RetryPolicy(
                max_retries=credentials.max_retries,
                deadline=credentials.retry_deadline,
                initial_delay=credentials.retry_initial_delay,
                max_delay=credentials.retry_max_delay,
            ),
        }
        settings.update(overrides)
        return cls(**settings)

    @property
    def base_url(self) -> str:
        """The API host this client talks to."""
        return self._core.base_url

    @property
    def organization_id(self) -> str | None:
        """The default ``organization_id`` query parameter."""
        return self._core.organization_id

    @property
    def project_id(self) -> str | None:
        """The default ``project_id`` query parameter."""
        return self._core.project_id

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of this client."""
        return self._core.policy

    @property
    def stats(self) -> ClientStats:
        """Requests, retries and create reconciliations performed by this client so far."""
        return self._core.counters.snapshot()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class AsyncBatchClient(_ClientBase):
    """Async client of the LlamaCloud batch-processing and directories APIs.

    Args:
        api_key: The API key; ``None`` reads ``LLAMA_CLOUD_API_KEY``, then ``LLAMA_PARSE_API_KEY``.
        base_url: The API host; ``None`` reads ``LLAMA_CLOUD_BASE_URL``, else the North America
            host. Must be https (plain http only for loopback hosts such as the emulator).
        organization_id: Default ``organization_id`` query parameter of every call.
        project_id: Default ``project_id`` query parameter of every call.
        timeout: Per-request timeout in seconds, or an ``httpx.Timeout``.
        retry: What is retried and how long to wait (default :class:`RetryPolicy`).
        max_concurrency: Bound on concurrent page fetches of ``iter_items``/``iter_jobs``.
        http_client: An ``httpx.AsyncClient`` to use (not closed by this client).
        sleep: Coroutine used to wait between attempts (tests inject a fake one).

    Example:
        ```python
        import asyncio
        from prefect_llamabatch import AsyncBatchClient

        async def main() -> None:
            async with AsyncBatchClient.from_env() as client:
                job = await client.create_job({"directory_id": "dir-123", "job_config": {}})
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
            retry=retry,
            max_concurrency=max_concurrency,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self._timeout)
        self._sleep = sleep or asyncio.sleep

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

    async def _send(self, request: Any) -> Outcome:
        try:
            with request.httpx_kwargs() as kwargs:
                return await self._http.request(**kwargs)
        except httpx.TransportError as exc:
            return exc

    async def _perform(self, instruction: Any) -> Any:
        if isinstance(instruction, Send):
            return await self._send(instruction.request)
        if isinstance(instruction, Sleep):
            await self._sleep(instruction.seconds)
            return None
        if isinstance(instruction, Gather):
            return await self._gather(instruction)
        raise TypeError(f"unexpected instruction {instruction!r}")

    async def _gather(self, instruction: Gather) -> list[Any]:
        limiter = asyncio.Semaphore(instruction.limit)

        async def one(op: Op[Any]) -> Any:
            async with limiter:
                return await self._run(op)

        tasks = [asyncio.ensure_future(one(op)) for op in instruction.ops]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _run(self, op: Op[T]) -> T:
        try:
            instruction = next(op)
            while True:
                if isinstance(instruction, Emit):
                    raise TypeError("an iterator op was run as a call")
                instruction = op.send(await self._perform(instruction))
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
                instruction = op.send(value)
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
        """Create a batch job; never starts a duplicate (see :mod:`prefect_llamabatch.retries`).

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


class BatchClient(_ClientBase):
    """Sync client of the LlamaCloud batch-processing and directories APIs.

    Same arguments and methods as :class:`AsyncBatchClient`, without ``await``; concurrent page
    fetches run in a thread pool of ``max_concurrency`` threads.

    Example:
        ```python
        from prefect_llamabatch import BatchClient

        with BatchClient.from_env() as client:
            job = client.create_job({"directory_id": "dir-123", "job_config": {}})
            print(client.get_job(job.id).progress_percentage)
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
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            organization_id=organization_id,
            project_id=project_id,
            timeout=timeout,
            retry=retry,
            max_concurrency=max_concurrency,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self._timeout)
        self._sleep = sleep or time.sleep
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._pool_lock = threading.Lock()

    def __enter__(self) -> BatchClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool (unless it was passed in) and the thread pool."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        if self._owns_http:
            self._http.close()

    # ---- driver -----------------------------------------------------------------------

    def _send(self, request: Any) -> Outcome:
        try:
            with request.httpx_kwargs() as kwargs:
                return self._http.request(**kwargs)
        except httpx.TransportError as exc:
            return exc

    def _perform(self, instruction: Any) -> Any:
        if isinstance(instruction, Send):
            return self._send(instruction.request)
        if isinstance(instruction, Sleep):
            self._sleep(instruction.seconds)
            return None
        if isinstance(instruction, Gather):
            return self._gather(instruction)
        raise TypeError(f"unexpected instruction {instruction!r}")

    def _workers(self, size: int) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None or self._pool_size < size:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool_size = max(size, self._core.max_concurrency)
                self._pool = ThreadPoolExecutor(
                    max_workers=self._pool_size, thread_name_prefix="llamabatch"
                )
            return self._pool

    def _gather(self, instruction: Gather) -> list[Any]:
        pool = self._workers(instruction.limit)
        futures: list[Future[Any]] = [pool.submit(self._run, op) for op in instruction.ops]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and f.exception() is not None]
        if failed:
            for future in futures:
                future.cancel()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
        return [future.result() for future in futures]

    def _run(self, op: Op[T]) -> T:
        try:
            instruction = next(op)
            while True:
                if isinstance(instruction, Emit):
                    raise TypeError("an iterator op was run as a call")
                instruction = op.send(self._perform(instruction))
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            op.close()

    def _iterate(self, op: Op[None]) -> Iterator[Any]:
        try:
            instruction = next(op)
            while True:
                value = None
                if isinstance(instruction, Emit):
                    yield from instruction.values
                else:
                    value = self._perform(instruction)
                instruction = op.send(value)
        except StopIteration:
            return
        finally:
            op.close()

    # ---- batch jobs -----------------------------------------------------------------------

    def create_job(
        self,
        body: BatchJobCreate | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
        temporal_namespace: str | None = None,
    ) -> BatchJob:
        """Create a batch job; never starts a duplicate (see :mod:`prefect_llamabatch.retries`).

        ``idempotency_key`` is sent as ``Idempotency-Key``, as by the async client (the emulator
        honours it; against LlamaCloud duplicates are prevented by reconciliation).
        """
        return self._run(
            self._core.create_job(
                body,
                idempotency_key=idempotency_key,
                organization_id=organization_id,
                project_id=project_id,
                temporal_namespace=temporal_namespace,
            )
        )

    def get_job(
        self, job_id: str, *, organization_id: str | None = None, project_id: str | None = None
    ) -> BatchJobStatus:
        """The job's status, counters and ``progress_percentage``."""
        return self._run(
            self._core.get_job(job_id, organization_id=organization_id, project_id=project_id)
        )

    def cancel_job(
        self,
        job_id: str,
        reason: str | None = None,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
        temporal_namespace: str | None = None,
    ) -> BatchCancelResponse:
        """Cancel a job; a job that already finished is not an error (its final status returns)."""
        return self._run(
            self._core.cancel_job(
                job_id,
                reason,
                organization_id=organization_id,
                project_id=project_id,
                temporal_namespace=temporal_namespace,
            )
        )

    def list_jobs(
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
        return self._run(
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
    ) -> Iterator[BatchJob]:
        """Every job matching the filters, all pages."""
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

    def list_items(
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
        return self._run(
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
    ) -> Iterator[JobItem]:
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

    def get_item_results(
        self,
        item_id: str,
        *,
        job_type: JobType | str | None = None,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> ItemProcessingResults:
        """Every processing result of one item (directory file), across jobs."""
        return self._run(
            self._core.get_item_results(
                item_id, job_type=job_type, organization_id=organization_id, project_id=project_id
            )
        )

    # ---- directories ------------------------------------------------------------------

    def create_directory(
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
        return self._run(
            self._core.create_directory(
                name,
                description=description,
                type=type,
                system_metadata=system_metadata,
                organization_id=organization_id,
                project_id=project_id,
            )
        )

    def get_directory(
        self,
        directory_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> Directory:
        """One directory."""
        return self._run(
            self._core.get_directory(
                directory_id, organization_id=organization_id, project_id=project_id
            )
        )

    def delete_directory(
        self,
        directory_id: str,
        *,
        organization_id: str | None = None,
        project_id: str | None = None,
    ) -> None:
        """Delete a directory."""
        self._run(
            self._core.delete_directory(
                directory_id, organization_id=organization_id, project_id=project_id
            )
        )

    def list_directories(
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
        return self._run(
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
    ) -> Iterator[Directory]:
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

    def upload_file(
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
        return self._run(
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

    def add_file(
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
        return self._run(
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

    def list_directory_files(
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
        return self._run(
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
    ) -> Iterator[DirectoryFile]:
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
