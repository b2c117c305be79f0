"""Errors name the full URL (scheme, host, path); a base URL ending in ``/api/...`` is refused.

A wrong host used to show only the path, and ``https://host/api/v1`` produced requests to
``/api/v1/api/v1/…`` and a 404 naming that one path.
"""

from __future__ import annotations

import socket

import pytest

from prefect_llamabatch import (
    APIConnectionError,
    BatchClient,
    LlamaCloudCredentials,
    NotFoundError,
    RetryPolicy,
)
from prefect_llamabatch.emulator import Emulator

NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture
def emu(llamacloud_emulator: Emulator) -> Emulator:
    return llamacloud_emulator


def test_a_status_error_names_scheme_host_and_path(emu: Emulator) -> None:
    with BatchClient(emu.api_key, base_url=emu.base_url, retry=NO_RETRY) as client:
        with pytest.raises(NotFoundError) as info:
            client.get_job("bjb-missing", project_id=emu.project_id)
    url = f"{emu.base_url}/api/v1/beta/batch-processing/bjb-missing"
    assert info.value.url == url
    assert f"404 Not Found from GET {url}" in str(info.value)
    assert "project_id" not in str(info.value)  # the query string is not part of it


def test_a_wrong_host_is_named_in_the_connection_error() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with BatchClient("llx-some-key-1234", base_url=base, retry=NO_RETRY) as client:
        with pytest.raises(APIConnectionError) as info:
            client.list_jobs()
    assert info.value.url == f"{base}/api/v1/beta/batch-processing"
    assert str(info.value).startswith(f"Connection error on GET {base}/api/v1/beta/")
    assert info.value.sent is False


@pytest.mark.parametrize(
    "suffix", ["/api", "/api/v1", "/api/v1/", "/API/V1", "/api/v2", "/api/v1/beta/batch-processing"]
)
def test_a_base_url_ending_in_the_api_prefix_is_refused_with_the_url_to_use(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    given = emu.base_url + suffix
    for build in (
        lambda: BatchClient(emu.api_key, base_url=given),
        lambda: LlamaCloudCredentials(api_key=emu.api_key, base_url=given),
    ):
        with pytest.raises(ValueError) as info:
            build()
        message = str(info.value)
        assert "base_url" in message and repr(emu.base_url) in message, message
        assert "/api/v1/" in message  # says what would have happened
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", given)
    with pytest.raises(ValueError, match="give the host only"):
        BatchClient(emu.api_key)
    assert emu.admin.request_log() == []


@pytest.mark.parametrize(
    "url", ["https://gateway.example.com/llamacloud", "https://example.com/apis", "https://a.b/v1"]
)
def test_other_base_url_paths_are_kept(url: str) -> None:
    with BatchClient("llx-some-key-1234", base_url=url) as client:
        assert client.base_url == url
