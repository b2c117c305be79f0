"""Events: names, resources, payloads (and never a secret), and one per remote state change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prefect import flow

from prefect_llamabatch import events
from prefect_llamabatch._secrets import find_secrets, masked
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.events import batch_event_name, emit_batch_event
from prefect_llamabatch.models import BatchParseJobRecordCreate
from prefect_llamabatch.tasks import create_batch_job, wait_for_batch_job
from tests.prefect.conftest import FAST
from tests.prefect.fakes import job_status


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(events, "emit_event", lambda **kw: seen.append(kw))
    return seen


def test_event_names() -> None:
    assert batch_event_name("completed") == "llamacloud.batch.completed"
    assert batch_event_name("Paused By Operator!") == "llamacloud.batch.paused_by_operator"


def test_event_shape(emitted: list[dict[str, Any]]) -> None:
    status = job_status("completed", processed=10, failed=2, directory_id="dir-9")
    emit_batch_event(status.job, progress_percentage=100.0, previous_status="running")
    (event,) = emitted
    assert event["event"] == "llamacloud.batch.completed"
    assert event["resource"] == {
        "prefect.resource.id": "llamacloud.batch.bj-1",
        "prefect.resource.name": "bj-1",
        "llamacloud.directory-id": "dir-9",
        "llamacloud.job-type": "parse",
        "llamacloud.project-id": "proj-1",
    }
    assert event["related"] == [
        {"prefect.resource.id": "llamacloud.directory.dir-9", "prefect.resource.role": "directory"}
    ]
    assert event["payload"]["counts"] == {
        "total": 10,
        "processed": 10,
        "succeeded": 8,
        "failed": 2,
        "skipped": 0,
    }
    assert event["payload"]["previous_status"] == "running"


@pytest.mark.emulator(time_scale=1.0, concurrency=2, failure_patterns=["bad-*"])
def test_one_event_per_remote_state_change_and_no_secrets(
    emu: Emulator,
    creds: LlamaCloudCredentials,
    docs_dir: str,
    prefect: str,
    emitted: list[dict[str, Any]],
) -> None:
    @flow
    def parse() -> None:
        job = create_batch_job(creds, {}, directory_id=docs_dir)
        wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=None)

    parse()
    names = [e["event"] for e in emitted]
    assert len(names) >= 2  # items take 100 ms each here: the first poll sees the job unfinished
    assert names[0] in ("llamacloud.batch.pending", "llamacloud.batch.running")
    assert names[-1] == "llamacloud.batch.completed"
    assert emitted[-1]["payload"]["counts"]["failed"] == 2
    assert len(names) == len(set(names))  # each status once: changes only, not polls
    text = json.dumps(emitted, default=str)
    assert creds.api_key.get_secret_value() not in text


def test_secret_helpers() -> None:
    config = {
        "parameters": {
            "azure_openai_key": "k1",
            "webhook_configurations": [
                {"webhook_url": "https://x", "webhook_headers": {"Authorization": "Bearer t"}}
            ],
            "fast_mode": True,
        }
    }
    shown = masked(config)
    assert "k1" not in json.dumps(shown) and "Bearer t" not in json.dumps(shown)
    assert shown["parameters"]["fast_mode"] is True
    model = BatchParseJobRecordCreate.model_validate(config)
    assert sorted(find_secrets(model)) == [
        "job_config.parameters.azure_openai_key",
        "job_config.parameters.webhook_configurations[0].webhook_headers['Authorization']",
    ]
    assert "k1" not in json.dumps(masked(model))
