"""Retry behaviours that mutation testing found unpinned (``docs/mutation.md``).

Each test states a guarantee of :mod:`prefect_llamabatch.client.retries` that a surviving mutant
broke without any other test noticing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from prefect_llamabatch import RetryPolicy, ServerError
from prefect_llamabatch.client.errors import APIResponseValidationError, error_for_status
from prefect_llamabatch.client.retries import Attempt, Done, RetryLoop, Wait, parse_retry_after
from tests.client.test_retries import OK, get_job_with, policy
from tests.conftest import FakeTime


def test_an_http_date_is_read_against_the_real_utc_clock() -> None:
    # Without an injected clock the delay is counted from now, in UTC (an hour ahead: close to
    # 3600 s whatever the machine's zone), never a TypeError from mixing zones.
    when = format_datetime(datetime.now(timezone.utc) + timedelta(hours=1), usegmt=True)
    delay = parse_retry_after({"Retry-After": when})
    assert delay is not None and 3000 < delay <= 3600
    assert (
        RetryPolicy().server_delay(
            error_for_status(503, method="GET", path="/", headers={"retry-after": when})
        )
        == 60.0
    )


@pytest.mark.parametrize(("zone", "delay"), [("-0000", 30.0), ("+0100", 0.0), ("-0100", 3630.0)])
def test_an_http_date_is_read_in_its_own_zone(zone: str, delay: float) -> None:
    # "-0000" (no zone information) is read as UTC; an explicit offset is honoured.
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    header = f"Tue, 01 Jan 2030 12:00:30 {zone}"
    assert parse_retry_after({"Retry-After": header}, now=now) == delay


def test_a_malformed_success_reached_the_server() -> None:
    # A 2xx whose body fails validation was acted on: a create that failed so must be looked
    # for, never blindly re-sent.
    exc = APIResponseValidationError("bad body", method="POST", path="/x", status_code=200)
    assert RetryPolicy.reached_server(exc) is True
    assert RetryPolicy.reached_server(RuntimeError("anything else")) is True


def test_a_loop_honours_its_own_max_retries(fake_time: FakeTime) -> None:
    # One operation may allow fewer retries than the policy (max_retries=0: one attempt).
    loop: RetryLoop[str] = RetryLoop(policy(fake_time, max_retries=5), max_retries=0)
    assert isinstance(loop.next(), Attempt)
    loop.failed(error_for_status(503, method="GET", path="/", headers={}))
    with pytest.raises(ServerError):
        loop.next()


def test_no_attempt_starts_exactly_at_the_deadline(fake_time: FakeTime) -> None:
    # A Retry-After that lands the next attempt exactly on the deadline: no retry.
    with pytest.raises(ServerError):
        get_job_with(
            fake_time,
            [httpx.Response(503, headers={"Retry-After": "10"}), OK],
            deadline=10.0,
        )
    assert fake_time.sleeps == []


def test_after_a_success_there_is_no_last_error(fake_time: FakeTime) -> None:
    # last_error is set only while the latest attempt has failed: not before, not after success.
    loop: RetryLoop[str] = RetryLoop(policy(fake_time, max_retries=1))
    assert loop.last_error is None
    loop.next()
    loop.failed(error_for_status(503, method="GET", path="/", headers={"retry-after": "1"}))
    assert isinstance(loop.last_error, ServerError)
    assert isinstance(loop.next(), Wait) and isinstance(loop.next(), Attempt)
    loop.succeeded("done")
    assert loop.last_error is None
    final = loop.next()
    assert isinstance(final, Done) and final.value == "done"


def test_the_backoff_window_grows_by_the_backoff_factor(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Full jitter draws uniform(0, window); drawing the window's top shows the windows
    # themselves: initial_delay * backoff_factor ** (retry - 1), capped at max_delay.
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    with pytest.raises(ServerError):
        get_job_with(
            fake_time,
            [httpx.Response(500)] * 5,
            max_retries=4,
            initial_delay=1.0,
            backoff_factor=3.0,
            max_delay=20.0,
            deadline=None,
        )
    assert fake_time.sleeps == [1.0, 3.0, 9.0, 20.0]
