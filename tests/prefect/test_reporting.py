"""report_failed_items: paging split, exports, summary text, and the fan-out end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import BatchJob, JobItem
from prefect_llamabatch.orchestration.reporting import (
    FailedItemsReport,
    render_summary,
    report_failed_items,
    write_export,
)
from prefect_llamabatch.orchestration.results import FailedItem, SkippedItem


def _failed(i: int, error: str = "Invalid PDF") -> FailedItem:
    item = JobItem(
        item_id=f"dfl-{i}",
        item_name=f"doc-{i}.pdf",
        status="failed",
        error_message=error,
        job_id=f"pjb-{i}",
    )
    return FailedItem.from_item(item, batch_job_id="bjb-1")


def _job(**counts: int) -> BatchJob:
    return BatchJob(
        id="bjb-1",
        job_type="parse",
        project_id="p",
        status="completed",
        directory_id="dir-1",
        **counts,
    )


def test_csv_and_jsonl_exports(tmp_path: Path) -> None:
    items = [_failed(1, 'bad, "quoted"\nline'), _failed(2)]
    path = write_export(items, tmp_path / "out.csv", job_id="bjb-1")
    rows = list(csv.DictReader(path.open()))
    assert [r["item_id"] for r in rows] == ["dfl-1", "dfl-2"]
    assert rows[0]["error_message"] == 'bad, "quoted"\nline'
    folder_file = write_export(items, tmp_path, job_id="BJB-1", export_format="jsonl")
    assert folder_file.name == "failed-items-bjb-1.jsonl"
    assert [json.loads(line)["item_name"] for line in folder_file.read_text().splitlines()] == [
        "doc-1.pdf",
        "doc-2.pdf",
    ]
    with pytest.raises(ValueError, match="export_format"):
        write_export(items, tmp_path / "x.xlsx", job_id="bjb-1")


def test_summary_counts_errors_skips_and_verdict() -> None:
    report = FailedItemsReport(
        job=_job(total_items=10, processed_items=9, failed_items=3, skipped_items=1),
        failed=[_failed(1), _failed(2), _failed(3, "Empty file")],
        skipped=[
            SkippedItem(
                item_id="dfl-9",
                item_name="x",
                skip_reason="already_processed",
                batch_job_id="bjb-1",
            )
        ],
    )
    text = render_summary(report, max_failed_fraction=0.5)
    assert (
        "| completed | 5 |" in text and "| failed | 3 |" in text and "| not processed | 1 |" in text
    )
    assert "Accepted failures: 3 of 10" in text
    assert text.index("Invalid PDF") < text.index("Empty file")  # most common first
    assert "already_processed" in text
    assert "Failed: 3 of 10" in render_summary(report, max_failed_fraction=0.1)


def test_report_rejects_bad_arguments_before_http(
    emu: Emulator, creds: LlamaCloudCredentials, prefect: str
) -> None:
    for kwargs, needle in [
        ({"page_size": 0}, "page_size"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"export_format": "xml"}, "export_format"),
    ]:
        with pytest.raises(ValueError, match=needle):
            report_failed_items(creds, "bjb-1", **kwargs)  # type: ignore[arg-type]
    assert emu.admin.request_log() == []


@pytest.mark.emulator(time_scale=0.0005, concurrency=32, failure_patterns=["f-*"])
def test_report_fans_out_over_pages_not_items(
    emu: Emulator, creds: LlamaCloudCredentials, prefect: str, tmp_path: Path
) -> None:
    files = {f"f-{i:04d}.txt": b"x" for i in range(640)}
    files["ok.txt"] = b"fine"
    directory = emu.admin.seed_directory(files, name="many")
    with creds.get_client() as client:
        job = client.create_job({"directory_id": directory.id, "job_config": {}})
    emu.admin.wait_for_job(job.id, timeout=60)

    state = report_failed_items(
        creds,
        job.id,
        page_size=50,
        max_concurrency=4,
        max_table_rows=100,
        include_results=True,
        export_path=str(tmp_path),
        return_state=True,
    )
    report: FailedItemsReport = state.result()
    truth = emu.admin.ground_truth().job(job.id)
    expected = [i.item_id for i in truth.items if i.status == "failed"]
    assert [f.item_id for f in report.failed] == expected and len(expected) == 640
    assert all(f.error_message and f.processing_results is not None for f in report.failed)
    # One get + the listings + 640 result fetches, all counted. The failed listing reads its 13
    # pages, and at most one window of 4 pages past them where total_size cannot end it; the
    # skipped listing reads 1 empty page.
    listed = emu.admin.request_counts()["list_items"]
    assert report.api_calls == 1 + listed + 640
    assert 13 + 1 <= listed <= 13 + 4 + 1

    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
        )
        table = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"llamabatch-failed-items-{job.id}"])
            )
        )[-1]
    names = sorted(t.name.split("/")[0] for t in task_runs)
    # Bounded fan-out: 1 job read, 1 listing per status (the client pages concurrently inside
    # it), <= 4 result chunks.
    assert names.count("list-items") == 2 and names.count("get-results-chunk") <= 4
    assert len(task_runs) <= 7
    assert len(json.loads(table.data)) == 100
    assert "540 more" in (table.description or "")
    exported = Path(report.export_path or "")
    assert sum(1 for _ in exported.open()) == 641  # header + every failed item


@pytest.mark.emulator(time_scale=0.0005, concurrency=32, failure_patterns=["f-*"])
def test_report_is_the_same_under_another_task_runner(
    emu: Emulator, creds: LlamaCloudCredentials, prefect: str, tmp_path: Path
) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    files = {f"f-{i:03d}.txt": b"x" for i in range(120)}
    files["ok.txt"] = b"fine"
    directory = emu.admin.seed_directory(files, name="runners")
    with creds.get_client() as client:
        job = client.create_job({"directory_id": directory.id, "job_config": {}})
    emu.admin.wait_for_job(job.id, timeout=60)
    options = {"page_size": 10, "max_concurrency": 4, "include_results": True, "artifacts": False}

    default = report_failed_items(
        creds, job.id, export_path=str(tmp_path / "default.csv"), **options
    )
    two_workers = report_failed_items.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))(
        creds, job.id, export_path=str(tmp_path / "two.csv"), return_state=True, **options
    )
    other: FailedItemsReport = two_workers.result()

    expected = [
        i.item_id for i in emu.admin.ground_truth().job(job.id).items if i.status == "failed"
    ]
    assert [f.item_id for f in default.failed] == [f.item_id for f in other.failed] == expected
    assert all(f.processing_results is not None for f in other.failed)
    assert (tmp_path / "default.csv").read_text() == (tmp_path / "two.csv").read_text()
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [two_workers.state_details.flow_run_id]})
        )
    names = [t.name.split("/")[0] for t in task_runs]
    # 4 result chunks on a pool of 2 workers: they queued, and every one ran.
    assert names.count("list-items") == 2 and names.count("get-results-chunk") == 4
    assert all(t.state_type is not None and t.state_type.value == "COMPLETED" for t in task_runs)
