"""Branches the audit (issue 14) found no test reaching: each test fails when its branch is removed.

* the wait loop's "outage at the deadline": a deadline that falls inside an outage is a timeout
  (the job is cancelled, the error says the API was down), not an outage error;
* the in-process fallback of the stop hook: jobs created in this process are cancelled even when
  their Prefect Variable record was never written or cannot be read back;
* the filter that honours a subflow's ``cancel_on_stop=False``: the stop of its parent leaves that
  subflow's jobs (and those of its own subflows) alone.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run
from prefect.variables import Variable

from prefect_llamabatch.client.errors import error_for_status
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import BatchJob, BatchJobStatus
from prefect_llamabatch.orchestration import tracking
from prefect_llamabatch.orchestration.drivers import drive
from prefect_llamabatch.orchestration.results import BatchJobTimeout
from prefect_llamabatch.orchestration.tracking import (
    cancel_tracked_jobs,
    record_job,
    stopped_runs,
    tracked_jobs,
)
from prefect_llamabatch.orchestration.waiting import WaitSettings, wait_steps
from tests.prefect.fakes import FakePort

# ------------------------------------------------------------------------------------------------
# The deadline falls inside an outage
# ------------------------------------------------------------------------------------------------


class RetryingDownPort(FakePort):
    """The API is down: every poll fails after the client retried it for ``retry_seconds``."""

    retry_seconds: float = 4.0

    def get_job(self, job_id: str) -> BatchJobStatus:
        self.polls_at.append(self.now)
        self.now += self.retry_seconds
        raise error_for_status(503, method="GET", path="/x", detail="down")


def test_a_deadline_inside_an_outage_is_a_timeout_not_an_outage_error() -> None:
    # Deadline at 1006, budget 8 s. Poll 1: sent 1000, fails 1004 (4 s down). The next poll is
    # due at 1007, past the deadline, so the last check is moved to 1006: it fails at 1010, by
    # when the budget (spent at 1008) is gone too. The deadline came first: a timeout.
    port = RetryingDownPort(script=[])
    settings = WaitSettings(
        poll_interval=3,
        max_poll_interval=3,
        timeout_seconds=6,
        outage_budget_seconds=8,
        progress_artifact=False,
    )
    steps = wait_steps("bj-1", settings, logger=logging.getLogger("t"), api="http://x")
    with pytest.raises(BatchJobTimeout) as info:
        drive(steps, port)
    assert port.polls_at == [1000.0, 1006.0]
    assert info.value.remote_cancelled
    assert [job_id for job_id, _ in port.cancels] == ["bj-1"]
    assert "the API was unreachable at the deadline" in str(info.value)


# ------------------------------------------------------------------------------------------------
# The stop hook's in-process fallback
# ------------------------------------------------------------------------------------------------


def _create_job(creds: LlamaCloudCredentials, docs_dir: str) -> BatchJob:
    with creds.get_client() as client:
        return client.create_job({"directory_id": docs_dir, "job_config": {}})


def _refuse(*_: Any, **__: Any) -> None:
    raise RuntimeError("Prefect API refused the write")


def _unreadable(_: str) -> list[Any]:
    raise RuntimeError("Prefect API unreachable")


@pytest.mark.emulator(start_frozen=True)
@pytest.mark.parametrize("lost", ["record-never-written", "records-unreadable"])
def test_a_stop_cancels_jobs_known_only_to_this_process(
    emu: Emulator,
    creds: LlamaCloudCredentials,
    docs_dir: str,
    prefect: str,
    monkeypatch: pytest.MonkeyPatch,
    lost: str,
) -> None:
    run_id = str(uuid.uuid4())
    job = _create_job(creds, docs_dir)
    if lost == "record-never-written":
        monkeypatch.setattr(Variable, "set", _refuse)
        record_job(run_id, job, creds)
        monkeypatch.undo()
        assert tracked_jobs(run_id) == []  # nothing in the Prefect API ...
    else:
        record_job(run_id, job, creds)
        assert [j.job_id for j in tracked_jobs(run_id)] == [job.id]
        monkeypatch.setattr(tracking, "tracked_jobs", _unreadable)
    try:
        # ... yet the job is cancelled: this process remembers it.
        assert cancel_tracked_jobs(run_id, "flow run stopped") == [job.id]
    finally:
        tracking.forget_job(run_id, job.id)
    truth = emu.admin.ground_truth().job(job.id)
    assert truth.status == "cancelled"
    assert truth.cancel_reason == "flow run stopped"


# ------------------------------------------------------------------------------------------------
# A subflow with cancel_on_stop=False
# ------------------------------------------------------------------------------------------------


@flow
def _leaf() -> str:
    return str(flow_run.id)


@flow
def _middle(cancel_on_stop: bool = True) -> list[str]:
    return [str(flow_run.id), _leaf()]


@flow
def _top() -> dict[str, Any]:
    return {
        "top": str(flow_run.id),
        "kept": _middle(cancel_on_stop=True),
        "left_alone": _middle(cancel_on_stop=False),
        "default": _middle(),
    }


def test_a_stop_leaves_out_subflows_that_opted_out_and_their_subflows(prefect: str) -> None:
    runs = _top()
    stopped = stopped_runs(runs["top"])
    assert stopped[0] == runs["top"]
    assert sorted(stopped) == sorted([runs["top"], *runs["kept"], *runs["default"]])
    assert not set(runs["left_alone"]) & set(stopped)
