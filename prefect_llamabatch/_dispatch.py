"""One implementation per task, two ways to run it (sync and async).

Each task's logic is written once, as a *steps* generator that does no I/O itself: it yields
:class:`Call` (one operation) or :class:`Gather` (several, with bounded concurrency) and receives
the result, or has the exception thrown back in. Two small drivers run the same steps: ``drive``
against a :class:`SyncPort` (``BatchClient``, ``time.sleep``) and ``adrive`` against an
:class:`AsyncPort` (``AsyncBatchClient``, ``anyio.sleep``). The typed helpers at the bottom
(``get_job``, ``sleep`` …) are what the steps ``yield from``.

:func:`dual_task` turns a steps function into a :class:`DualTask`: a sync Prefect task and an async
one, dispatched on the caller's context with Prefect's ``async_dispatch`` (a private Prefect module,
pinned by ``tests/prefect/test_dispatch.py``), so a sync flow gets the value and an async flow an
awaitable, never a bare coroutine in a sync context.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, Union, cast
from uuid import UUID

import anyio
from prefect._internal.compatibility.async_dispatch import async_dispatch, is_in_async_context
from prefect.artifacts import (
    acreate_progress_artifact,
    aupdate_progress_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.tasks import Task  # `from prefect import Task` would load all of prefect.main
from typing_extensions import ParamSpec

from prefect_llamabatch import _tracking
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobStatus,
    Directory,
    DirectoryFile,
    ItemProcessingResults,
    JobItem,
    JobItemList,
)

if TYPE_CHECKING:
    from prefect_llamabatch.client import AsyncBatchClient, BatchClient
    from prefect_llamabatch.credentials import LlamaCloudCredentials

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One operation for the driver: a client method or a port operation, by name."""

    op: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Gather:
    """Several operations run concurrently (at most ``limit`` at a time); results in order."""

    calls: Sequence[Call]
    limit: int = 8


Effect = Union[Call, Gather]
Steps = Generator[Effect, Any, R]


class SyncPort:
    """Runs :class:`Call` s synchronously against a ``BatchClient``."""

    def __init__(self, client: BatchClient) -> None:
        self.client = client

    def run(self, call: Call) -> Any:
        own = getattr(self, f"op_{call.op}", None)
        if own is not None:
            return own(*call.args, **call.kwargs)
        return getattr(self.client, call.op)(*call.args, **call.kwargs)

    def run_all(self, gather: Gather) -> list[Any]:
        if not gather.calls:
            return []
        workers = max(1, min(gather.limit, len(gather.calls)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llamabatch") as pool:
            return list(pool.map(self.run, gather.calls))

    def op_sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def op_monotonic(self) -> float:
        return time.monotonic()

    def op_collect(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        iterator: Iterator[Any] = getattr(self.client, method)(*args, **kwargs)
        return list(iterator)

    def op_requests(self) -> int:
        return self.client.stats.requests

    def op_record(
        self, flow_run_id: str, job: BatchJob, credentials: LlamaCloudCredentials
    ) -> None:
        _tracking.record_job(flow_run_id, job, credentials)

    def op_forget(self, flow_run_id: str, job_id: str) -> None:
        _tracking.forget_job(flow_run_id, job_id)

    def op_create_progress_artifact(
        self, progress: float, key: str | None, description: str
    ) -> UUID:
        return cast(
            UUID,
            create_progress_artifact(progress, key=key, description=description, _sync=True),  # type: ignore[call-arg]
        )

    def op_update_progress_artifact(self, artifact_id: UUID, progress: float) -> None:
        update_progress_artifact(artifact_id, progress, _sync=True)  # type: ignore[call-arg]


class AsyncPort:
    """Runs :class:`Call` s on the event loop against an ``AsyncBatchClient``."""

    def __init__(self, client: AsyncBatchClient) -> None:
        self.client = client

    async def run(self, call: Call) -> Any:
        own = getattr(self, f"op_{call.op}", None)
        if own is not None:
            return await own(*call.args, **call.kwargs)
        return await getattr(self.client, call.op)(*call.args, **call.kwargs)

    async def run_all(self, gather: Gather) -> list[Any]:
        limiter = anyio.Semaphore(max(1, gather.limit))

        async def one(call: Call) -> Any:
            async with limiter:
                return await self.run(call)

        return list(await asyncio.gather(*(one(c) for c in gather.calls)))

    async def op_sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def op_monotonic(self) -> float:
        return time.monotonic()

    async def op_collect(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        iterator: AsyncIterator[Any] = getattr(self.client, method)(*args, **kwargs)
        return [item async for item in iterator]

    async def op_requests(self) -> int:
        return self.client.stats.requests

    async def op_record(
        self, flow_run_id: str, job: BatchJob, credentials: LlamaCloudCredentials
    ) -> None:
        await _tracking.arecord_job(flow_run_id, job, credentials)

    async def op_forget(self, flow_run_id: str, job_id: str) -> None:
        await _tracking.aforget_job(flow_run_id, job_id)

    async def op_create_progress_artifact(
        self, progress: float, key: str | None, description: str
    ) -> UUID:
        return await acreate_progress_artifact(progress, key=key, description=description)

    async def op_update_progress_artifact(self, artifact_id: UUID, progress: float) -> None:
        await aupdate_progress_artifact(artifact_id, progress)


class SyncRunner(Protocol):
    """What ``drive`` needs from a port (tests use an in-memory one)."""

    def run(self, call: Call) -> Any: ...

    def run_all(self, gather: Gather) -> list[Any]: ...


def drive(steps: Steps[R], port: SyncRunner) -> R:
    """Run steps to completion synchronously."""
    try:
        effect = next(steps)
        while True:
            try:
                value = port.run_all(effect) if isinstance(effect, Gather) else port.run(effect)
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(value)
    except StopIteration as stop:
        return cast(R, stop.value)


async def adrive(steps: Steps[R], port: AsyncPort) -> R:
    """Run steps to completion on the running event loop."""
    try:
        effect = next(steps)
        while True:
            try:
                if isinstance(effect, Gather):
                    value: Any = await port.run_all(effect)
                else:
                    value = await port.run(effect)
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(value)
    except StopIteration as stop:
        return cast(R, stop.value)


def run_steps(credentials: LlamaCloudCredentials, steps: Steps[R]) -> R:
    """Run steps with a sync client built from the credentials (closed afterwards)."""
    with credentials.get_client() as client:
        return drive(steps, SyncPort(client))


async def arun_steps(credentials: LlamaCloudCredentials, steps: Steps[R]) -> R:
    """Run steps with an async client built from the credentials (closed afterwards)."""
    async with credentials.get_async_client() as client:
        return await adrive(steps, AsyncPort(client))


# --------------------------------------------------------------------------------------------
# Sync + async Prefect tasks from one steps function
# --------------------------------------------------------------------------------------------


class DualTask(Generic[P, R]):
    """A Prefect task usable from sync and async flows alike.

    Calling it returns the value in a sync context and an awaitable in an async one (Prefect's
    ``async_dispatch`` decides). ``.sync`` and ``.aio`` are the two underlying ``Task`` objects,
    for precise types or to force one variant; ``submit``, ``map`` and ``with_options`` work as on
    any task.

    Example:
        ```python
        import asyncio

        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.tasks import get_batch_job  # a DualTask

        @flow
        async def status(job_id: str) -> str:
            credentials = await LlamaCloudCredentials.load("llamacloud")  # a coroutine here
            current = await get_batch_job(credentials, job_id)  # awaitable in an async flow
            same = get_batch_job.sync(credentials, job_id)  # forced sync variant
            return current.job.status_value + same.job.status_value

        print(asyncio.run(status("bjb-123")))
        ```
    """

    def __init__(self, sync_task: Task[P, R], async_task: Task[P, Coroutine[Any, Any, R]]) -> None:
        self.sync = sync_task
        self.aio = async_task
        self._call = async_dispatch(async_task)(sync_task)
        functools.update_wrapper(self, sync_task.fn, updated=())

    @property
    def name(self) -> str:
        """The task name (same for both variants)."""
        return self.sync.name

    @property
    def fn(self) -> Callable[P, R]:
        """The sync task's function."""
        return self.sync.fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the task: the value in a sync context, an awaitable in an async one."""
        return self._call(*args, **kwargs)

    def _for_context(self) -> Task[P, Any]:
        return cast(Task[P, Any], self.aio if is_in_async_context() else self.sync)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Submit to the flow's task runner (returns a ``PrefectFuture``)."""
        return self._for_context().submit(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Map over iterables with the flow's task runner (returns ``PrefectFutureList``)."""
        return self._for_context().map(*args, **kwargs)

    def with_options(self, **options: Any) -> DualTask[P, R]:
        """Both variants with the same changed options (name, retries, task_run_name …)."""
        return DualTask(self.sync.with_options(**options), self.aio.with_options(**options))

    def __repr__(self) -> str:
        return f"DualTask(name={self.name!r})"


def _credentials_of(signature: inspect.Signature, args: Any, kwargs: Any) -> LlamaCloudCredentials:
    bound = signature.bind_partial(*args, **kwargs)
    credentials = bound.arguments.get("credentials")
    if credentials is None:
        raise TypeError(
            "credentials is required: pass a LlamaCloudCredentials block as the first argument "
            "(for example LlamaCloudCredentials.load('my-block') or LlamaCloudCredentials.from_env())"
        )
    from prefect_llamabatch.credentials import LlamaCloudCredentials

    if not isinstance(credentials, LlamaCloudCredentials):
        raise TypeError(
            f"credentials must be a LlamaCloudCredentials block, not {type(credentials).__name__}; "
            "API keys are never passed as plain task parameters"
        )
    return credentials


def dual_task(
    credentials_for: Callable[[LlamaCloudCredentials], LlamaCloudCredentials] | None = None,
    **task_options: Any,
) -> Callable[[Callable[P, Steps[R]]], DualTask[P, R]]:
    """Decorator: a steps function (first parameter ``credentials``) → a :class:`DualTask`.

    ``task_options`` go to ``prefect.task`` for both variants (name, cache policy, run name …);
    ``credentials_for`` may adjust the credentials the client is built from (e.g. the wait's
    shorter retry deadline).
    """
    adjust = credentials_for or (lambda credentials: credentials)

    def decorate(steps_fn: Callable[P, Steps[R]]) -> DualTask[P, R]:
        signature = inspect.signature(steps_fn)

        @functools.wraps(steps_fn)
        def sync_impl(*args: P.args, **kwargs: P.kwargs) -> R:
            credentials = adjust(_credentials_of(signature, args, kwargs))
            return run_steps(credentials, steps_fn(*args, **kwargs))

        @functools.wraps(steps_fn)
        async def async_impl(*args: P.args, **kwargs: P.kwargs) -> R:
            credentials = adjust(_credentials_of(signature, args, kwargs))
            return await arun_steps(credentials, steps_fn(*args, **kwargs))

        # functools.wraps sets __wrapped__ to the generator function; Prefect must see plain
        # (a)sync callables, and inspect.signature still finds the parameters through it.
        sync_task: Task[P, R] = Task(fn=sync_impl, **task_options)
        async_task: Task[P, Coroutine[Any, Any, R]] = Task(fn=async_impl, **task_options)
        return DualTask(sync_task, async_task)

    return decorate


# --------------------------------------------------------------------------------------------
# Typed operations for steps (``x = yield from get_job(job_id)``)
# --------------------------------------------------------------------------------------------


def call(op: str, *args: Any, **kwargs: Any) -> Steps[Any]:
    """Any port operation or client method, untyped."""
    result = yield Call(op, args, kwargs)
    return result


def gather(calls: Sequence[Call], limit: int) -> Steps[list[Any]]:
    """Run calls concurrently (bounded); results in the calls' order."""
    results = yield Gather(calls, limit)
    return cast(list[Any], results)


def sleep(seconds: float) -> Steps[None]:
    """Sleep (time.sleep or anyio.sleep)."""
    yield Call("sleep", (seconds,))


def monotonic() -> Steps[float]:
    """The driver's monotonic clock."""
    now = yield Call("monotonic")
    return cast(float, now)


def requests_made() -> Steps[int]:
    """HTTP requests the client has made so far (retries included)."""
    n = yield Call("requests")
    return cast(int, n)


def get_job(job_id: str, **kwargs: Any) -> Steps[BatchJobStatus]:
    """``client.get_job``."""
    status = yield Call("get_job", (job_id,), kwargs)
    return cast(BatchJobStatus, status)


def create_job(body: BatchJobCreate, **kwargs: Any) -> Steps[BatchJob]:
    """``client.create_job``."""
    job = yield Call("create_job", (body,), kwargs)
    return cast(BatchJob, job)


def cancel_job(job_id: str, reason: str | None = None, **kwargs: Any) -> Steps[BatchCancelResponse]:
    """``client.cancel_job``."""
    response = yield Call("cancel_job", (job_id,), {"reason": reason, **kwargs})
    return cast(BatchCancelResponse, response)


def list_items(job_id: str, **kwargs: Any) -> Steps[JobItemList]:
    """``client.list_items`` (one page)."""
    page = yield Call("list_items", (job_id,), kwargs)
    return cast(JobItemList, page)


def all_items(job_id: str, **kwargs: Any) -> Steps[list[JobItem]]:
    """Every item of a job (``client.iter_items``, collected)."""
    items = yield Call("collect", ("iter_items", job_id), kwargs)
    return cast(list[JobItem], items)


def get_item_results(item_id: str, **kwargs: Any) -> Steps[ItemProcessingResults]:
    """``client.get_item_results``."""
    results = yield Call("get_item_results", (item_id,), kwargs)
    return cast(ItemProcessingResults, results)


def create_directory(name: str, **kwargs: Any) -> Steps[Directory]:
    """``client.create_directory``."""
    directory = yield Call("create_directory", (name,), kwargs)
    return cast(Directory, directory)


def all_directory_files(directory_id: str, **kwargs: Any) -> Steps[list[DirectoryFile]]:
    """Every file of a directory (``client.iter_directory_files``, collected)."""
    files = yield Call("collect", ("iter_directory_files", directory_id), kwargs)
    return cast(list[DirectoryFile], files)
