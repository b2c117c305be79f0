"""Expected outcomes are not crashes; artifacts, logs and exports speak the API; bulk results.

Issue 12, item 5: a run that ends Failed because of its job ends with a one-line reason and the
result attached (a returned Failed state, no traceback), while unexpected errors keep theirs;
enum values reach artifacts, logs and exports as their API strings; ``fetch_item_results`` gets
many items' results in one task run.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import threading
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

from prefect_llamabatch import fetch_item_results
from prefect_llamabatch.client.errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
)
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import process_directory, retry_failed_items
from prefect_llamabatch.models import BatchJob, ItemProcessingResults, enums
from prefect_llamabatch.orchestration.drivers import SyncDriver, drive
from prefect_llamabatch.orchestration.item_results import FetchedItemResults, fetch_steps
from prefect_llamabatch.orchestration.reporting import FailedItemsReport, render_summary
from prefect_llamabatch.orchestration.results import BatchItemsFailed, BatchJobFailed
from tests.prefect.conftest import FAST

pytestmark = pytest.mark.usefixtures("prefect")
ENUM_REPRS = ("JobType.", "JobStatus.", "ItemStatus.")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of_level(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno == level]


@pytest.fixture
def logs(prefect: str) -> Iterator[_Records]:
    """Every record Prefect's run loggers (and the engine) write during the test."""
    handler = _Records()
    logger = logging.getLogger("prefect")  # flow and task run loggers propagate to it
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _stored_state(state: Any) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).state


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert found, f"no artifact {key}"
    return str(found[-1].data)


# --------------------------------------------------------------------------------------------
# Expected outcomes: a returned Failed state, one line, no traceback
# --------------------------------------------------------------------------------------------


def test_too_many_failed_items_end_failed_with_one_line_and_no_traceback(
    creds: LlamaCloudCredentials, docs_dir: str, logs: _Records, tmp_path: Path
) -> None:
    export = tmp_path / "failed.csv"
    state = process_directory(
        creds, directory_id=docs_dir, wait=FAST, export_path=str(export), return_state=True
    )

    assert state.is_failed()
    message = state.message
    assert "\n" not in message and "2 of 5 items failed (40.0% > allowed 0.0%)" in message
    assert _stored_state(state).message == message  # what the UI shows
    with pytest.raises(BatchItemsFailed) as info:
        state.result()
    result = info.value.result
    assert sorted(f.item_name for f in result.failed_items) == ["bad-1.txt", "empty.txt"]
    # The run's log: the reason once, as an error, and no traceback anywhere.
    assert [r for r in logs.records if r.exc_info] == []
    assert [r.getMessage() for r in logs.of_level(logging.ERROR)] == [message]
    # Artifacts, logs and the export speak the API's strings.
    summary = _artifact(f"llamabatch-summary-{result.job_id.lower()}")
    assert "job type: `parse`" in summary and "completed" in summary
    texts = [summary, export.read_text(), *(r.getMessage() for r in logs.records)]
    assert [t for t in texts if any(e in t for e in ENUM_REPRS)] == []
    with export.open(newline="") as handle:
        assert {row["status"] for row in csv.DictReader(handle)} == {"failed"}


def test_calling_the_flow_still_raises_the_error_with_the_result(
    creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    with pytest.raises(BatchItemsFailed) as info:
        process_directory(creds, directory_id=docs_dir, wait=FAST)
    assert info.value.result.counts.failed == 2 and info.value.job_id == info.value.result.job_id


def test_a_failed_job_is_a_failed_state_too(
    emu: Emulator, creds: LlamaCloudCredentials, logs: _Records
) -> None:
    # Every item fails (bad-* by the emulator's pattern): the service fails the job itself.
    directory = emu.admin.seed_directory({"bad-1.txt": b"x", "bad-2.txt": b"y"}, name="broken")
    state = process_directory(creds, directory_id=directory.id, wait=FAST, return_state=True)

    assert state.is_failed() and "\n" not in state.message
    assert state.message.startswith("batch job ") and "failed" in state.message
    with pytest.raises(BatchJobFailed) as info:
        state.result()
    assert info.value.result.counts.failed == 2
    assert [r for r in logs.records if r.exc_info] == []


def test_retry_rounds_still_failing_end_failed_without_traceback(
    creds: LlamaCloudCredentials, docs_dir: str, logs: _Records
) -> None:
    first = process_directory(creds, directory_id=docs_dir, wait=FAST, return_state=True)
    with pytest.raises(BatchItemsFailed) as info:
        first.result()
    state = retry_failed_items(
        creds, info.value.result.job_id, max_rounds=1, wait=FAST, return_state=True
    )

    assert state.is_failed() and "\n" not in state.message
    assert state.message.startswith(f"batch job {info.value.result.job_id} completed with 2 of")
    with pytest.raises(BatchItemsFailed) as again:
        state.result()
    assert len(again.value.result.rounds) == 1 and again.value.result.counts.failed == 2
    assert [r for r in logs.records if r.exc_info] == []


def test_unexpected_errors_keep_their_traceback(emu: Emulator, logs: _Records) -> None:
    wrong = LlamaCloudCredentials(
        api_key="llx-not-the-key", base_url=emu.base_url, max_retries=1, retry_deadline=1.0
    )
    directory = emu.admin.seed_directory({"a.txt": b"a"}, name="any")
    state = process_directory(wrong, directory_id=directory.id, wait=FAST, return_state=True)

    assert state.is_failed()
    with pytest.raises(AuthenticationError):
        state.result()
    raised = [r for r in logs.records if r.exc_info and r.exc_info[0] is AuthenticationError]
    assert any("Encountered exception during execution" in r.getMessage() for r in raised)


# --------------------------------------------------------------------------------------------
# Enum values as API strings
# --------------------------------------------------------------------------------------------


def test_every_wire_enum_prints_as_its_api_string() -> None:
    classes = [
        value
        for value in vars(enums).values()
        if isinstance(value, type)
        and issubclass(value, Enum)
        and value.__module__ == enums.__name__
    ]
    assert len(classes) >= 10
    assert [c.__name__ for c in classes if not issubclass(c, enums.WireEnum)] == []
    for cls in classes:
        for member in cls:
            assert f"{member}" == str(member) == f"{member:s}" == member.value
            assert "%s" % member == member.value  # noqa: UP031 (how logging formats)
            assert f"{member:>20}" == f"{member.value:>20}"


def test_summary_names_the_job_type_as_the_api_does() -> None:
    job = BatchJob(
        id="bj-1",
        job_type="classify",
        project_id="p",
        status="completed",
        total_items=2,
        processed_items=2,
    )
    text = render_summary(FailedItemsReport(job=job))
    assert "job type: `classify`" in text and "# LlamaCloud batch job `bj-1`: completed" in text
    assert not any(e in text for e in ("JobType.", "JobStatus."))


# --------------------------------------------------------------------------------------------
# fetch_item_results: many items, one task run
# --------------------------------------------------------------------------------------------


def _completed_ids(emu: Emulator, creds: LlamaCloudCredentials, directory_id: str) -> list[str]:
    result = process_directory(
        creds, directory_id=directory_id, wait=FAST, max_failed_fraction=None
    )
    job = emu.admin.ground_truth(result.job_id).job(result.job_id)
    return sorted(i.item_id for i in job.items if i.status == "completed")


def _task_runs_of(flow_run_id: Any) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sorted(run.name for run in runs)


def test_fetch_item_results_in_one_task_run_with_errors_per_item(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, logs: _Records
) -> None:
    done = _completed_ids(emu, creds, docs_dir)
    assert len(done) == 3
    asked = [*done, "dfl-gone", done[0]]  # an unknown item and a duplicate

    @flow
    def outputs(ids: list[str]) -> FetchedItemResults:
        return fetch_item_results(creds, ids, max_concurrency=2)

    before = emu.admin.request_counts().get("get_item_results", 0)
    logs.records.clear()
    state = outputs(asked, return_state=True)
    found: FetchedItemResults = state.result()

    assert sorted(found.results) == done and list(found.errors) == ["dfl-gone"]
    assert (found.errors["dfl-gone"].error, found.errors["dfl-gone"].status_code) == (
        "NotFoundError",
        404,
    )
    for item_id in done:
        assert found[item_id].item_id == item_id and found.latest()[item_id].job_type == "parse"
    assert found.api_calls == 4 == emu.admin.request_counts()["get_item_results"] - before
    assert _task_runs_of(state.state_details.flow_run_id) == ["fetch-item-results/5-items"]
    task_lines = [r.getMessage() for r in logs.records if r.name == "prefect.task_runs"]
    summary = [m for m in task_lines if m.startswith("Fetched")]
    assert summary == [found.summary()]
    assert "3 of 4 item(s)" in summary[0] and "1 NotFoundError" in summary[0]
    assert [r.levelno for r in logs.records if r.getMessage() in summary] == [logging.WARNING]


def test_fetch_item_results_awaited_in_an_async_flow(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    done = _completed_ids(emu, creds, docs_dir)

    @flow
    async def outputs(ids: list[str]) -> dict[str, str]:
        found = await fetch_item_results(creds, ids, job_type="parse")
        return {item_id: r.output_s3_path for item_id, r in found.latest().items()}

    paths = asyncio.run(outputs(done))
    assert sorted(paths) == done
    assert all(emu.admin.read_output(path) for path in paths.values())


class _FakeClient:
    """Answers get_item_results in worker threads; counts how many are in flight at once."""

    def __init__(self, parties: int, failures: dict[str, Exception]) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        # Each call waits until `parties` calls are in flight together: a driver running fewer
        # at once would never get past it (the timeout turns that into a test failure).
        self.barrier = threading.Barrier(parties, timeout=30)
        self.failures = failures
        self.stats = type("Stats", (), {"requests": 0})()

    def get_item_results(self, item_id: str, **_: Any) -> ItemProcessingResults:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.stats.requests += 1
        try:
            self.barrier.wait()
        finally:
            with self.lock:
                self.in_flight -= 1
        if item_id in self.failures:
            raise self.failures[item_id]
        return ItemProcessingResults(item_id=item_id, item_name=f"{item_id}.pdf")


def test_fetch_runs_at_most_max_concurrency_requests_at_once_and_collects_errors() -> None:
    ids = [f"dfl-{n}" for n in range(9)]
    failures: dict[str, Exception] = {
        "dfl-4": NotFoundError(404, method="GET", path="/items/dfl-4/processing-results"),
        "dfl-7": APIConnectionError("connection refused", method="GET", path="/items/dfl-7"),
    }
    client = _FakeClient(parties=3, failures=failures)

    found = drive(fetch_steps(ids, max_concurrency=3), SyncDriver(client))  # type: ignore[arg-type]

    assert client.most == 3
    assert sorted(found.errors) == ["dfl-4", "dfl-7"]
    assert found.errors["dfl-7"].error == "APIConnectionError"
    assert found.errors["dfl-7"].status_code is None
    assert sorted(found.results) == sorted(set(ids) - {"dfl-4", "dfl-7"})
    assert found.api_calls == 9


def test_a_wrong_key_stops_the_fetch_at_once() -> None:
    ids = ["dfl-1", "dfl-2"]
    refused = AuthenticationError(401, method="GET", path="/items/dfl-1/processing-results")
    client = _FakeClient(parties=1, failures={"dfl-1": refused})
    with pytest.raises(AuthenticationError):
        drive(fetch_steps(ids, max_concurrency=1), SyncDriver(client))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item_ids", "concurrency", "needle"),
    [("dfl-1", 2, "list of non-empty"), (["dfl-1", " "], 2, "list of non-empty"), ([], 0, ">= 1")],
)
def test_fetch_refuses_bad_input(item_ids: Any, concurrency: int, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        next(fetch_steps(item_ids, max_concurrency=concurrency))
