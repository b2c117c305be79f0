"""The package's flows end to end (emulator over HTTP, real Prefect API)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.exceptions import CancelledRun

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import (
    classify_directory,
    process_directory,
    process_items,
    retry_failed_items,
)
from prefect_llamabatch.orchestration.results import BatchItemsFailed, BatchRunResult
from tests.prefect.conftest import DOCS, FAST

pytestmark = pytest.mark.usefixtures("prefect")
SECRET = "sk-azure-do-not-store-4242"


def _flow_run(state: Any) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def _artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert found, f"no artifact {key}"
    return found[-1]


def _write_docs(folder: Path) -> Path:
    folder.mkdir()
    for name, content in DOCS.items():
        (folder / name).write_bytes(content)
    return folder


def test_process_local_folder_with_accepted_failures(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    folder = _write_docs(tmp_path / "invoices")
    export = tmp_path / "out" / "failed.jsonl"
    state = process_directory(
        creds,
        local_path=str(folder),
        wait=FAST,
        max_failed_fraction=0.4,
        export_path=str(export),
        return_state=True,
    )
    assert state.is_completed()
    result: BatchRunResult = state.result()
    assert _flow_run(state).name == "process-directory/invoices"
    assert result.accepted_failures and result.counts.failed == 2 and result.counts.total == 5
    assert sorted(f.item_name for f in result.failed_items) == ["bad-1.txt", "empty.txt"]
    truth = emu.admin.ground_truth().job(result.job_id)
    assert {i.item_name for i in truth.items if i.status == "failed"} == {"bad-1.txt", "empty.txt"}
    # api_calls counts every request of the run: upload, create, polls, report.
    assert result.api_calls == sum(emu.admin.request_counts().values())
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert sorted(row["item_name"] for row in lines) == ["bad-1.txt", "empty.txt"]
    slug = result.job_id.lower()
    summary = _artifact(f"llamabatch-summary-{slug}").data
    assert "Accepted failures" in summary and "2 of 5" in summary
    table = _artifact(f"llamabatch-failed-items-{slug}").data
    assert "bad-1.txt" in str(table)


def test_failed_items_fail_the_flow_by_default(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    state = process_directory(creds, directory_id=docs_dir, wait=FAST, return_state=True)
    assert state.is_failed()
    assert _flow_run(state).name == f"process-directory/{docs_dir}"
    with pytest.raises(BatchItemsFailed) as info:
        state.result()
    result = info.value.result
    assert len(result.failed_items) == 2
    summary = _artifact(f"llamabatch-summary-{result.job_id.lower()}").data
    assert "Failed: 2 of 5 items failed" in summary


@pytest.mark.emulator(failure_patterns=[])
def test_clean_run_completes(creds: LlamaCloudCredentials, emu: Emulator) -> None:
    directory = emu.admin.seed_directory({"x.txt": b"x", "y.txt": b"y"}, name="clean")
    result = process_directory(creds, directory_id=directory.id, wait=FAST)
    assert result.succeeded and result.counts.succeeded == 2 and result.failed_items == []


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "neither"),
        (
            {"directory_id": "dir-1", "local_path": ".", "directory_name": "d"},
            "without directory_id",
        ),
        ({"local_path": "/does/not/exist"}, "does not exist"),
        ({"directory_id": "dir-1", "job_config": {"parameters": {"fast_mod": True}}}, "fast_mode"),
        ({"directory_id": "dir-1", "max_failed_fraction": 2.0}, "max_failed_fraction"),
        ({"directory_id": "dir-1", "page_size": 0}, "page_size"),
        ({"directory_id": "dir-1", "wait": {"timeout_seconds": -1}}, "timeout_seconds"),
    ],
)
def test_bad_inputs_fail_before_any_http_call(
    emu: Emulator, creds: LlamaCloudCredentials, kwargs: dict[str, Any], needle: str
) -> None:
    state = process_directory(creds, return_state=True, **kwargs)
    assert state.is_failed()
    with pytest.raises(Exception, match=needle):
        state.result()
    assert emu.admin.request_log() == []


def test_empty_folder_is_refused(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="contains no files"):
        process_directory(creds, local_path=str(tmp_path))
    assert emu.admin.request_log() == []


@pytest.mark.parametrize("as_model", [False, True])
def test_secret_in_job_config_is_refused_and_never_stored(
    emu: Emulator, creds: LlamaCloudCredentials, as_model: bool
) -> None:
    from prefect_llamabatch.models import BatchParseJobRecordCreate

    config: Any = {"parameters": {"azure_openai_key": SECRET, "fast_mode": True}}
    if as_model:
        config = BatchParseJobRecordCreate.model_validate(config)
    state = process_directory(creds, directory_id="dir-1", job_config=config, return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError) as info:
        state.result()
    message = str(info.value)
    assert "job_config.parameters.azure_openai_key" in message and "LlamaBatchJob" in message
    assert SECRET not in message
    stored = _flow_run(state).parameters
    assert SECRET not in json.dumps(stored)
    assert stored["job_config"]["parameters"]["azure_openai_key"] == "**********"
    assert emu.admin.request_log() == []


@pytest.mark.emulator(start_frozen=True)
def test_remote_cancellation_ends_the_flow_cancelled(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    def cancel_when_created() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = emu.admin.ground_truth().jobs
            if jobs:
                with creds.get_client() as client:
                    client.cancel_job(jobs[0].id, "operator cancelled it in LlamaCloud")
                return
            time.sleep(0.02)

    canceller = threading.Thread(target=cancel_when_created)
    canceller.start()
    state = process_directory(creds, directory_id=docs_dir, wait=FAST, return_state=True)
    canceller.join()
    assert state.is_cancelled()
    assert "cancelled remotely" in (state.message or "")
    with pytest.raises(CancelledRun):
        state.result()


def test_process_items_and_classify(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    directory = emu.admin.seed_directory(
        {"inv.txt": b"invoice total due 100 EUR", "nda.txt": b"non-disclosure agreement signed"},
        name="mixed",
    )
    items = process_items(creds, list(directory.files.values()), wait=FAST)
    assert items.counts.total == 2 and items.succeeded
    classified = classify_directory(
        creds,
        directory.id,
        {"invoice": "an invoice with a total due", "contract": "a signed agreement"},
        wait=FAST,
    )
    assert classified.succeeded
    truth = emu.admin.ground_truth().job(classified.job_id)
    assert truth.job_type == "classify"


@pytest.mark.emulator(classify_record="required")
def test_classify_where_the_server_requires_the_whole_classify_record(
    emu: Emulator, creds: LlamaCloudCredentials
) -> None:
    directory = emu.admin.seed_directory({"inv.txt": b"invoice total due 100 EUR"}, name="one")
    rules = {"invoice": "an invoice with a total due"}
    state = classify_directory(creds, directory.id, rules, wait=FAST, return_state=True)
    assert state.is_failed() and "user_id" in str(state.result(raise_on_failure=False))
    assert emu.admin.ground_truth().jobs == []  # refused before anything started
    classified = classify_directory(
        creds, directory.id, rules, wait=FAST, project_id=emu.project_id, user_id="usr-1"
    )
    assert classified.succeeded
    record = emu.admin.ground_truth().job(classified.job_id).job_config
    assert record is not None and record["user_id"] == "usr-1"
    assert record["project_id"] == emu.project_id and record["status"] == "PENDING"


@pytest.mark.emulator(failure_patterns=["bad-*"], transient_failure_patterns=["flaky-*"])
def test_retry_failed_items_resubmits_only_failures(
    emu: Emulator, creds: LlamaCloudCredentials
) -> None:
    directory = emu.admin.seed_directory(
        {
            "ok.txt": b"fine",
            "flaky-1.txt": b"first time fails",
            "flaky-2.txt": b"same",
            "bad-1.txt": b"always",
        },
        name="retry",
    )
    first = process_directory(
        creds,
        directory_id=directory.id,
        job_config={"parameters": {"fast_mode": True}},
        wait=FAST,
        max_failed_fraction=None,
    )
    assert first.counts.failed == 3
    state = retry_failed_items(creds, first.job_id, max_rounds=2, wait=FAST, return_state=True)
    assert _flow_run(state).name == f"retry-failed-items/{first.job_id}"
    with pytest.raises(BatchItemsFailed) as info:
        state.result()
    merged = info.value.result
    assert [r.submitted for r in merged.rounds] == [3, 1]
    assert [f.item_name for f in merged.failed_items] == ["bad-1.txt"]
    assert merged.counts.total == 4 and merged.counts.failed == 1 and merged.counts.succeeded == 3
    jobs = emu.admin.ground_truth().jobs
    assert len(jobs) == 3
    # Each round only the failed items, with the original config.
    retry_jobs = [j for j in jobs if j.id != first.job_id]
    assert sorted(j.total_items for j in retry_jobs) == [1, 3]
    summary = _artifact(f"llamabatch-retry-summary-{first.job_id.lower()}").data
    assert "after 2 round(s), 1 still fail" in summary


@pytest.mark.emulator(failure_patterns=[], transient_failure_patterns=["flaky-*"])
def test_retry_until_none_fail(emu: Emulator, creds: LlamaCloudCredentials) -> None:
    directory = emu.admin.seed_directory({"ok.txt": b"fine", "flaky-1.txt": b"once"}, name="retry")
    first = process_directory(creds, directory_id=directory.id, wait=FAST, max_failed_fraction=None)
    merged = retry_failed_items(creds, first.job_id, max_rounds=3, wait=FAST)
    assert len(merged.rounds) == 1 and merged.counts.failed == 0 and merged.succeeded


def test_flows_run_as_subflows_of_an_async_flow(
    creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    @flow
    async def nightly() -> int:
        result = process_directory(
            creds, directory_id=docs_dir, wait=FAST, max_failed_fraction=None
        )
        return result.counts.failed

    assert asyncio.run(nightly()) == 2
