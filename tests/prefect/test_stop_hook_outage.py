"""The stop hook against an API that is down: short retries, a clear log, the job kept recorded."""

from __future__ import annotations

import logging
import uuid

import pytest

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.orchestration import tracking as _tracking
from prefect_llamabatch.orchestration.tracking import (
    cancel_tracked_jobs,
    hook_client,
    record_job,
    tracked_jobs,
)

pytestmark = [pytest.mark.usefixtures("prefect"), pytest.mark.emulator(start_frozen=True)]


def test_the_hook_client_caps_the_credentials_retry_deadline() -> None:
    slow = LlamaCloudCredentials(api_key="llx-test", base_url="http://127.0.0.1:9")
    assert slow.retry_deadline == 300.0
    with hook_client(slow) as client:
        assert client.retry_policy.deadline == _tracking.HOOK_RETRY_DEADLINE == 15.0
        assert client.retry_policy.max_retries == slow.max_retries
    quick = slow.model_copy(update={"retry_deadline": 2.0})
    with hook_client(quick) as client:
        assert client.retry_policy.deadline == 2.0


def test_a_hook_that_cannot_reach_the_api_logs_it_and_keeps_the_record(
    emu: Emulator, docs_dir: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The credentials' own 300 s deadline would hold the stopping run for minutes.
    credentials = LlamaCloudCredentials(
        api_key=emu.api_key, base_url=emu.base_url, max_retries=1000, retry_max_delay=0.1
    )
    monkeypatch.setattr(_tracking, "HOOK_RETRY_DEADLINE", 0.5)  # the test need not wait 15 s
    with credentials.get_client() as client:
        job = client.create_job({"directory_id": docs_dir, "job_config": {}})
    run_id = str(uuid.uuid4())
    record_job(run_id, job, credentials)
    emu.admin.outage(mode="503")
    with caplog.at_level(logging.ERROR):
        assert cancel_tracked_jobs(run_id, "stopped (Failed)") == []
    assert (
        f"the job may still be running; cancel it with `llamabatch cancel {job.id}`" in caplog.text
    )
    refused = [r for r in emu.admin.request_log() if r.route == "cancel_job"]
    assert refused and all(r.status == 503 for r in refused)
    assert [j.job_id for j in tracked_jobs(run_id)] == [job.id]  # a later stop may still cancel it
    emu.admin.end_outage()
    assert cancel_tracked_jobs(run_id, "stopped (Failed)") == [job.id]
    assert emu.admin.ground_truth().jobs[0].status == "cancelled"
    assert tracked_jobs(run_id) == []
