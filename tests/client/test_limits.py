"""Every request is bounded: a total deadline, a body cap, no redirect followed (issue 10).

Against real servers on 127.0.0.1 (:mod:`tests.client.hostile_server`); no timed assertions:
each test asserts the error and that the call returned (pytest-timeout guards a hang).
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from typing import Any

import pytest

from prefect_llamabatch import AsyncBatchClient, BatchClient, RetryPolicy
from prefect_llamabatch.client.clients import DEFAULT_MAX_RESPONSE_BYTES
from prefect_llamabatch.client.errors import (
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
)
from tests.client.hostile_server import Drip, Flood, HostileServer, MiB, hostile_server
from tests.reliability.scripted_server import Hang, Reply, json_reply

API_KEY = "llx-limits-test-key-0123456789"
NO_RETRY = RetryPolicy(max_retries=0)
JOB = {
    "job": {
        "id": "bjb-1",
        "status": "running",
        "job_type": "parse",
        "project_id": "p-1",
        "total_items": 1,
    }
}
KINDS = ["sync", "async"]


@pytest.fixture(scope="module")
def server() -> Any:
    with hostile_server() as running:
        yield running


def get_job(kind: str, server: HostileServer, **options: Any) -> Any:
    """``get_job`` through the sync or the async client, without retries."""
    settings = {"base_url": server.base_url, "retry": NO_RETRY, **options}
    if kind == "sync":
        with BatchClient(API_KEY, **settings) as client:
            return client.get_job("bjb-1")

    async def main() -> Any:
        async with AsyncBatchClient(API_KEY, **settings) as client:
            return await client.get_job("bjb-1")

    return asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_a_drip_fed_body_fails_at_the_request_deadline(kind: str, server: HostileServer) -> None:
    # A byte every 0.4 s: no single read ever reaches httpx's 5 s timeout.
    server.reset(lambda _seen: Drip(size=1000, interval=0.4))
    with pytest.raises(APITimeoutError) as caught:
        get_job(kind, server, timeout=5.0, request_deadline=1.5)
    message = str(caught.value)
    assert f"GET {server.base_url}/api/v1/beta/batch-processing/bjb-1" in message
    assert "1.5 s deadline" in message and caught.value.sent
    assert len(server.seen) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_stalled_body_fails_at_the_request_deadline(kind: str, server: HostileServer) -> None:
    server.reset(lambda _seen: Hang(after_headers=True))
    with pytest.raises(APITimeoutError, match="deadline"):
        get_job(kind, server, timeout=25.0, request_deadline=1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_deadline_is_retried_like_any_timeout(kind: str, server: HostileServer) -> None:
    server.reset(lambda _seen: Drip(size=1000, interval=0.4))
    with pytest.raises(APITimeoutError):
        get_job(kind, server, request_deadline=0.5, retry=RetryPolicy(max_retries=1))
    assert len(server.seen) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_streamed_body_over_the_cap_is_refused(kind: str, server: HostileServer) -> None:
    server.reset(lambda _seen: Flood(total=500 * MiB))
    with pytest.raises(APIResponseValidationError, match=r"max_response_bytes \(4194304\)"):
        get_job(kind, server, max_response_bytes=4 * MiB)


@pytest.mark.parametrize("kind", KINDS)
def test_a_declared_length_over_the_cap_is_refused_unread(kind: str, server: HostileServer) -> None:
    server.reset(lambda _seen: Flood(total=500 * MiB, declare=True))
    with pytest.raises(APIResponseValidationError, match=f"declares {500 * MiB} bytes"):
        get_job(kind, server)


@pytest.mark.parametrize("kind", KINDS)
def test_the_cap_counts_decoded_bytes(kind: str, server: HostileServer) -> None:
    bomb = gzip.compress(b"0" * (32 * MiB))  # ~32 KiB on the wire
    server.reset(lambda _seen: Reply(200, bomb, headers={"content-encoding": "gzip"}))
    with pytest.raises(APIResponseValidationError, match="passed"):
        get_job(kind, server, max_response_bytes=MiB)


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_exactly_at_the_cap_is_read(kind: str, server: HostileServer) -> None:
    reply = json_reply(JOB)
    server.reset(lambda _seen: reply)
    assert get_job(kind, server, max_response_bytes=len(reply.body)).job.id == "bjb-1"
    with pytest.raises(APIResponseValidationError):
        get_job(kind, server, max_response_bytes=len(reply.body) - 1)


def test_a_500_mb_body_costs_about_the_default_cap_at_most(server: HostileServer) -> None:
    server.reset(lambda _seen: Flood(total=500 * MiB))
    tracemalloc.start()
    try:
        with pytest.raises(APIResponseValidationError, match=str(DEFAULT_MAX_RESPONSE_BYTES)):
            get_job("sync", server)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * DEFAULT_MAX_RESPONSE_BYTES


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_naming_the_location(
    kind: str, status: int, server: HostileServer
) -> None:
    target = "https://elsewhere.example/api/v1/beta/batch-processing/bjb-1"
    server.reset(lambda _seen: Reply(status, b"", headers={"location": target}))
    with pytest.raises(APIStatusError) as caught:
        get_job(kind, server)
    assert caught.value.status_code == status and target in str(caught.value)
    assert len(server.seen) == 1  # not followed, not retried


def test_a_location_quoting_the_api_key_is_redacted(server: HostileServer) -> None:
    target = f"https://elsewhere.example/?key={API_KEY}"
    server.reset(lambda _seen: Reply(302, b"", headers={"location": target}))
    with pytest.raises(APIStatusError) as caught:
        get_job("sync", server)
    assert API_KEY not in str(caught.value) and "elsewhere.example" in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [("request_deadline", 0), ("request_deadline", True), ("max_response_bytes", 0)],
)
def test_bad_limits_are_refused(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        BatchClient(API_KEY, base_url="http://127.0.0.1:9", **{option: value})  # type: ignore[arg-type]


def test_the_deadline_defaults_to_the_timeout_and_caps_every_phase() -> None:
    with BatchClient(API_KEY, base_url="http://127.0.0.1:9", timeout=12.5) as client:
        assert client.request_deadline == 12.5
        assert client.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    with BatchClient(
        API_KEY, base_url="http://127.0.0.1:9", timeout=30.0, request_deadline=2.0
    ) as client:
        assert client._http.timeout.read == 2.0 and client._http.timeout.connect == 2.0
