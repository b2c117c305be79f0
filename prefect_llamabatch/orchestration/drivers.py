"""The two drivers of a task's steps: one sync, one async, dispatching on the effect's class.

Each task's logic is written once, as *steps* (a generator of effects, see ``effects.py``) that
does no I/O itself. :func:`drive` runs steps against a sync performer, :func:`adrive` against an
async one: the effect's answer is sent back in, or its exception thrown back in (so steps
``try``/``except`` around an API call as usual). :class:`SyncDriver` performs effects with a
``BatchClient``, ``time.sleep`` and threads; :class:`AsyncDriver` with an ``AsyncBatchClient``,
``anyio.sleep`` and tasks. Tests drive the same steps with an in-memory performer.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from uuid import UUID

import anyio
from prefect.artifacts import (
    acreate_progress_artifact,
    aupdate_progress_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType

from prefect_llamabatch.orchestration import tracking
from prefect_llamabatch.orchestration.effects import (
    ClientCall,
    ClientDrain,
    ClientIteration,
    CreateProgressArtifact,
    Effect,
    ForgetJob,
    Gather,
    Monotonic,
    RecordJob,
    RequestsMade,
    Sleep,
    Steps,
    UpdateProgressArtifact,
)
from prefect_llamabatch.orchestration.runtime import current_flow_run_id

if TYPE_CHECKING:
    from prefect_llamabatch.client import AsyncBatchClient, BatchClient
    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "AsyncDriver",
    "AsyncPerformer",
    "FlowRunCancelRequested",
    "FlowRunWatch",
    "SyncDriver",
    "SyncPerformer",
    "adrive",
    "arun_steps",
    "drive",
    "run_steps",
]

R = TypeVar("R")

WATCH_INTERVAL = 2.0
"""Seconds between two reads of a watched flow run's state (only while a task sleeps)."""


class FlowRunCancelRequested(BaseException):
    """The flow run a task runs in was cancelled, and no runner will stop the process.

    A ``BaseException``, like ``KeyboardInterrupt``: it ends the steps however they catch
    ``Exception``, and the task's stop handler cancels the remote job.
    """

    def __init__(self, flow_run_id: str, state_name: str) -> None:
        super().__init__(f"flow run {flow_run_id} is {state_name}")
        self.flow_run_id = flow_run_id
        self.state_name = state_name


@dataclass
class FlowRunWatch:
    """Notices a cancel of a flow run that runs under no runner (a plain ``python script.py``).

    Under ``serve`` or a worker, the runner delivers a cancel itself (as SIGTERM); a flow run
    started in a plain process has no infrastructure, so a cancel from the UI only sets its
    state to Cancelling, which nothing in the process would ever see. The watch reads that
    state at most every :data:`WATCH_INTERVAL` seconds, while the task sleeps between polls.
    """

    flow_run_id: str
    every: float = WATCH_INTERVAL
    _last: float = field(default=float("-inf"), init=False)

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.every:
            return False
        self._last = now
        return True

    def _judge(self, flow_run: Any) -> None:
        state = flow_run.state
        if (
            state is not None
            and state.type in (StateType.CANCELLING, StateType.CANCELLED)
            and not flow_run.infrastructure_pid  # a runner or worker will stop it itself
        ):
            raise FlowRunCancelRequested(self.flow_run_id, state.name)

    def check(self) -> None:
        """Raise :class:`FlowRunCancelRequested` if the run was cancelled (sync)."""
        if not self._due():
            return
        try:
            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(UUID(self.flow_run_id))
        except Exception:  # the Prefect API being away must not fail a wait
            return
        self._judge(flow_run)

    async def acheck(self) -> None:
        """Async :meth:`check`."""
        if not self._due():
            return
        try:
            async with get_client() as client:
                flow_run = await client.read_flow_run(UUID(self.flow_run_id))
        except Exception:
            return
        self._judge(flow_run)


def _watch() -> FlowRunWatch | None:
    flow_run_id = current_flow_run_id()
    return None if flow_run_id is None else FlowRunWatch(flow_run_id)


class SyncPerformer(Protocol):
    """What :func:`drive` needs: something that performs one effect and answers it."""

    def perform(self, effect: Effect[Any]) -> Any: ...


class AsyncPerformer(Protocol):
    """What :func:`adrive` needs: something that performs one effect and answers it."""

    async def perform(self, effect: Effect[Any]) -> Any: ...


def drive(steps: Steps[R], performer: SyncPerformer) -> R:
    """Run steps to completion synchronously."""
    try:
        effect = next(steps)
        while True:
            try:
                answer = performer.perform(effect)
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(answer)
    except StopIteration as stop:
        return cast(R, stop.value)
    finally:
        steps.close()


async def adrive(steps: Steps[R], performer: AsyncPerformer) -> R:
    """Run steps to completion on the running event loop."""
    try:
        effect = next(steps)
        while True:
            try:
                answer = await performer.perform(effect)
            except Exception as exc:
                effect = steps.throw(exc)
            else:
                effect = steps.send(answer)
    except StopIteration as stop:
        return cast(R, stop.value)
    finally:
        steps.close()


class SyncDriver:
    """Performs effects with a ``BatchClient`` (``Gather`` in a thread pool)."""

    def __init__(self, client: BatchClient, watch: FlowRunWatch | None = None) -> None:
        self.client = client
        self.watch = watch

    def perform(self, effect: Effect[Any]) -> Any:
        """Perform one effect; its answer (or its exception)."""
        match effect:
            case ClientCall():
                return effect.sync(self.client)
            case ClientIteration():
                return list(effect.sync(self.client))
            case ClientDrain():
                drained = 0
                for element in effect.sync(self.client):
                    effect.put(element)
                    drained += 1
                return drained
            case Sleep(seconds=seconds):
                if self.watch is None:
                    time.sleep(seconds)
                    return None
                end = time.monotonic() + seconds
                while True:
                    self.watch.check()
                    left = end - time.monotonic()
                    if left <= 0:
                        return None
                    time.sleep(min(left, self.watch.every))
            case Monotonic():
                return time.monotonic()
            case RequestsMade():
                return self.client.stats.requests
            case Gather(ops=ops, limit=limit):
                if not ops:
                    return []
                workers = max(1, min(limit, len(ops)))
                with ThreadPoolExecutor(workers, thread_name_prefix="llamabatch") as pool:
                    return list(pool.map(lambda op: drive(op, self), ops))
            case RecordJob(flow_run_id=run, job=job, credentials=credentials):
                tracking.record_job(run, job, credentials)
                return None
            case ForgetJob(flow_run_id=run, job_id=job_id):
                tracking.forget_job(run, job_id)
                return None
            case CreateProgressArtifact(progress=progress, key=key, description=description):
                return create_progress_artifact(
                    progress,
                    key=key,
                    description=description,
                    _sync=True,  # type: ignore[call-arg]
                )
            case UpdateProgressArtifact(artifact_id=artifact_id, progress=progress):
                update_progress_artifact(artifact_id, progress, _sync=True)  # type: ignore[call-arg]
                return None
        raise TypeError(f"the sync driver cannot perform {effect!r}")


class AsyncDriver:
    """Performs effects with an ``AsyncBatchClient`` (``Gather`` as bounded tasks)."""

    def __init__(self, client: AsyncBatchClient, watch: FlowRunWatch | None = None) -> None:
        self.client = client
        self.watch = watch

    async def perform(self, effect: Effect[Any]) -> Any:
        """Perform one effect; its answer (or its exception)."""
        match effect:
            case ClientCall():
                return await effect.aio(self.client)
            case ClientIteration():
                return [element async for element in effect.aio(self.client)]
            case ClientDrain():
                drained = 0
                async for element in effect.aio(self.client):
                    effect.put(element)
                    drained += 1
                return drained
            case Sleep(seconds=seconds):
                if self.watch is None:
                    await anyio.sleep(seconds)
                    return None
                end = time.monotonic() + seconds
                while True:
                    await self.watch.acheck()
                    left = end - time.monotonic()
                    if left <= 0:
                        return None
                    await anyio.sleep(min(left, self.watch.every))
            case Monotonic():
                return time.monotonic()
            case RequestsMade():
                return self.client.stats.requests
            case Gather(ops=ops, limit=limit):
                limiter = anyio.Semaphore(max(1, limit))

                async def one(op: Steps[Any]) -> Any:
                    async with limiter:
                        return await adrive(op, self)

                return list(await asyncio.gather(*(one(op) for op in ops)))
            case RecordJob(flow_run_id=run, job=job, credentials=credentials):
                await tracking.arecord_job(run, job, credentials)
                return None
            case ForgetJob(flow_run_id=run, job_id=job_id):
                await tracking.aforget_job(run, job_id)
                return None
            case CreateProgressArtifact(progress=progress, key=key, description=description):
                return await acreate_progress_artifact(progress, key=key, description=description)
            case UpdateProgressArtifact(artifact_id=artifact_id, progress=progress):
                await aupdate_progress_artifact(artifact_id, progress)
                return None
        raise TypeError(f"the async driver cannot perform {effect!r}")


def run_steps(
    credentials: LlamaCloudCredentials, steps: Steps[R], *, watch_flow_run: bool = False
) -> R:
    """Run steps with a sync client built from the credentials (closed afterwards).

    ``watch_flow_run``: sleeps notice a cancel of the current flow run (see :class:`FlowRunWatch`).
    """
    with credentials.get_client() as client:
        return drive(steps, SyncDriver(client, _watch() if watch_flow_run else None))


async def arun_steps(
    credentials: LlamaCloudCredentials, steps: Steps[R], *, watch_flow_run: bool = False
) -> R:
    """Run steps with an async client built from the credentials (closed afterwards)."""
    async with credentials.get_async_client() as client:
        return await adrive(steps, AsyncDriver(client, _watch() if watch_flow_run else None))
