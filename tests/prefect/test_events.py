"""Events: names, resources, payloads (and never a secret), and one per remote state change."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.events.worker import EventsWorker
from prefect.runtime import flow_run

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import BatchParseJobRecordCreate
from prefect_llamabatch.orchestration import events
from prefect_llamabatch.orchestration.events import batch_event_name, emit_batch_event
from prefect_llamabatch.orchestration.secrets import find_secrets, masked
from prefect_llamabatch.orchestration.tasks import create_batch_job, wait_for_batch_job
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


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.emulator(time_scale=1.0, concurrency=2, failure_patterns=["bad-*"])
def test_one_event_per_remote_state_change_and_no_secrets(
    emu: Emulator,
    creds: LlamaCloudCredentials,
    docs_dir: str,
    prefect: str,
    emitted: list[dict[str, Any]],
    kind: str,
) -> None:
    @flow
    def sync_parse() -> None:
        job = create_batch_job(creds, {}, directory_id=docs_dir)
        wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=None)

    @flow
    async def async_parse() -> None:
        job = await create_batch_job(creds, {}, directory_id=docs_dir)
        await wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=None)

    sync_parse() if kind == "sync" else asyncio.run(async_parse())
    names = [e["event"] for e in emitted]
    assert len(names) >= 2  # items take 100 ms each here: the first poll sees the job unfinished
    assert names[0] == "llamacloud.batch.pending"  # emitted by the create
    assert emitted[0]["payload"]["previous_status"] is None
    assert names[-1] == "llamacloud.batch.completed"
    assert emitted[1]["payload"]["previous_status"] == "pending"
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


def _delivered(flow_run_id: str, want: str) -> list[ReceivedEvent]:
    """The llamacloud.batch events the Prefect API stored for a flow run, oldest first.

    Waits for ``want`` to be among them: the client sends events in the background and the
    server persists them in batches.
    """
    EventsWorker.drain_all(timeout=30, at_exit=False)
    query = EventFilter(
        event=EventNameFilter(prefix=["llamacloud.batch."]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    give_up = time.monotonic() + 60
    while True:
        with get_client(sync_client=True) as client:
            # The REST route, not client.read_events: Prefect 3.4.0's client has no such method.
            response = client.request(
                "POST",
                "/events/filter",
                json={"filter": query.model_dump(mode="json"), "limit": 50},
            )
        events = [ReceivedEvent.model_validate(e) for e in response.json()["events"]]
        found = sorted(events, key=lambda e: e.occurred)
        if any(e.event == want for e in found) or time.monotonic() > give_up:
            return found
        time.sleep(0.5)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_events_reach_the_prefect_api_related_to_the_flow_run(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, prefect: str, kind: str
) -> None:
    secret = f"sk-{uuid.uuid4().hex}"
    config = {"parameters": {"fast_mode": True, "azure_openai_key": secret}}

    @flow
    def sync_parse() -> tuple[str, str]:
        job = create_batch_job(creds, config, directory_id=docs_dir)
        wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=None)
        return str(flow_run.id), job.id

    @flow
    async def async_parse() -> tuple[str, str]:
        job = await create_batch_job(creds, config, directory_id=docs_dir)
        await wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=None)
        return str(flow_run.id), job.id

    run_id, job_id = sync_parse() if kind == "sync" else asyncio.run(async_parse())
    found = _delivered(run_id, "llamacloud.batch.completed")
    names = [e.event for e in found]
    assert names[0] == "llamacloud.batch.pending" and names[-1] == "llamacloud.batch.completed"
    assert len(names) == len(set(names))
    done = found[-1]
    assert done.resource.id == f"llamacloud.batch.{job_id}"
    assert dict(done.resource) == {
        "prefect.resource.id": f"llamacloud.batch.{job_id}",
        "prefect.resource.name": job_id,
        "llamacloud.directory-id": docs_dir,
        "llamacloud.job-type": "parse",
        "llamacloud.project-id": emu.project_id,
    }
    assert done.payload["counts"] == {
        "total": 5,
        "processed": 5,
        "succeeded": 3,
        "failed": 2,
        "skipped": 0,
    }
    # The first event comes from the create itself, not from the wait's first poll.
    (creating,) = [r for r in found[0].related if r.role == "task-run"]
    assert creating["prefect.resource.name"].startswith("create-batch-job/")
    related = {r.id: r.role for r in done.related}
    assert related[f"prefect.flow-run.{run_id}"] == "flow-run"
    assert related[f"llamacloud.directory.{docs_dir}"] == "directory"
    text = json.dumps([e.model_dump(mode="json") for e in found])
    assert creds.api_key.get_secret_value() not in text and secret not in text
