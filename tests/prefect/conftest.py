"""Fixtures of the Prefect-layer tests: a real emulator over HTTP and a real Prefect API.

The Prefect API is the session-wide ``prefect_api`` fixture of ``tests/conftest.py`` (one
``prefect_test_harness``, ~20 s to start); every end-to-end test here requests ``prefect``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator, EmulatorConfig, run_emulator
from prefect_llamabatch.orchestration.waiting import WaitSettings

# Polls every 20-100 ms: the emulator's time_scale makes jobs take well under a second.
FAST = WaitSettings(
    poll_interval=0.02, backoff_factor=1.5, max_poll_interval=0.1, timeout_seconds=60
)

DOCS: dict[str, bytes] = {
    "a.txt": b"alpha document",
    "b.md": b"# beta\n\nsome text",
    "c.csv": b"x,y\n1,2\n",
    "bad-1.txt": b"this one fails",
    "empty.txt": b"",
}
"""Five files: ``bad-1.txt`` fails by pattern, ``empty.txt`` fails because it is empty."""


@pytest.fixture
def prefect(prefect_api: str) -> str:
    """The session's real Prefect API."""
    return prefect_api


def _emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    values: dict[str, Any] = {"time_scale": 0.01, "failure_patterns": ["bad-*"]}
    marker = request.node.get_closest_marker("emulator")
    if marker is not None:
        values.update(marker.kwargs)
    return EmulatorConfig.model_validate(values)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator(**config): EmulatorConfig overrides for `emu`")


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A fresh emulator on a free loopback port (configure with ``@pytest.mark.emulator(...)``)."""
    with run_emulator(_emulator_config(request)) as emulator:
        yield emulator


@pytest.fixture
def creds(emu: Emulator) -> LlamaCloudCredentials:
    """Credentials for the emulator, with quick client retries (outage tests stay fast)."""
    return LlamaCloudCredentials(
        api_key=emu.api_key, base_url=emu.base_url, max_retries=1, retry_deadline=1.0
    )


@pytest.fixture
def docs_dir(emu: Emulator) -> str:
    """A seeded directory of :data:`DOCS`; its id."""
    return emu.admin.seed_directory(DOCS, name="docs").id
