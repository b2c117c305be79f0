"""The instructions of the sans-IO client core, and the op type that yields them.

Every API operation is a generator ("op") that yields instructions and receives their outcome:

* :class:`Send` — perform one HTTP request; the driver sends back the ``httpx.Response`` or the
  ``httpx.TransportError`` it raised (as a value, not thrown).
* :class:`Sleep` — wait this many seconds; receives ``None``.
* :class:`Gather` — run these sub-ops concurrently (at most ``limit`` at once); receives their
  results in order, or the first error is raised out of the driver.
* :class:`Emit` — (iterators only) hand these values to the consumer; receives ``None``.

An op returns its result through ``StopIteration.value``. The clients (``client.py``) only execute
these instructions with ``httpx.AsyncClient`` / ``httpx.Client``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

import httpx

from prefect_llamabatch._requests import Request

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Perform one HTTP request."""

    request: Request


@dataclass(frozen=True)
class Sleep:
    """Wait before the next attempt."""

    seconds: float


@dataclass(frozen=True)
class Gather:
    """Run sub-ops concurrently, at most ``limit`` at a time; results come back in order."""

    ops: Sequence[Op[Any]]
    limit: int


@dataclass(frozen=True)
class Emit:
    """Hand values to the consumer of an iterator op."""

    values: Sequence[Any]


Instruction = Union[Send, Sleep, Gather, Emit]
Op = Generator[Instruction, Any, T]
Outcome = Union[httpx.Response, httpx.TransportError]
