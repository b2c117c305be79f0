"""Retry rules: what is retried, how long the client waits, when it stops, what it logs."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from prefect_llamabatch import (
    APIConnectionError,
    APIStatusError,
    AsyncBatchClient,
    BatchClient,
    RetryPolicy,
    ServerError,
)
from prefect_llamabatch.client.errors import error_for_status
from prefect_llamabatch.client.retries import Attempt, Done, RetryLoop, Wait, parse_retry_after
from tests.conftest import API_KEY, BASE_URL, FakeTime

JOB_PATH = "/api/v1/beta/batch-processing/bjb-1"
JOB_STATUS = {
    "job": {
        "id": "bjb-1",
        "job_type": "parse",
        "project_id": "proj-1",
        "status": "running",
        "total_items": 3,
    },
    "progress_percentage": 33.3,
}
OK = httpx.Response(200, json=JOB_STATUS)


def policy(fake_time: FakeTime, **settings: Any) -> RetryPolicy:
    return RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow, **settings)


def client(fake_time: FakeTime, **settings: Any) -> BatchClient:
    return BatchClient(
        API_KEY, base_url=BASE_URL, retry=policy(fake_time, **settings), sleep=fake_time.sleep
    )


def get_job_with(fake_time: FakeTime, responses: list[Any], **settings: Any) -> respx.Route:
    """Run ``get_job`` against scripted responses; return the route (its calls)."""
    with respx.mock(base_url=BASE_URL) as mock, client(fake_time, **settings) as c:
        route = mock.get(JOB_PATH).mock(side_effect=responses)
        c.get_job("bjb-1")
    return route


# ---- parse_retry_after ----------------------------------------------------------------


def test_retry_after_forms(fake_time: FakeTime) -> None:
    now = fake_time.utcnow()
    in_seven = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({"Retry-After": "1.5"}) == 1.5
    assert parse_retry_after({"Retry-After": in_seven}, now=now) == 7.0
    # A date in the past, negative numbers: retry now, not never.
    assert parse_retry_after({"Retry-After": format_datetime(now - timedelta(hours=1))}, now) == 0
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    # retry-after-ms wins over Retry-After; garbage is ignored.
    assert parse_retry_after({"retry-after-ms": "100", "retry-after": "9"}) == 0.1
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0
    assert parse_retry_after({"retry-after": "whenever"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({}) is None


# ---- which failures are retried ---------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(fake_time: FakeTime, status: int) -> None:
    route = get_job_with(fake_time, [httpx.Response(status), httpx.Response(status), OK])
    assert route.call_count == 3
    assert len(fake_time.sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 418])
def test_other_statuses_are_not_retried(fake_time: FakeTime, status: int) -> None:
    with pytest.raises(APIStatusError) as info:
        get_job_with(fake_time, [httpx.Response(status), OK])
    assert info.value.status_code == status
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.PoolTimeout("pool"),
    ],
)
def test_transport_errors_are_retried(fake_time: FakeTime, error: Exception) -> None:
    route = get_job_with(fake_time, [error, OK])
    assert route.call_count == 2


def test_x_should_retry_true_retries_a_400(fake_time: FakeTime) -> None:
    route = get_job_with(fake_time, [httpx.Response(400, headers={"x-should-retry": "true"}), OK])
    assert route.call_count == 2


def test_x_should_retry_false_stops_a_503(fake_time: FakeTime) -> None:
    with pytest.raises(ServerError):
        get_job_with(fake_time, [httpx.Response(503, headers={"x-should-retry": "false"}), OK])
    assert fake_time.sleeps == []


def test_policy_predicate_matches_the_rules() -> None:
    p = RetryPolicy()
    for status in (408, 429, 500, 502, 503, 504):
        assert p.is_retryable(error_for_status(status, method="GET", path="/"))
    for status in (400, 401, 403, 404, 409, 422):
        assert not p.is_retryable(error_for_status(status, method="GET", path="/"))
    assert p.is_retryable(APIConnectionError("x", method="GET", path="/"))
    assert not p.is_retryable(ValueError("not ours"))
    custom = RetryPolicy(retry_statuses=frozenset({409}))
    assert custom.is_retryable(error_for_status(409, method="GET", path="/"))
    assert not custom.is_retryable(error_for_status(503, method="GET", path="/"))


# ---- how long it waits ----------------------------------------------------------------


def test_retry_after_seconds_is_honoured(fake_time: FakeTime) -> None:
    get_job_with(fake_time, [httpx.Response(429, headers={"Retry-After": "3"}), OK])
    assert fake_time.sleeps == [3.0]


def test_retry_after_http_date_is_honoured(fake_time: FakeTime) -> None:
    when = format_datetime(fake_time.utcnow() + timedelta(seconds=5), usegmt=True)
    get_job_with(fake_time, [httpx.Response(503, headers={"Retry-After": when}), OK])
    assert fake_time.sleeps == [5.0]


def test_retry_after_ms_is_honoured(fake_time: FakeTime) -> None:
    get_job_with(fake_time, [httpx.Response(429, headers={"retry-after-ms": "1250"}), OK])
    assert fake_time.sleeps == [1.25]


def test_retry_after_is_capped(fake_time: FakeTime) -> None:
    get_job_with(
        fake_time,
        [httpx.Response(429, headers={"Retry-After": "3600"}), OK],
        max_retry_after=20.0,
        deadline=None,
    )
    assert fake_time.sleeps == [20.0]


def test_backoff_has_full_jitter_within_exponential_bounds(fake_time: FakeTime) -> None:
    # Without Retry-After: uniform(0, min(0.5 * 2**(n-1), 30)) for retry n.
    bounds = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    samples: list[list[float]] = [[] for _ in bounds]
    for _ in range(40):
        fake_time.sleeps.clear()
        with pytest.raises(ServerError):
            get_job_with(
                fake_time, [httpx.Response(503)] * (len(bounds) + 1), max_retries=len(bounds)
            )
        assert len(fake_time.sleeps) == len(bounds)
        for index, slept in enumerate(fake_time.sleeps):
            samples[index].append(slept)
    for bound, values in zip(bounds, samples, strict=True):
        assert all(0.0 <= v <= bound for v in values), (bound, values)
        # Full jitter spreads over the window rather than sitting at its top.
        assert min(values) < 0.5 * bound < max(values)


def test_backoff_settings_are_configurable(fake_time: FakeTime) -> None:
    with pytest.raises(ServerError):
        get_job_with(
            fake_time,
            [httpx.Response(500)] * 4,
            max_retries=3,
            initial_delay=0.1,
            backoff_factor=3.0,
            max_delay=0.5,
        )
    for slept, bound in zip(fake_time.sleeps, [0.1, 0.3, 0.5], strict=True):
        assert 0.0 <= slept <= bound


# ---- when it stops ----------------------------------------------------------------------


def test_stops_after_max_retries(fake_time: FakeTime) -> None:
    with pytest.raises(ServerError) as info:
        get_job_with(fake_time, [httpx.Response(502)] * 5, max_retries=2)
    assert info.value.status_code == 502
    assert len(fake_time.sleeps) == 2


def test_max_retries_zero_means_one_attempt(fake_time: FakeTime) -> None:
    with pytest.raises(ServerError):
        get_job_with(fake_time, [httpx.Response(503), OK], max_retries=0)
    assert fake_time.sleeps == []


def test_stops_before_the_deadline(fake_time: FakeTime) -> None:
    # Attempts at t=0, 4, 8; the next would start at 12 > 10.
    responses = [httpx.Response(503, headers={"Retry-After": "4"})] * 6
    with pytest.raises(ServerError):
        get_job_with(fake_time, responses, deadline=10.0, max_retries=10)
    assert fake_time.sleeps == [4.0, 4.0]


def test_deadline_counts_time_spent_in_requests(fake_time: FakeTime) -> None:
    def slow_503(request: httpx.Request) -> httpx.Response:
        fake_time.now += 6.0  # the request itself took 6 s
        return httpx.Response(503, headers={"Retry-After": "1"})

    with pytest.raises(ServerError):
        get_job_with(fake_time, [slow_503] * 5, deadline=10.0, max_retries=10)
    # t=6 after the first attempt: retry; t=13 after the second: past the deadline.
    assert fake_time.sleeps == [1.0]


def test_jittered_backoff_never_sleeps_past_the_deadline(fake_time: FakeTime) -> None:
    # The deadline check and the sleep must use the same random delay: with two samples a
    # retry could be allowed for a short delay and then sleep a long one past the deadline.
    for _ in range(50):
        fake_time.sleeps.clear()
        start = fake_time.now
        with pytest.raises(ServerError):
            get_job_with(
                fake_time,
                [httpx.Response(503)] * 40,
                deadline=3.0,
                max_retries=30,
                initial_delay=1.0,
                max_delay=2.0,
            )
        assert fake_time.sleeps, "a first retry always fits: its window is 1 s"
        assert fake_time.now - start < 3.0


def test_retry_loop_steps_through_tenacity(fake_time: FakeTime) -> None:
    loop: RetryLoop[str] = RetryLoop(policy(fake_time, max_retries=1))
    assert isinstance(loop.next(), Attempt)
    loop.failed(error_for_status(503, method="GET", path="/", headers={"retry-after": "2"}))
    step = loop.next()
    assert isinstance(step, Wait) and float(step) == 2.0
    assert isinstance(loop.next(), Attempt)
    assert loop.attempt_number == 2
    loop.succeeded("done")
    final = loop.next()
    assert isinstance(final, Done) and final.value == "done"


def test_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=0)
    with pytest.raises(ValueError, match="backoff_factor"):
        RetryPolicy(backoff_factor=0.5)


# ---- logging ------------------------------------------------------------------------------


def test_each_retry_is_logged_at_warning_without_secrets(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="prefect_llamabatch")
    get_job_with(
        fake_time,
        [
            httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "maintenance"}),
            httpx.ConnectError("refused"),
            OK,
        ],
    )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "Retrying in 2.00 s (retry 1 of 5) after: 503 Service Unavailable from GET "
        f"{BASE_URL}/api/v1/beta/batch-processing/bjb-1: maintenance",
        f"Retrying in {fake_time.sleeps[1]:.2f} s (retry 2 of 5) after: Connection error on GET "
        f"{BASE_URL}/api/v1/beta/batch-processing/bjb-1: ConnectError: refused",
    ]
    assert all(r.name == "prefect_llamabatch.client" for r in warnings)
    assert API_KEY not in caplog.text


# ---- the async client shares the rules ----------------------------------------------------


async def test_async_client_retries_with_the_same_rules(fake_time: FakeTime) -> None:
    async_client = AsyncBatchClient(
        API_KEY, base_url=BASE_URL, retry=policy(fake_time), sleep=fake_time.async_sleep
    )
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(JOB_PATH).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "2"}),
                httpx.ReadError("x"),
                OK,
            ]
        )
        async with async_client:
            status = await async_client.get_job("bjb-1")
    assert status.progress_percentage == 33.3
    assert route.call_count == 3
    assert fake_time.sleeps[0] == 2.0 and 0 <= fake_time.sleeps[1] <= 1.0
    assert async_client.stats.retries == 2 and async_client.stats.requests == 3


def test_stats_count_requests_and_retries(fake_time: FakeTime) -> None:
    with respx.mock(base_url=BASE_URL) as mock, client(fake_time) as c:
        mock.get(JOB_PATH).mock(side_effect=[httpx.Response(500), OK, OK])
        c.get_job("bjb-1")
        c.get_job("bjb-1")
        assert c.stats.requests == 3 and c.stats.retries == 1 and c.stats.reconciliations == 0
