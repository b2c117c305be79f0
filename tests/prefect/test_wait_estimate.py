"""Polls timed by the job's progress rate (``CompletionEstimate``), on a fake clock."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from prefect_llamabatch.models import BatchJobStatus
from prefect_llamabatch.orchestration.drivers import drive
from prefect_llamabatch.orchestration.waiting import (
    CompletionEstimate,
    WaitOutcome,
    WaitSettings,
    wait_steps,
)
from tests.prefect.fakes import FakePort, job_status

START = 1000.0  # FakePort's clock at the first poll


def linear_job(duration: float, total: int = 400) -> Callable[[float], BatchJobStatus]:
    """A job whose items finish evenly over ``duration`` seconds from the first poll."""

    def status(now: float) -> BatchJobStatus:
        elapsed = now - START
        if elapsed >= duration:
            return job_status("completed", total=total, processed=total)
        done = int(total * elapsed / duration)
        return job_status("running" if done else "pending", total=total, processed=done)

    return status


def wait(port: FakePort, settings: WaitSettings) -> WaitOutcome:
    steps = wait_steps("bj-1", settings, logger=logging.getLogger("test"), api="http://x")
    return drive(steps, port)


def test_estimate_needs_two_moves_and_forgets_a_stall() -> None:
    estimate = CompletionEstimate()
    assert estimate.observe(at=0.0, percent=0.0) is None
    assert estimate.observe(at=2.0, percent=10.0) is None
    assert estimate.observe(at=4.0, percent=20.0) == pytest.approx(16.0)
    assert estimate.observe(at=6.0, percent=20.0) is None
    # The rate is the average since the first move: 30 points in 6 s.
    assert estimate.observe(at=8.0, percent=40.0) == pytest.approx(12.0)


def test_a_one_minute_job_is_polled_five_times_and_seen_finished_within_two_seconds() -> None:
    port = FakePort([linear_job(60.0)])
    outcome = wait(port, WaitSettings(progress_artifact=False))
    assert outcome.status.job.status_value == "completed"
    # 0, 2, 5 on the backoff schedule; then the rate is known: the cap (30 s), then just past
    # the predicted end instead of 64.4 s, the backoff schedule's poll.
    assert outcome.polls == 5
    assert [round(t - START, 1) for t in port.polls_at[:4]] == [0.0, 2.0, 5.0, 35.0]
    assert 60.0 <= port.polls_at[-1] - START <= 62.0


def test_without_the_estimate_the_backoff_schedule_is_kept() -> None:
    port = FakePort([linear_job(60.0)])
    outcome = wait(port, WaitSettings(progress_artifact=False, estimate_completion=False))
    assert port.sleeps == [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 22.78125]
    assert outcome.polls == 8


def test_a_prediction_is_never_closer_than_poll_interval_nor_beyond_the_cap() -> None:
    port = FakePort([linear_job(3600.0)])
    settings = WaitSettings(progress_artifact=False, poll_interval=5, max_poll_interval=20)
    wait(port, settings)
    assert all(5.0 <= s <= 20.0 for s in port.sleeps)
    assert max(port.sleeps) == 20.0


def test_a_stalled_job_goes_back_to_the_backoff_schedule() -> None:
    moving = [job_status("running", total=100, processed=n) for n in (0, 10, 20)]
    stalled = [job_status("running", total=100, processed=20)] * 4
    port = FakePort([*moving, *stalled, job_status("completed", total=100, processed=100)])
    wait(port, WaitSettings(progress_artifact=False))
    # Two moves (10 points in 3 s) predict 24 s to go: the poll is timed just past that. Then
    # the stall polls on the schedule again (its 4th, 5th … intervals), not every 2 s.
    assert port.sleeps[:2] == [2.0, 3.0]
    assert 24.0 < port.sleeps[2] < 26.0
    assert port.sleeps[3:] == [6.75, 10.125, 15.1875, 22.78125]
