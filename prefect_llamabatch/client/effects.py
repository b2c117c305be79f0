"""The effect vocabulary: the instructions of the sans-IO client core, and the op type that yields them.

An :class:`Effect` ``[T]`` is a request to a driver whose answer has type ``T``. Every API
operation is a generator ("op") that yields effects and receives their outcome (httpx's auth-flow
protocol: ``response = yield request``). ``yield from effect`` is the typed form: it yields the
effect and returns its answer as ``T`` (``status = yield from GetJob(...)`` in the Prefect layer).

The client core's effects:

* :class:`Send` — perform one HTTP request; the driver sends back the ``httpx.Response`` or the
  ``httpx.TransportError`` it raised (as a value, not thrown).
* :class:`Sleep` — wait this many seconds; receives ``None``.
* :class:`Gather` — run these sub-ops concurrently (at most ``limit`` at once); receives their
  results in order, or the first error is raised out of the driver.
* :class:`Emit` — (iterators only) hand these values to the consumer; receives ``None``.

An op returns its result through ``StopIteration.value``. The clients (``clients.py``) only execute
these instructions with ``httpx.AsyncClient`` / ``httpx.Client``. The Prefect layer adds its own
effects (client calls, artifacts, job tracking, the clock) in
``prefect_llamabatch.orchestration.effects``; its drivers run the same ``Sleep`` and ``Gather``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Union, cast

import httpx

from prefect_llamabatch.client.request import Request

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Effect(Generic[T_co]):
    """Something an op asks its driver to do; the driver answers with a ``T_co``.

    ``yield from effect`` yields it and returns the answer, typed: the one place where the
    driver's untyped ``send`` becomes the effect's result type.

    Example:
        ```python
        from prefect_llamabatch.client.effects import Op, Sleep

        def nap() -> Op[None]:
            yield from Sleep(0.5)  # the driver sleeps, then resumes the op

        op = nap()
        assert next(op) == Sleep(0.5)
        ```
    """

    __slots__ = ()

    def __iter__(self) -> Generator[Effect[T_co], Any, T_co]:
        answer = yield self
        return cast(T_co, answer)


@dataclass(frozen=True)
class Send(Effect[Union[httpx.Response, httpx.TransportError]]):
    """Perform one HTTP request."""

    request: Request


@dataclass(frozen=True)
class Sleep(Effect[None]):
    """Wait before the next attempt."""

    seconds: float


@dataclass(frozen=True)
class Gather(Effect[list[Any]]):
    """Run sub-ops concurrently, at most ``limit`` at a time; results come back in order."""

    ops: Sequence[Op[Any]]
    limit: int


@dataclass(frozen=True)
class Emit(Effect[None]):
    """Hand values to the consumer of an iterator op."""

    values: Sequence[Any]


Instruction = Union[Send, Sleep, Gather, Emit]
"""The effects the client drivers execute (the Prefect drivers execute more)."""
Op = Generator[Effect[Any], Any, T]
"""A generator of effects that returns a ``T`` (a client-core endpoint, or a task's steps)."""
Outcome = Union[httpx.Response, httpx.TransportError]
