"""pytest fixtures for running tests against a local LlamaCloud emulator.

Installed with the package (``pytest11`` entry point), so any test suite can use:

* ``llamacloud_emulator``: a running :class:`~prefect_llamabatch.emulator.Emulator` in its start
  state for each test (servers are pooled per config and reset between tests). Configure it with
  ``@pytest.mark.llamacloud_emulator(time_scale=0.001, failure_patterns=["*bad*"])`` or for a
  whole module by overriding the ``llamacloud_emulator_config`` fixture.
* ``llamacloud_env``: the same emulator, with ``LLAMA_CLOUD_BASE_URL`` and
  ``LLAMA_CLOUD_API_KEY`` set for the test.

The emulator is *strict* (see :class:`~prefect_llamabatch.emulator.EmulatorConfig`): no
``Idempotency-Key``, 422 for ``limit`` above 1,000, enum filters spelled exactly. Its listing
order is ``--llamacloud-list-order`` (default ``oldest_first``; run the suite once with
``newest_first`` too, since LlamaCloud documents neither). A test of a convenience turns it on
with the marker and says so in its name.

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
# Tests want speed: 100 ms items take 1 ms unless a test says otherwise. A fixed admin token lets
# equal configs share a pooled server.
DEFAULT_TEST_OVERRIDES: dict[str, Any] = {
    "time_scale": 0.01,
    "admin_token": "pytest-llamacloud-emulator-admin",
}


LIST_ORDER_OPTION = "--llamacloud-list-order"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--llamacloud-list-order``: the default listing order of the emulator fixture."""
    parser.addoption(
        LIST_ORDER_OPTION,
        choices=("oldest_first", "newest_first"),
        default="oldest_first",
        help="listing order of the llamacloud_emulator fixture unless a test's marker sets one",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that configures the emulator fixture."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**config): EmulatorConfig fields for the llamacloud_emulator fixture",
    )


class EmulatorPool:
    """Running emulators kept across tests, reset between them.

    Starting takes ~15 ms but uvicorn's shutdown takes ~150 ms, so each config's server is kept
    and reset (all state wiped; faults, settings and frozen state back to the config) instead.
    Configs with a database file or data folder always get a fresh server.
    """

    def __init__(self) -> None:
        self._idle: dict[str, list[Emulator]] = {}
        self._all: list[Emulator] = []

    @staticmethod
    def _key(config: EmulatorConfig) -> str | None:
        if config.db_path is not None or config.data_dir is not None:
            return None
        return config.model_dump_json(context={"reveal_secrets": True}) + repr(
            [(k.key.get_secret_value(), k.organization_id, k.project_ids) for k in config.api_keys]
            + [config.admin_token.get_secret_value()]
        )

    def acquire(self, config: EmulatorConfig) -> Emulator:
        """A running, clean emulator for this config."""
        from prefect_llamabatch.emulator import Emulator

        key = self._key(config)
        idle = self._idle.get(key, []) if key is not None else []
        while idle:
            emulator = idle.pop()
            if emulator.running:
                return emulator
            emulator.close()
        emulator = Emulator(config).start()
        self._all.append(emulator)
        return emulator

    def release(self, emulator: Emulator) -> None:
        """Reset the emulator and keep it for the next test with the same config."""
        key = self._key(emulator.config)
        if key is None or not emulator.running:
            emulator.close()
            return
        try:
            emulator.admin.reset()
        except Exception:
            emulator.close()
            raise
        self._idle.setdefault(key, []).append(emulator)

    def close(self) -> None:
        """Stop every emulator."""
        for emulator in self._all:
            emulator.close()
        self._all.clear()
        self._idle.clear()


@pytest.fixture(scope="session")
def llamacloud_emulator_pool() -> Iterator[EmulatorPool]:
    """The session's pool of running emulators (used by ``llamacloud_emulator``)."""
    pool = EmulatorPool()
    yield pool
    pool.close()


@pytest.fixture
def llamacloud_emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    """The config of ``llamacloud_emulator``: test defaults, then the test's marker kwargs."""
    from prefect_llamabatch.emulator import EmulatorConfig

    values = dict(DEFAULT_TEST_OVERRIDES)
    values["list_order"] = request.config.getoption(LIST_ORDER_OPTION, default="oldest_first")
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        values.update(marker.kwargs)
    return EmulatorConfig.model_validate(values)


@pytest.fixture
def llamacloud_emulator(
    llamacloud_emulator_config: EmulatorConfig, llamacloud_emulator_pool: EmulatorPool
) -> Iterator[Emulator]:
    """A running emulator on a loopback port, in its start state; reset after the test."""
    emulator = llamacloud_emulator_pool.acquire(llamacloud_emulator_config)
    try:
        yield emulator
    finally:
        llamacloud_emulator_pool.release(emulator)


@pytest.fixture
def llamacloud_env(
    llamacloud_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """``llamacloud_emulator`` with ``LLAMA_CLOUD_BASE_URL``/``LLAMA_CLOUD_API_KEY`` pointing at it."""
    for name, value in llamacloud_emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LLAMA_PARSE_API_KEY", raising=False)
    yield llamacloud_emulator
