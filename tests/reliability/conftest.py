"""Fixtures of the reliability and security suite (see docs/reliability.md)."""

from __future__ import annotations

import pytest

from prefect_llamabatch.emulator import Emulator


@pytest.fixture
def emu(llamacloud_emulator: Emulator) -> Emulator:
    """The emulator of the test (the package's own pooled fixture, reset after each test)."""
    return llamacloud_emulator


@pytest.fixture
def emu_env(llamacloud_env: Emulator) -> Emulator:
    """The emulator, with ``LLAMA_CLOUD_BASE_URL``/``LLAMA_CLOUD_API_KEY`` pointing at it."""
    return llamacloud_env
