"""Pins the private Prefect API the tasks rely on, and the sync/async driving of steps."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from prefect import flow

from prefect_llamabatch import _dispatch as ops
from prefect_llamabatch._dispatch import Call, DualTask, Gather, Steps, adrive, drive


def test_prefect_async_dispatch_is_still_there_and_behaves() -> None:
    # prefect._internal.compatibility.async_dispatch is private: this breaks loudly if it moves.
    from prefect._internal.compatibility.async_dispatch import async_dispatch, is_in_async_context

    async def aimpl(x: int) -> str:
        return f"async {x}"

    @async_dispatch(aimpl)
    def impl(x: int) -> str:
        return f"sync {x}"

    assert impl(1) == "sync 1"
    assert impl.aio is aimpl  # type: ignore[attr-defined]
    assert not is_in_async_context()

    async def main() -> tuple[bool, object, object]:
        return is_in_async_context(), await impl(2), impl(3, _sync=True)  # type: ignore[call-arg, misc]

    assert asyncio.run(main()) == (True, "async 2", "sync 3")


class Port:
    """An in-memory port: ``double`` doubles, ``boom`` raises."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def run(self, call: Call) -> Any:
        self.calls.append(call.op)
        if call.op == "boom":
            raise RuntimeError("boom")
        return call.args[0] * 2

    def run_all(self, gather: Gather) -> list[Any]:
        return [self.run(c) for c in gather.calls]


class AsyncPort(Port):
    async def run(self, call: Call) -> Any:  # type: ignore[override]
        return Port.run(self, call)

    async def run_all(self, gather: Gather) -> list[Any]:  # type: ignore[override]
        return [Port.run(self, c) for c in gather.calls]


def steps() -> Steps[tuple[int, list[int], str]]:
    one = yield from ops.call("double", 21)
    many = yield from ops.gather([Call("double", (i,)) for i in range(3)], limit=2)
    try:
        yield from ops.call("boom")
    except RuntimeError as exc:  # errors are thrown back into the steps
        caught = str(exc)
    return one, many, caught


def test_the_same_steps_run_sync_and_async() -> None:
    assert drive(steps(), Port()) == (42, [0, 2, 4], "boom")
    assert asyncio.run(adrive(steps(), AsyncPort())) == (42, [0, 2, 4], "boom")  # type: ignore[arg-type]


def test_dual_task_values_in_sync_flows_awaitables_in_async_flows(
    monkeypatch: pytest.MonkeyPatch, prefect: str
) -> None:
    from prefect_llamabatch import _dispatch

    def fake_run(credentials: object, s: Steps[Any]) -> Any:
        return drive(s, Port())

    async def fake_arun(credentials: object, s: Steps[Any]) -> Any:
        return await adrive(s, AsyncPort())  # type: ignore[arg-type]

    monkeypatch.setattr(_dispatch, "run_steps", fake_run)
    monkeypatch.setattr(_dispatch, "arun_steps", fake_arun)
    monkeypatch.setattr(_dispatch, "_credentials_of", lambda *a: object())

    @_dispatch.dual_task(name="double-it")
    def double_it(credentials: object, x: int) -> Steps[int]:
        """Doubles."""
        return (yield from ops.call("double", x))

    assert isinstance(double_it, DualTask) and double_it.name == "double-it"
    assert double_it.__doc__ == "Doubles."

    @flow
    def sync_flow() -> tuple[object, int]:
        value = double_it(None, 2)
        return value, double_it.submit(None, 3).result()

    @flow
    async def async_flow() -> tuple[bool, int, int]:
        pending = double_it(None, 4)
        awaitable = inspect.isawaitable(pending)
        return awaitable, await pending, double_it.sync(None, 5)

    assert sync_flow() == (4, 6)
    assert asyncio.run(async_flow()) == (True, 8, 10)
