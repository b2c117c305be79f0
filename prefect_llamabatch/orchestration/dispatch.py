"""Sync + async Prefect tasks from one steps function.

:func:`dual_task` turns a steps function (see ``effects.py``; run by ``drivers.py``) into a
:class:`DualTask`: a sync Prefect task and an async one, dispatched on the caller's context with
Prefect's ``async_dispatch`` (a private Prefect module, pinned by ``tests/prefect/test_dispatch.py``),
so a sync flow gets the value and an async flow an awaitable, never a bare coroutine in a sync
context.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import anyio.to_thread

# The package's one import of a private Prefect module (jobs.py takes async_dispatch from here);
# what is used of it is pinned by tests/prefect/test_dispatch.py.
from prefect._internal.compatibility.async_dispatch import async_dispatch as async_dispatch
from prefect._internal.compatibility.async_dispatch import is_in_async_context
from prefect.exceptions import CancelledRun, TerminationSignal
from prefect.tasks import Task  # `from prefect import Task` would load all of prefect.main
from typing_extensions import ParamSpec

from prefect_llamabatch.client.redaction import describe
from prefect_llamabatch.orchestration import drivers
from prefect_llamabatch.orchestration.credential_checks import unawaited_load_error
from prefect_llamabatch.orchestration.effects import Steps

if TYPE_CHECKING:
    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = ["STOPS", "DualTask", "dual_task"]

P = ParamSpec("P")
R = TypeVar("R")


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
        from prefect_llamabatch.orchestration.tasks import get_batch_job  # a DualTask

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

    if inspect.iscoroutine(credentials):
        credentials.close()  # never awaited: spare the user a second, confusing warning
        raise unawaited_load_error()
    if not isinstance(credentials, LlamaCloudCredentials):
        # Never the value itself: a key given here must not reach a log or a task run's state.
        raise TypeError(
            f"credentials must be a LlamaCloudCredentials block, not {describe(credentials)}; "
            "API keys are never passed as plain task parameters"
        )
    return credentials


STOPS: tuple[type[BaseException], ...] = (
    KeyboardInterrupt,  # Ctrl-C in a sync flow
    TerminationSignal,  # SIGTERM, and a cancel that serve/a worker delivers as SIGTERM
    asyncio.CancelledError,  # an async flow's Ctrl-C; a flow or task timeout (sync and async)
    SystemExit,
    drivers.FlowRunCancelRequested,  # the run was cancelled and nothing else will stop it
)
"""What stops a task from outside; ``on_stop`` runs for these, then they propagate."""


def _raise_cancelled_run_for(stop: BaseException) -> None:
    # A cancel seen by the task itself ends as a plain exception: a BaseException would make
    # Prefect mark the run Crashed, over the Cancelled state it was given.
    if isinstance(stop, drivers.FlowRunCancelRequested):
        raise CancelledRun(f"{stop}: the task stopped") from None


StopHandler = Callable[["LlamaCloudCredentials", inspect.BoundArguments, BaseException], None]


def dual_task(
    credentials_for: Callable[[LlamaCloudCredentials], LlamaCloudCredentials] | None = None,
    on_stop: StopHandler | None = None,
    watch_flow_run: bool = False,
    **task_options: Any,
) -> Callable[[Callable[P, Steps[R]]], DualTask[P, R]]:
    """Decorator: a steps function (first parameter ``credentials``) → a :class:`DualTask`.

    ``task_options`` go to ``prefect.task`` for both variants (name, cache policy, run name …);
    ``credentials_for`` may adjust the credentials the client is built from (e.g. the wait's
    shorter retry deadline). ``on_stop`` runs (sync, in a thread for the async variant, shielded
    from cancellation) when the task is stopped by one of :data:`STOPS`, with the original
    credentials and arguments; the stop is re-raised afterwards. ``watch_flow_run`` makes the
    task's sleeps notice a cancel of its flow run that no runner will deliver.
    """
    adjust = credentials_for or (lambda credentials: credentials)
    watching: dict[str, bool] = {"watch_flow_run": True} if watch_flow_run else {}

    def decorate(steps_fn: Callable[P, Steps[R]]) -> DualTask[P, R]:
        signature = inspect.signature(steps_fn)

        @functools.wraps(steps_fn)
        def sync_impl(*args: P.args, **kwargs: P.kwargs) -> R:
            given = _credentials_of(signature, args, kwargs)
            try:
                return drivers.run_steps(adjust(given), steps_fn(*args, **kwargs), **watching)
            except STOPS as stop:
                if on_stop is not None:
                    on_stop(given, signature.bind(*args, **kwargs), stop)
                _raise_cancelled_run_for(stop)
                raise

        @functools.wraps(steps_fn)
        async def async_impl(*args: P.args, **kwargs: P.kwargs) -> R:
            given = _credentials_of(signature, args, kwargs)
            try:
                return await drivers.arun_steps(
                    adjust(given), steps_fn(*args, **kwargs), **watching
                )
            except STOPS as stop:
                if on_stop is not None:
                    bound = signature.bind(*args, **kwargs)
                    # The task is being cancelled: only a shielded scope may still wait.
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(on_stop, given, bound, stop)
                _raise_cancelled_run_for(stop)
                raise

        # functools.wraps sets __wrapped__ to the generator function; Prefect must see plain
        # (a)sync callables, and inspect.signature still finds the parameters through it.
        sync_task: Task[P, R] = Task(fn=sync_impl, **task_options)
        async_task: Task[P, Coroutine[Any, Any, R]] = Task(fn=async_impl, **task_options)
        return DualTask(sync_task, async_task)

    return decorate
