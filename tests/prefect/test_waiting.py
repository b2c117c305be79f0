"""The wait loop's pure logic, driven by an in-memory port with a fake clock (no HTTP, no sleep)."""

from __future__ import annotations

import itertools
import logging

import pytest
from pydantic import ValidationError

from prefect_llamabatch.client.errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    ServerError,
    error_for_status,
)
from prefect_llamabatch.orchestration.drivers import drive
from prefect_llamabatch.orchestration.results import BatchApiUnavailable, BatchJobTimeout
from prefect_llamabatch.orchestration.waiting import (
    OutageBudget,
    PollSchedule,
    ProgressTracker,
    WaitSettings,
    is_transient_error,
    progress_artifact_key,
    wait_steps,
)
from tests.prefect.fakes import FakePort, job_status

LOG = logging.getLogger("test-wait")
API = "http://127.0.0.1:1"


def wait(port: FakePort, settings: WaitSettings, **kw: object):  # type: ignore[no-untyped-def]
    changes: list[tuple[str, str | None]] = []
    outcome = drive(
        wait_steps(
            "bj-1",
            settings,
            logger=LOG,
            api=API,
            on_change=lambda s, prev: changes.append((s.job.status_value, prev)),
            **kw,  # type: ignore[arg-type]
        ),
        port,
    )
    return outcome, changes


def server_error(code: int = 503) -> ServerError:
    return _status_error(ServerError, code)


def _status_error(cls, code):  # type: ignore[no-untyped-def]
    err = error_for_status(
        code, method="GET", path="/api/v1/beta/batch-processing/bj-1", detail="boom"
    )
    assert isinstance(err, cls), err
    return err


# -- schedule -------------------------------------------------------------------------------


def test_default_schedule_backs_off_to_the_cap() -> None:
    intervals = list(WaitSettings().schedule().take(12))
    assert intervals[:4] == [2.0, 3.0, 4.5, 6.75]
    assert intervals[-1] == 30.0
    assert all(b >= a for a, b in itertools.pairwise(intervals))
    assert max(intervals) == 30.0


def test_schedule_without_backoff_is_constant() -> None:
    assert list(PollSchedule(5, 1.0, 30).take(3)) == [5, 5, 5]


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("poll_interval", 0, "poll_interval"),
        ("backoff_factor", 0.5, "backoff_factor"),
        ("timeout_seconds", -1, "timeout_seconds"),
        ("outage_budget_seconds", -5, "outage_budget_seconds"),
        ("max_poll_interval", 1.0, "max_poll_interval"),
        ("poll_intervall", 3, "poll_intervall"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: float, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        WaitSettings(**{field: value})


# -- outage budget, tracker -------------------------------------------------------------------


def test_outage_budget_counts_from_the_first_failure_and_resets() -> None:
    budget = OutageBudget(10)
    assert budget.failed(at=0.0, error="a") is True
    assert budget.failed(at=4.0, error="b") is False
    assert budget.remaining(at=4.0) == 6.0
    assert not budget.exhausted(at=9.9)
    assert budget.exhausted(at=10.0)
    budget.recovered()
    assert not budget.exhausted(at=100.0)
    assert budget.failed(at=100.0, error="c") is True


def test_tracker_reports_changes_only() -> None:
    tracker = ProgressTracker()
    first = tracker.observe(job_status("pending", processed=0))
    assert first.status_changed and first.previous_status is None
    same = tracker.observe(job_status("pending", processed=0))
    assert not same.status_changed and not same.progress_changed
    moved = tracker.observe(job_status("pending", processed=3))
    assert moved.progress_changed and not moved.status_changed
    running = tracker.observe(job_status("running", processed=3))
    assert running.status_changed and running.previous_status == "pending"


def test_artifact_key_is_valid() -> None:
    assert progress_artifact_key("BJ_12.ab") == "llamabatch-progress-bj-12-ab"


# -- transient errors -----------------------------------------------------------------------


def test_transient_classification() -> None:
    assert is_transient_error(server_error(503))
    assert is_transient_error(server_error(500))
    assert is_transient_error(_status_error(RateLimitError, 429))
    assert is_transient_error(APIConnectionError("refused", method="GET", path="/x"))
    assert not is_transient_error(_status_error(AuthenticationError, 401))
    assert not is_transient_error(_status_error(NotFoundError, 404))
    assert not is_transient_error(ValueError("x"))


# -- the loop ------------------------------------------------------------------------------


def test_polls_until_completed_logging_changes_only(caplog: pytest.LogCaptureFixture) -> None:
    port = FakePort(
        [
            job_status("pending"),
            job_status("pending"),
            job_status("running", processed=5),
            job_status("running", processed=5),
            job_status("completed", processed=10),
        ]
    )
    with caplog.at_level(logging.INFO, logger="test-wait"):
        outcome, changes = wait(port, WaitSettings())
    assert outcome.status.job.status_value == "completed"
    assert outcome.polls == 5
    assert port.sleeps == [2.0, 3.0, 4.5, 6.75]
    assert outcome.elapsed_seconds == pytest.approx(sum(port.sleeps))
    assert changes == [("pending", None), ("running", "pending"), ("completed", "running")]
    # 3 status changes + no progress-only change (the running 50% repeat is silent).
    assert len([r for r in caplog.records if r.name == "test-wait"]) == 3
    assert port.artifacts == [("create", 0.0), ("update", 50.0), ("update", 100.0)]


def test_dispatched_and_unknown_statuses_are_waited_on() -> None:
    port = FakePort(
        [
            job_status("dispatched"),
            job_status("paused_by_operator"),
            job_status("completed", processed=10),
        ]
    )
    outcome, changes = wait(port, WaitSettings(poll_interval=1, max_poll_interval=1))
    assert [c[0] for c in changes] == ["dispatched", "paused_by_operator", "completed"]
    assert outcome.polls == 3


def test_deadline_checks_once_more_then_cancels() -> None:
    port = FakePort([job_status("running")])
    settings = WaitSettings(
        poll_interval=4, backoff_factor=1, max_poll_interval=4, timeout_seconds=10
    )
    with pytest.raises(BatchJobTimeout) as info:
        wait(port, settings)
    # Polls at 0, 4, 8 and exactly at the deadline (10), not later.
    assert [t - 1000.0 for t in port.polls_at] == [0, 4, 8, 10]
    assert port.cancels and port.cancels[0][0] == "bj-1"
    assert info.value.remote_cancelled
    assert info.value.last_status == "running"
    assert "bj-1" in str(info.value) and "10s" in str(info.value)


def test_deadline_final_check_can_still_succeed() -> None:
    port = FakePort(
        [job_status("running"), job_status("running"), job_status("completed", processed=10)]
    )
    settings = WaitSettings(
        poll_interval=4, backoff_factor=1, max_poll_interval=4, timeout_seconds=5
    )
    outcome, _ = wait(port, settings)
    assert outcome.status.job.status_value == "completed"
    assert not port.cancels


def test_timeout_without_cancel_leaves_the_job() -> None:
    port = FakePort([job_status("running")])
    settings = WaitSettings(
        poll_interval=1, max_poll_interval=1, timeout_seconds=2, cancel_on_timeout=False
    )
    with pytest.raises(BatchJobTimeout) as info:
        wait(port, settings)
    assert not port.cancels
    assert not info.value.remote_cancelled
    assert "left running" in str(info.value)


def test_timeout_when_cancel_fails_says_so() -> None:
    port = FakePort([job_status("running")], cancel_error=server_error(502))
    settings = WaitSettings(poll_interval=1, max_poll_interval=1, timeout_seconds=2)
    with pytest.raises(BatchJobTimeout) as info:
        wait(port, settings)
    assert not info.value.remote_cancelled


def test_outage_within_budget_is_ridden_out(caplog: pytest.LogCaptureFixture) -> None:
    port = FakePort(
        [
            job_status("running"),
            server_error(503),
            APIConnectionError("connection refused", method="GET", path="/x"),
            server_error(502),
            job_status("completed", processed=10),
        ]
    )
    with caplog.at_level(logging.INFO, logger="test-wait"):
        outcome, _ = wait(
            port, WaitSettings(poll_interval=10, max_poll_interval=10, outage_budget_seconds=60)
        )
    assert outcome.status.job.status_value == "completed"
    assert outcome.outages == 1
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


def test_outage_beyond_budget_fails_naming_api_duration_and_job() -> None:
    port = FakePort([job_status("running"), server_error(503)])
    settings = WaitSettings(poll_interval=7, max_poll_interval=7, outage_budget_seconds=30)
    with pytest.raises(BatchApiUnavailable) as info:
        wait(port, settings)
    err = info.value
    assert err.unreachable_seconds == pytest.approx(30)  # last attempt exactly at the budget's end
    assert API in str(err) and "bj-1" in str(err) and "30s" in str(err)
    assert "ServerError" in err.last_error


def test_non_transient_error_fails_at_once() -> None:
    port = FakePort([job_status("running"), _status_error(AuthenticationError, 401)])
    with pytest.raises(AuthenticationError):
        wait(port, WaitSettings(poll_interval=1, max_poll_interval=1))
    assert len(port.polls_at) == 2


def test_artifact_failure_does_not_fail_the_wait() -> None:
    port = FakePort([job_status("running"), job_status("completed", processed=10)])
    port.artifact_error = RuntimeError("artifact API down")
    outcome, _ = wait(port, WaitSettings(poll_interval=1, max_poll_interval=1))
    assert outcome.status.job.status_value == "completed"
    assert port.artifacts == []


def test_no_artifact_when_disabled() -> None:
    port = FakePort([job_status("completed", processed=10)])
    wait(port, WaitSettings(progress_artifact=False))
    assert port.artifacts == []
