"""Shared fixtures. Keep this small; put test-specific helpers in the test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# `make test` runs one pytest-xdist worker per core, each with its own Prefect test API (a uvicorn
# child) and emulators: two API servers starting side by side on a loaded 2-core machine can take
# longer than Prefect's 20-30 s default. A slow start is not a failure; give it time (this also
# reaches the ephemeral APIs of the subprocesses some tests start).
PREFECT_API_STARTUP_TIMEOUT = 180
os.environ.setdefault(
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(PREFECT_API_STARTUP_TIMEOUT)
)

API_KEY = "llx-test-4f3c2b1a0SECRET"
BASE_URL = "https://api.llamacloud.test"


class FakeTime:
    """A clock that only moves when something sleeps on it (no real waiting in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = datetime(2030, 1, 1, tzinfo=timezone.utc)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def utcnow(self) -> datetime:
        return self.wall + timedelta(seconds=self.now - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def fake_time() -> FakeTime:
    """A fake monotonic/wall clock with sync and async ``sleep`` that advance it."""
    return FakeTime()


@pytest.fixture
def clean_llamacloud_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LlamaCloud variables from the developer's shell leak into a test."""
    for name in ("LLAMA_CLOUD_API_KEY", "LLAMA_PARSE_API_KEY", "LLAMA_CLOUD_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real, temporary Prefect API (``prefect_test_harness``), once per session; its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    # Per process, so per xdist worker: each worker gets its own database and API on a free port.
    with prefect_test_harness(server_startup_timeout=PREFECT_API_STARTUP_TIMEOUT):
        url = PREFECT_API_URL.value()
        assert url
        yield url
