"""The pytest plugin: installed through the entry point, configurable, pooled and reset."""

from __future__ import annotations

import httpx
import pytest

from prefect_llamabatch.emulator import EmulatorConfig
from prefect_llamabatch.emulator.pytest_plugin import EmulatorPool
from tests.emulator.conftest import JOBS, client_for, create_job

pytest_plugins = ["pytester"]


def test_a_users_suite_gets_the_fixtures_from_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import httpx
        import pytest

        def test_default(llamacloud_emulator):
            r = httpx.get(
                llamacloud_emulator.base_url + "/api/v1/beta/batch-processing",
                headers={"Authorization": "Bearer " + llamacloud_emulator.api_key},
            )
            assert r.json()["total_size"] == 0
            assert llamacloud_emulator.config.time_scale == 0.01

        @pytest.mark.llamacloud_emulator(api_keys=["k:org:p"], failure_patterns=["*x*"])
        def test_marker(llamacloud_env):
            assert os.environ["LLAMA_CLOUD_API_KEY"] == "k"
            assert os.environ["LLAMA_CLOUD_BASE_URL"] == llamacloud_env.base_url
            assert llamacloud_env.config.failure_patterns == ["*x*"]
        """
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_pool_reuses_a_server_and_resets_it() -> None:
    pool = EmulatorPool()
    config = EmulatorConfig(time_scale=0.01, admin_token="t")
    try:
        first = pool.acquire(config)
        first.admin.settings(concurrency=9)
        first.admin.freeze()
        docs = first.admin.seed_directory({"a.txt": "a"})
        with client_for(first) as api:
            create_job(api, directory_id=docs.id)
        pool.release(first)
        second = pool.acquire(EmulatorConfig(time_scale=0.01, admin_token="t"))
        assert second is first  # same server, same port
        with client_for(second) as api:
            assert api.get(JOBS).json()["total_size"] == 0
            assert api.get(f"/api/v1/beta/directories/{docs.id}").status_code == 404
        info = httpx.get(
            f"{second.base_url}/_emulator/info", headers={"X-Emulator-Admin-Token": "t"}
        ).json()
        assert info["settings"]["concurrency"] == 4 and info["frozen"] is False
        other = pool.acquire(EmulatorConfig(time_scale=0.5, admin_token="t"))
        assert other is not second  # another config, another server
        pool.release(second)
        pool.release(other)
        file_backed = EmulatorConfig(time_scale=0.01, admin_token="t", data_dir=".")
        assert pool._key(file_backed) is None  # never shared
    finally:
        pool.close()
    assert not first.running
