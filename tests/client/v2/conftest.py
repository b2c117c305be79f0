"""Fixtures of the v2 client tests: clients of the emulator, and the emulator's own view."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx
import pytest

from prefect_llamabatch import BatchClient, RetryPolicy
from prefect_llamabatch.emulator import Emulator

T = TypeVar("T")
PARSE_FAST = {"product_type": "parse_v2", "tier": "fast", "version": "latest"}


def no_sleep(_seconds: float) -> None:
    """Retries happen at once: the emulator's faults are counted, not timed."""


async def no_async_sleep(_seconds: float) -> None:
    """Async twin of :func:`no_sleep`."""


def make_client(emu: Emulator, *, clock_ahead: float = 0.0, **policy: Any) -> BatchClient:
    """A sync client of the emulator; ``clock_ahead`` puts its wall clock off the server's."""
    retry = RetryPolicy(
        utcnow=lambda: datetime.now(timezone.utc) + timedelta(seconds=clock_ahead), **policy
    )
    return BatchClient(
        emu.api_key, base_url=emu.base_url, timeout=10.0, retry=retry, sleep=no_sleep
    )


@pytest.fixture
def client(llamacloud_emulator: Emulator) -> Iterator[BatchClient]:
    with make_client(llamacloud_emulator) as c:
        yield c


@pytest.fixture
def raw(llamacloud_emulator: Emulator) -> Iterator[httpx.Client]:
    """Plain HTTP to the emulator: what is really stored, without the client under test."""
    emu = llamacloud_emulator
    with httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=10.0
    ) as c:
        yield c


def stored_batches(raw: httpx.Client) -> list[dict[str, Any]]:
    """Every batch the emulator holds for the default project (one page of up to 1,000)."""
    response = raw.get("/api/v2/batches", params={"page_size": 1000})
    response.raise_for_status()
    body = response.json()
    assert body["next_page_token"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


def stored_configurations(raw: httpx.Client) -> list[dict[str, Any]]:
    response = raw.get("/api/v1/beta/configurations", params={"page_size": 1000})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def eventually(check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """Poll until ``check()`` is truthy (an observable event), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
