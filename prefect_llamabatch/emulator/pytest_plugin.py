"""pytest fixtures for running tests against a local LlamaCloud emulator.

Installed with the package (``pytest11`` entry point), so any test suite can use:

* ``llamacloud_emulator``: a running :class:`~prefect_llamabatch.emulator.Emulator`, fresh for
  each test (start-up takes about 15 ms). Configure it per test with
  ``@pytest.mark.llamacloud_emulator(time_scale=0.001, failure_patterns=["*bad*"])`` or for a
  whole module by overriding the ``llamacloud_emulator_config`` fixture.
* ``llamacloud_env``: the same emulator, with ``LLAMA_CLOUD_BASE_URL`` and
  ``LLAMA_CLOUD_API_KEY`` set for the test.

Example:
    ```python
    import httpx

    def test_lists_no_jobs(llamacloud_emulator):
        response = httpx.get(
            f"{llamacloud_emulator.base_url}/api/v1/beta/batch-processing",
            headers={"Authorization": f"Bearer {llamacloud_emulator.api_key}"},
        )
        assert response.json()["items"] == []
    ```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the emulator (FastAPI, uvicorn) is imported only when a test uses it
    from prefect_llamabatch.emulator import Emulator, EmulatorConfig

MARKER = "llamacloud_emulator"
# Tests want speed: 100 ms items take 1 ms unless a test says otherwise.
DEFAULT_TEST_OVERRIDES: dict[str, Any] = {"time_scale": 0.01}


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that configures the emulator fixture."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**config): EmulatorConfig fields for the llamacloud_emulator fixture",
    )


@pytest.fixture
def llamacloud_emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    """The config of ``llamacloud_emulator``: test defaults, then the test's marker kwargs."""
    from prefect_llamabatch.emulator import EmulatorConfig

    values = dict(DEFAULT_TEST_OVERRIDES)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        values.update(marker.kwargs)
    return EmulatorConfig.model_validate(values)


@pytest.fixture
def llamacloud_emulator(llamacloud_emulator_config: EmulatorConfig) -> Iterator[Emulator]:
    """A running emulator on a free loopback port, stopped and wiped after the test."""
    from prefect_llamabatch.emulator import Emulator

    with Emulator(llamacloud_emulator_config) as emulator:
        yield emulator


@pytest.fixture
def llamacloud_env(
    llamacloud_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """``llamacloud_emulator`` with ``LLAMA_CLOUD_BASE_URL``/``LLAMA_CLOUD_API_KEY`` pointing at it."""
    for name, value in llamacloud_emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LLAMA_PARSE_API_KEY", raising=False)
    yield llamacloud_emulator
