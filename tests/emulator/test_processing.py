"""The scheduler as a client sees it: statuses, counters that always agree with the items,
concurrency, cycles, freeze/advance, and the optional ``dispatched`` status."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator, JobTruth
from tests.emulator.conftest import JOBS, all_items, client_for, create_job

STATUSES = ("pending", "processing", "completed", "failed", "skipped", "cancelled")


def _check_snapshot(job: JobTruth) -> None:
    """Counters, wire counters and progress agree with the items of one consistent snapshot."""
    by_status = {s: 0 for s in STATUSES}
    for item in job.items:
        by_status[item.status_value] += 1
    assert by_status == job.counts
    assert sum(job.counts.values()) == job.total_items
    done = job.counts["completed"] + job.counts["failed"] + job.counts["skipped"]
    assert job.processed_items == done
    assert job.failed_items == job.counts["failed"]
    assert job.skipped_items == job.counts["skipped"]
    assert job.progress_percentage == round(100 * done / job.total_items, 2)
    if job.status_value == "pending":
        assert job.counts["processing"] == 0 and done == 0
    for item in job.items:
        if item.status_value == "pending":
            assert item.started_at is None and item.completed_at is None
        if item.status_value == "processing":
            assert item.started_at is not None and item.completed_at is None
            assert item.job_id is not None
        if item.status_value in ("completed", "failed", "skipped"):
            assert item.started_at is not None and item.completed_at is not None


def _check_status_response(body: dict[str, Any]) -> None:
    job = body["job"]
    assert 0 <= job["failed_items"] + job["skipped_items"] <= job["processed_items"]
    assert job["processed_items"] <= job["total_items"]
    assert body["progress_percentage"] == round(
        100 * job["processed_items"] / job["total_items"], 2
    )


@pytest.mark.llamacloud_emulator(time_scale=0.02, concurrency=3)
def test_counters_agree_with_items_at_every_observed_moment(
    emu: Emulator, api: httpx.Client
) -> None:
    files: dict[str, str] = {f"doc-{i:03}.txt": "text" for i in range(120)}
    files.update({f"bad-{i}.pdf": "nope" for i in range(10)})
    docs = emu.admin.seed_directory(files)
    job = create_job(api, directory_id=docs.id)
    snapshots: list[JobTruth] = []
    statuses: list[dict[str, Any]] = []
    stop = threading.Event()

    def poll_status() -> None:
        with client_for(emu) as client:
            while not stop.is_set():
                statuses.append(client.get(f"{JOBS}/{job['id']}").json())

    poller = threading.Thread(target=poll_status)
    poller.start()
    try:
        while True:
            truth = emu.admin.ground_truth(job["id"]).job(job["id"])
            snapshots.append(truth)
            if truth.status_value == "completed":
                break
    finally:
        stop.set()
        poller.join()
    for snapshot in snapshots:
        _check_snapshot(snapshot)
    running = [s for s in snapshots if s.status_value == "running"]
    assert running, "the job was observed while it ran"
    assert max(s.counts["processing"] for s in snapshots) <= 3
    assert any(0 < s.processed_items < s.total_items for s in snapshots)
    for body in statuses:
        _check_status_response(body)
    processed = [b["job"]["processed_items"] for b in statuses]
    assert processed == sorted(processed)  # never goes backwards
    final = snapshots[-1]
    assert final.counts["completed"] == 120 and final.counts["failed"] == 10


def test_freeze_and_advance_step_through_a_job(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(5)})
    emu.admin.freeze()
    job = create_job(api, directory_id=docs.id)
    assert emu.admin.ground_truth(job["id"]).job(job["id"]).counts["pending"] == 5
    for step in range(1, 6):
        assert emu.admin.advance(1) == 1
        truth = emu.admin.ground_truth(job["id"]).job(job["id"])
        _check_snapshot(truth)
        assert truth.processed_items == step
        assert truth.status_value == ("completed" if step == 5 else "running")
    assert emu.admin.advance(3) == 0  # nothing left


def test_underlying_job_ids_are_distinct_from_the_batch(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(4)})
    job = create_job(api, directory_id=docs.id)
    emu.admin.wait_for_job(job["id"])
    ids = [i["job_id"] for i in all_items(api, job["id"])]
    assert len(set(ids)) == 4
    assert all(i.startswith("pjb-") and i != job["id"] for i in ids)
    # Processing the same file again is another underlying job.
    again = create_job(api, directory_id=docs.id, job_config={"parameters": {"fast_mode": True}})
    emu.admin.wait_for_job(again["id"])
    assert not set(ids) & {i["job_id"] for i in all_items(api, again["id"])}


@pytest.mark.llamacloud_emulator(time_scale=1.0, item_duration_seconds=30.0, concurrency=2)
def test_concurrency_bounds_items_in_flight_per_job(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(6)})
    one = create_job(api, directory_id=docs.id)
    two = create_job(api, directory_id=docs.id, job_config={"parameters": {"fast_mode": True}})
    truth = emu.admin.ground_truth()
    for _ in range(500):
        if all(j.counts["processing"] == 2 for j in truth.jobs):
            break
        truth = emu.admin.ground_truth()
    assert [j.counts["processing"] for j in truth.jobs] == [2, 2]
    assert [j.counts["pending"] for j in truth.jobs] == [4, 4]
    assert {j.id for j in truth.jobs} == {one["id"], two["id"]}


def test_directory_jobs_hand_out_items_in_cycles(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(7)})
    emu.admin.settings(time_scale=1.0, item_duration_seconds=30.0, concurrency=10)
    job = create_job(api, directory_id=docs.id, page_size=10, continue_as_new_threshold=3)

    def truth() -> JobTruth:
        return emu.admin.ground_truth(job["id"]).job(job["id"])

    seen = truth()
    for _ in range(500):
        if seen.counts["processing"] == 3:
            break
        seen = truth()
    # Only the first cycle (3 items) is in flight, though concurrency would allow 10.
    assert seen.cycle_size == 3 and seen.cycle == 0
    assert [i.status_value for i in seen.items] == ["processing"] * 3 + ["pending"] * 4
    emu.admin.advance(3)
    seen = truth()
    for _ in range(500):
        if seen.counts["processing"] == 3:
            break
        seen = truth()
    assert seen.cycle == 1
    assert [i.status_value for i in seen.items[3:6]] == ["processing"] * 3
    emu.admin.advance(3)
    emu.admin.advance(1)  # the last, short cycle
    done = emu.admin.wait_for_job(job["id"])
    assert done.cycle == 2 and done.status_value == "completed"


def test_item_ids_jobs_have_no_cycles(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(3)})
    emu.admin.freeze()
    job = create_job(api, item_ids=list(docs.files.values()), page_size=1)
    assert emu.admin.ground_truth(job["id"]).job(job["id"]).cycle_size is None


@pytest.mark.llamacloud_emulator(dispatched_status=True, start_frozen=True)
def test_dispatched_once_every_item_is_handed_out(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b"})
    job = create_job(api, directory_id=docs.id)
    assert api.get(f"{JOBS}/{job['id']}").json()["job"]["status"] == "pending"
    emu.admin.settings(time_scale=1.0, item_duration_seconds=30.0)
    emu.admin.resume()
    status = api.get(f"{JOBS}/{job['id']}").json()["job"]["status"]
    for _ in range(500):
        if status == "dispatched":
            break
        status = api.get(f"{JOBS}/{job['id']}").json()["job"]["status"]
    assert status == "dispatched"
    emu.admin.advance(2)
    assert api.get(f"{JOBS}/{job['id']}").json()["job"]["status"] == "completed"


def test_settings_change_at_run_time_and_reset_restores_them(
    emu: Emulator, api: httpx.Client
) -> None:
    changed = emu.admin.settings(concurrency=7, failure_patterns=["*x*"], failure_rate=0.5)
    assert changed["concurrency"] == 7 and changed["failure_patterns"] == ["*x*"]
    docs = emu.admin.seed_directory({"x.txt": "x"})
    job = create_job(api, directory_id=docs.id)
    assert emu.admin.wait_for_job(job["id"]).status_value == "failed"
    emu.admin.freeze()
    emu.admin.reset()
    restored = httpx.get(
        f"{emu.base_url}/_emulator/info", headers={"X-Emulator-Admin-Token": emu.admin_token}
    ).json()
    assert restored["settings"]["concurrency"] == 4
    assert restored["settings"]["failure_patterns"] == []
    assert restored["frozen"] is False
    assert api.get(JOBS).json()["total_size"] == 0
    response = httpx.patch(
        f"{emu.base_url}/_emulator/settings",
        json={"concurrency": 0},
        headers={"X-Emulator-Admin-Token": emu.admin_token},
    )
    assert response.status_code == 422
