"""Pins the private Prefect API the tasks rely on, and the sync/async driving of steps."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any

import pytest
from prefect import flow

from prefect_llamabatch.orchestration import dispatch as _dispatch
from prefect_llamabatch.orchestration import drivers
from prefect_llamabatch.orchestration.dispatch import DualTask
from prefect_llamabatch.orchestration.drivers import adrive, drive
from prefect_llamabatch.orchestration.effects import Effect, Gather, Steps


def test_prefect_async_dispatch_is_still_there_and_behaves(prefect: str) -> None:
    # Checked against Prefect 3.4.0 (the lowest the package admits; `make test` runs it in
    # .venv-lowest) and 3.9.1 (the newest when written). Re-check before widening the range.
    # prefect._internal.compatibility.async_dispatch is private: this breaks loudly if it moves
    # or changes what the package relies on: dispatch by context (a value in sync code, a
    # coroutine in async code), `_sync=` to force a side, and is_in_async_context(). Prefect
    # 3.4.0's wrapper has no `.aio` (added later); nothing here uses it.
    import prefect
    from prefect._internal.compatibility.async_dispatch import async_dispatch, is_in_async_context

    major_minor = tuple(int(p) for p in prefect.__version__.split(".")[:2])
    assert (3, 4) <= major_minor < (4, 0), f"not checked against Prefect {prefect.__version__}"

    async def aimpl(x: int) -> str:
        return f"async {x}"

    @async_dispatch(aimpl)
    def impl(x: int) -> str:
        """Sync impl."""
        return f"sync {x}"

    assert impl(1) == "sync 1"
    pending = impl(4, _sync=False)  # type: ignore[call-arg]
    assert inspect.iscoroutine(pending)
    assert asyncio.run(pending) == "async 4"
    # The JobRun methods keep their names and docstrings through the decorator.
    assert (impl.__name__, impl.__doc__) == ("impl", "Sync impl.")
    assert not is_in_async_context()

    async def main() -> tuple[bool, object, object]:
        return is_in_async_context(), await impl(2), impl(3, _sync=True)  # type: ignore[call-arg, misc]

    assert asyncio.run(main()) == (True, "async 2", "sync 3")

    @flow
    def sync_flow() -> tuple[bool, object]:
        return is_in_async_context(), impl(6)

    @flow
    async def async_flow() -> tuple[bool, object]:
        return is_in_async_context(), await impl(7)  # type: ignore[misc]

    # Inside flow runs the run context decides, not whether an event loop happens to run.
    assert sync_flow() == (False, "sync 6")
    assert asyncio.run(async_flow()) == (True, "async 7")


def test_the_private_prefect_module_is_imported_in_one_place() -> None:
    # Keep reliance on prefect._internal to the one import pinned above.
    from pathlib import Path

    import prefect_llamabatch

    package = Path(prefect_llamabatch.__file__).parent
    users = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "prefect._internal" in path.read_text(encoding="utf-8")
    )
    assert users == ["orchestration/dispatch.py"]


@dataclass(frozen=True)
class Double(Effect[int]):
    """A test effect: the in-memory driver answers twice ``value``."""

    value: int


@dataclass(frozen=True)
class Boom(Effect[None]):
    """A test effect the in-memory driver answers by raising."""


class Port:
    """An in-memory driver: ``Double`` doubles, ``Boom`` raises."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def perform(self, effect: Effect[Any]) -> Any:
        self.calls.append(type(effect).__name__)
        match effect:
            case Boom():
                raise RuntimeError("boom")
            case Double(value=value):
                return value * 2
            case Gather(ops=ops):
                return [drive(op, self) for op in ops]
        raise AssertionError(effect)


class AsyncPort(Port):
    async def perform(self, effect: Effect[Any]) -> Any:  # type: ignore[override]
        if isinstance(effect, Gather):
            return [await adrive(op, self) for op in effect.ops]
        return Port.perform(self, effect)


def steps() -> Steps[tuple[int, list[int], str]]:
    one = yield from Double(21)
    many = yield from Gather([iter(Double(i)) for i in range(3)], limit=2)
    try:
        yield from Boom()
    except RuntimeError as exc:  # errors are thrown back into the steps
        caught = str(exc)
    return one, many, caught


def test_the_same_steps_run_sync_and_async() -> None:
    assert drive(steps(), Port()) == (42, [0, 2, 4], "boom")
    assert asyncio.run(adrive(steps(), AsyncPort())) == (42, [0, 2, 4], "boom")


def test_dual_task_values_in_sync_flows_awaitables_in_async_flows(
    monkeypatch: pytest.MonkeyPatch, prefect: str
) -> None:
    def fake_run(credentials: object, s: Steps[Any]) -> Any:
        return drive(s, Port())

    async def fake_arun(credentials: object, s: Steps[Any]) -> Any:
        return await adrive(s, AsyncPort())

    monkeypatch.setattr(drivers, "run_steps", fake_run)
    monkeypatch.setattr(drivers, "arun_steps", fake_arun)
    monkeypatch.setattr(_dispatch, "_credentials_of", lambda *a: object())

    @_dispatch.dual_task(name="double-it")
    def double_it(credentials: object, x: int) -> Steps[int]:
        """Doubles."""
        return (yield from Double(x))

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


def test_the_drivers_refuse_an_effect_they_do_not_know() -> None:
    # Dispatch is on the effect's class: an effect no driver knows fails loudly, in the steps.
    with pytest.raises(TypeError, match=r"sync driver cannot perform Double\(value=21\)"):
        drive(steps(), drivers.SyncDriver(client=None))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"async driver cannot perform Double\(value=21\)"):
        asyncio.run(adrive(steps(), drivers.AsyncDriver(client=None)))  # type: ignore[arg-type]
