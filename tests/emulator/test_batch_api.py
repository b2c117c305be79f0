"""The six batch endpoints over real HTTP: paths, queries, bodies, shapes, filters, pagination."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobList,
    BatchJobStatus,
    ItemProcessingResults,
    JobItemList,
)
from tests.emulator.conftest import DIRS, JOBS, all_items, client_for, create_job

# These tests check the emulator's own listing order: oldest first (the fixture's order would
# otherwise follow --llamacloud-list-order; newest first is tested in test_batch_api.py).
pytestmark = pytest.mark.llamacloud_emulator(list_order="oldest_first")

CLASSIFY = {
    "rules": [
        {"type": "invoice", "description": "an invoice with an amount due and a total"},
        {"type": "contract", "description": "a contract agreement between parties"},
    ]
}


def test_create_from_directory_snapshots_its_files(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "alpha", "b.md": "# beta"}, name="docs")
    job = BatchJob.model_validate(create_job(api, directory_id=docs.id))
    assert job.id.startswith("bjb-")
    assert job.job_type == "parse"
    assert job.status == "pending"
    assert job.total_items == 2
    assert job.directory_id == docs.id
    assert job.project_id == emu.project_id
    # Files added after creation are not part of the job.
    emu.admin.freeze()
    api.post(
        f"/api/v1/beta/directories/{docs.id}/files/upload",
        files={"upload_file": ("late.txt", b"late")},
    ).raise_for_status()
    names = [i["item_name"] for i in all_items(api, job.id)]
    assert names == ["a.txt", "b.md"]


def test_create_from_item_ids_keeps_their_order(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    ids = [docs.files["c.txt"], docs.files["a.txt"]]
    job = create_job(api, item_ids=ids)
    assert job["total_items"] == 2
    assert job["directory_id"] is None
    assert [i["item_id"] for i in all_items(api, job["id"])] == ids


def test_empty_job_config_is_a_parse_job_and_rules_make_a_classify_job(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    assert create_job(api, directory_id=docs.id, job_config={})["job_type"] == "parse"
    parse = {"job_name": "parse_raw_file_job", "parameters": {"type": "parse", "fast_mode": True}}
    assert create_job(api, directory_id=docs.id, job_config=parse)["job_type"] == "parse"
    assert create_job(api, directory_id=docs.id, job_config=CLASSIFY)["job_type"] == "classify"


def test_unknown_fields_are_tolerated_like_a_real_server(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    body = {
        "directory_id": docs.id,
        "job_config": {"parameters": {"a_future_option": 3}},
        "future_top_level": True,
    }
    assert api.post(JOBS, json=body).status_code == 200


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"directory_id": "dir-x", "job_config": {}, "page_size": "many"}, ["body", "page_size"]),
        ({"directory_id": "dir-x", "job_config": {"parameters": {"fast_mode": "maybe"}}}, None),
        ({"job_config": {}}, ["body"]),
        ({"directory_id": "d", "item_ids": ["x"], "job_config": {}}, ["body"]),
        ({"directory_id": "dir-x"}, ["body", "job_config"]),
        ({"item_ids": [], "job_config": {}}, ["body"]),
    ],
)
def test_bad_bodies_answer_422_with_fastapi_style_detail(
    api: httpx.Client, body: dict[str, object], loc: list[str] | None
) -> None:
    response = api.post(JOBS, json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert all({"type", "loc", "msg"} <= set(d) for d in detail)
    assert all(d["loc"][0] == "body" for d in detail)
    if loc is not None:
        assert detail[0]["loc"] == loc


def test_body_that_is_not_json_answers_422(api: httpx.Client) -> None:
    response = api.post(JOBS, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_directory_is_404_and_unknown_item_ids_are_400(
    emu: Emulator, api: httpx.Client
) -> None:
    missing_dir = api.post(JOBS, json={"directory_id": "dir-nope", "job_config": {}})
    assert missing_dir.status_code == 404
    assert "dir-nope" in missing_dir.json()["detail"]
    docs = emu.admin.seed_directory({"a.txt": "a"})
    bad = api.post(JOBS, json={"item_ids": [docs.files["a.txt"], "dfl-nope"], "job_config": {}})
    assert bad.status_code == 400
    assert "dfl-nope" in bad.json()["detail"]
    # Nothing was created by the refused request.
    assert api.get(JOBS).json()["total_size"] == 0


def test_get_status_reports_progress_and_counters(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b", "empty.txt": "", "d.txt": "d"})
    emu.admin.freeze()
    job = create_job(api, directory_id=docs.id)
    status = BatchJobStatus.model_validate(api.get(f"{JOBS}/{job['id']}").json())
    assert status.job.status == "pending"
    assert status.progress_percentage == 0.0
    assert emu.admin.advance(2) == 2
    status = BatchJobStatus.model_validate(api.get(f"{JOBS}/{job['id']}").json())
    assert status.job.status == "running"
    assert status.job.started_at is not None
    assert status.job.processed_items == 2
    assert status.progress_percentage == 50.0
    emu.admin.advance(2)
    status = BatchJobStatus.model_validate(api.get(f"{JOBS}/{job['id']}").json())
    assert status.job.status == "completed"
    assert status.job.completed_at is not None
    assert (status.job.processed_items, status.job.failed_items) == (4, 1)
    assert status.progress_percentage == 100.0


def test_unknown_job_is_404(api: httpx.Client) -> None:
    for path in (f"{JOBS}/bjb-nope", f"{JOBS}/bjb-nope/items"):
        response = api.get(path)
        assert response.status_code == 404
        assert "bjb-nope" in response.json()["detail"]
    assert api.post(f"{JOBS}/bjb-nope/cancel", json={}).status_code == 404


@pytest.mark.llamacloud_emulator(list_order="oldest_first")
def test_list_jobs_filters_and_offset_pagination(emu: Emulator, api: httpx.Client) -> None:
    emu.admin.freeze()
    one = emu.admin.seed_directory({"a.txt": "a"})
    two = emu.admin.seed_directory({"b.txt": "b"})
    parse_one = create_job(api, directory_id=one.id)
    classify_one = create_job(api, directory_id=one.id, job_config=CLASSIFY)
    parse_two = create_job(api, directory_id=two.id)
    api.post(f"{JOBS}/{parse_two['id']}/cancel", json={}).raise_for_status()

    def ids(**params: object) -> list[str]:
        page = BatchJobList.model_validate(api.get(JOBS, params=params).json())
        return [j.id for j in page.items]

    assert ids() == [parse_one["id"], classify_one["id"], parse_two["id"]]
    assert ids(directory_id=one.id) == [parse_one["id"], classify_one["id"]]
    assert ids(job_type="classify") == [classify_one["id"]]
    # The doc strings write them capitalised, but the API's enums are lower case: exact match.
    assert api.get(JOBS, params={"job_type": "CLASSIFY"}).status_code == 422
    assert api.get(JOBS, params={"status": "Cancelled"}).status_code == 422
    assert ids(status="cancelled") == [parse_two["id"]]
    assert ids(status="pending", job_type="parse") == [parse_one["id"]]
    page = api.get(JOBS, params={"limit": 2, "offset": 1}).json()
    assert [j["id"] for j in page["items"]] == [classify_one["id"], parse_two["id"]]
    assert page["total_size"] == 3
    filtered = api.get(JOBS, params={"limit": 1, "directory_id": one.id}).json()
    assert filtered["total_size"] == 2 and len(filtered["items"]) == 1
    bad = api.get(JOBS, params={"status": "sleeping"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "status"]
    assert api.get(JOBS, params={"limit": 0}).status_code == 422


def test_list_items_status_filter_and_pagination(emu: Emulator, api: httpx.Client) -> None:
    files = {f"f{i:02}.txt": f"text {i}" for i in range(7)}
    files["broken.pdf"] = "not a pdf"
    docs = emu.admin.seed_directory(files)
    job = create_job(api, directory_id=docs.id)
    emu.admin.wait_for_job(job["id"])
    page = JobItemList.model_validate(
        api.get(f"{JOBS}/{job['id']}/items", params={"limit": 3, "offset": 2}).json()
    )
    assert page.total_size == 8
    assert [i.item_name for i in page.items] == ["f02.txt", "f03.txt", "f04.txt"]
    failed = api.get(f"{JOBS}/{job['id']}/items", params={"status": "failed"}).json()
    assert failed["total_size"] == 1
    assert failed["items"][0]["item_name"] == "broken.pdf"
    assert "PDF" in failed["items"][0]["error_message"]
    completed = all_items(api, job["id"], status="completed", limit=2)
    assert len(completed) == 7
    for item in completed:
        assert item["job_id"].startswith("pjb-")
        assert item["started_at"] is not None and item["completed_at"] is not None
        assert item["started_at"] <= item["completed_at"]
    assert len({i["job_id"] for i in completed}) == 7  # one underlying job per item
    assert api.get(f"{JOBS}/{job['id']}/items", params={"status": "nope"}).status_code == 422


def test_processing_results_across_jobs_with_job_type_filter(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"bill.txt": "invoice: total amount due 100 EUR"})
    item = docs.files["bill.txt"]
    parse = create_job(api, item_ids=[item])
    emu.admin.wait_for_job(parse["id"])
    classify = create_job(api, item_ids=[item], job_config=CLASSIFY)
    emu.admin.wait_for_job(classify["id"])
    url = f"{JOBS}/items/{item}/processing-results"
    everything = ItemProcessingResults.model_validate(api.get(url).json())
    assert everything.item_id == item and everything.item_name == "bill.txt"
    assert everything.processing_results is not None
    assert [r.job_type for r in everything.processing_results] == ["parse", "classify"]
    only = api.get(url, params={"job_type": "classify"}).json()["processing_results"]
    assert len(only) == 1
    result = only[0]
    assert result["output_metadata"]["type"] == "invoice"
    assert result["job_config"]["rules"] == CLASSIFY["rules"]
    # The classify config is echoed as a full ClassifyJob record, as the SDK's schema requires.
    assert {"id", "project_id", "user_id", "status"} <= set(result["job_config"])
    assert api.get(f"{JOBS}/items/dfl-nope/processing-results").status_code == 404
    assert api.get(url, params={"job_type": "sheets"}).status_code == 422


def test_cancel_pending_items_and_report_reason(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(5)})
    emu.admin.freeze()
    job = create_job(api, directory_id=docs.id)
    emu.admin.advance(2)
    response = api.post(f"{JOBS}/{job['id']}/cancel", json={"reason": "user asked"})
    assert response.status_code == 200
    cancel = BatchCancelResponse.model_validate(response.json())
    assert cancel.status == "cancelled"
    assert cancel.processed_items == 2
    assert "user asked" in cancel.message
    statuses = [i["status"] for i in all_items(api, job["id"])]
    assert statuses == ["completed", "completed", "cancelled", "cancelled", "cancelled"]
    truth = emu.admin.ground_truth(job["id"]).job(job["id"])
    assert truth.cancel_reason == "user asked"
    assert truth.status == "cancelled" and truth.completed_at is not None


def test_cancel_lets_items_in_flight_finish(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(6)})
    # Slow items (10 s each), two at a time: the first two are in flight when we cancel.
    emu.admin.settings(time_scale=1.0, item_duration_seconds=10.0, concurrency=2)
    job = create_job(api, directory_id=docs.id)
    truth = emu.admin.ground_truth(job["id"]).job(job["id"])
    for _ in range(200):
        if truth.counts["processing"] == 2:
            break
        truth = emu.admin.ground_truth(job["id"]).job(job["id"])
    assert truth.counts["processing"] == 2
    cancel = api.post(f"{JOBS}/{job['id']}/cancel", json={}).json()
    assert cancel["status"] == "cancelled"
    items = all_items(api, job["id"])
    assert [i["status"] for i in items].count("processing") == 2
    assert [i["status"] for i in items].count("cancelled") == 4
    emu.admin.advance(2)  # the items in flight finish after the cancel
    done = emu.admin.wait_for_job(job["id"])
    assert done.status == "cancelled"
    assert done.counts == {
        "pending": 0,
        "processing": 0,
        "completed": 2,
        "failed": 0,
        "skipped": 0,
        "cancelled": 4,
    }
    assert done.processed_items == 2


def test_cancel_of_a_finished_job_is_200_and_changes_nothing(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    job = create_job(api, directory_id=docs.id)
    emu.admin.wait_for_job(job["id"])
    response = api.post(f"{JOBS}/{job['id']}/cancel", json={"reason": "too late"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert "already completed" in body["message"]
    assert body["processed_items"] == 1
    assert api.get(f"{JOBS}/{job['id']}").json()["job"]["status"] == "completed"
    # A second cancel of a cancelled job is the same kind of no-op.
    emu.admin.freeze()
    other = create_job(api, directory_id=docs.id)
    api.post(f"{JOBS}/{other['id']}/cancel").raise_for_status()
    again = api.post(f"{JOBS}/{other['id']}/cancel").json()
    assert again["status"] == "cancelled" and "already cancelled" in again["message"]


def test_limit_above_the_maximum_is_422_like_the_api(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "x"})
    emu.admin.freeze()
    job = create_job(api, directory_id=docs.id)
    for path in (JOBS, f"{JOBS}/{job['id']}/items"):
        response = api.get(path, params={"limit": 1001})
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]
        assert api.get(path, params={"limit": 1000}).status_code == 200


@pytest.mark.llamacloud_emulator(clamp_limit=True)
def test_limit_above_the_maximum_is_clamped_convenience(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({f"{i:04}.txt": "x" for i in range(1005)})
    emu.admin.freeze()
    job = create_job(api, directory_id=docs.id)
    page = api.get(f"{JOBS}/{job['id']}/items", params={"limit": 5000}).json()
    assert len(page["items"]) == 1000
    assert page["total_size"] == 1005


@pytest.mark.llamacloud_emulator(case_insensitive_filters=True)
def test_enum_filters_in_any_case_convenience(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    job = create_job(api, directory_id=docs.id, job_config=CLASSIFY)
    listed = api.get(JOBS, params={"job_type": "CLASSIFY"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]


@pytest.mark.parametrize("order", ["oldest_first", "newest_first"])
def test_list_order_is_configurable_for_every_listing(
    llamacloud_emulator_pool: Any, order: str
) -> None:
    from prefect_llamabatch.emulator import EmulatorConfig

    emu = llamacloud_emulator_pool.acquire(EmulatorConfig(time_scale=0.01, list_order=order))
    try:
        with client_for(emu) as api:
            emu.admin.freeze()
            docs = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b", "c.txt": "c"})
            other = emu.admin.seed_directory({"z.txt": "z"})
            jobs = [create_job(api, directory_id=docs.id)["id"] for _ in range(3)]
            listed = [j["id"] for j in api.get(JOBS).json()["items"]]
            items = [i["item_name"] for i in api.get(f"{JOBS}/{jobs[0]}/items").json()["items"]]
            files = [f["display_name"] for f in api.get(f"{DIRS}/{docs.id}/files").json()["items"]]
            dirs = [d["id"] for d in api.get(DIRS).json()["items"]]
    finally:
        llamacloud_emulator_pool.release(emu)
    forward = order == "oldest_first"
    assert listed == (jobs if forward else jobs[::-1])
    assert items == (["a.txt", "b.txt", "c.txt"] if forward else ["c.txt", "b.txt", "a.txt"])
    assert files == (["a.txt", "b.txt", "c.txt"] if forward else ["c.txt", "b.txt", "a.txt"])
    assert dirs == ([docs.id, other.id] if forward else [other.id, docs.id])


@pytest.mark.llamacloud_emulator(include_total_size=False, max_page_size=2)
def test_hostile_listings_cap_pages_omit_total_size_and_fill_the_token(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(5)})
    emu.admin.freeze()
    job = create_job(api, directory_id=docs.id)
    first = api.get(f"{JOBS}/{job['id']}/items", params={"limit": 100}).json()
    assert len(first["items"]) == 2  # capped below the limit asked for
    assert "total_size" not in first
    assert first["next_page_token"]  # filled, like LlamaCloud's
    last = api.get(f"{JOBS}/{job['id']}/items", params={"limit": 100, "offset": 4}).json()
    assert len(last["items"]) == 1 and "next_page_token" not in last
    files = api.get(f"{DIRS}/{docs.id}/files", params={"page_size": 100}).json()
    assert len(files["items"]) == 2 and files["next_page_token"]


RECORD = {"id": "cls-1", "project_id": "proj-emulator", "status": "PENDING", "user_id": "usr-1"}


@pytest.mark.llamacloud_emulator(classify_record="required")
def test_the_schemas_letter_refuses_a_classify_record_without_its_required_fields(
    emu: Emulator, api: httpx.Client
) -> None:
    # ClassifyJob marks id, project_id, status and user_id required besides rules.
    docs = emu.admin.seed_directory({"a.txt": "a"})
    refused = api.post(JOBS, json={"directory_id": docs.id, "job_config": {**CLASSIFY, "id": "x"}})
    assert refused.status_code == 422
    named = [error["loc"][-1] for error in refused.json()["detail"]]
    assert named == ["project_id", "status", "user_id"]
    assert emu.admin.ground_truth().jobs == []  # nothing created
    full = {**CLASSIFY, **RECORD}
    assert create_job(api, directory_id=docs.id, job_config=full)["job_type"] == "classify"
    # A parse config has no record to carry.
    assert create_job(api, directory_id=docs.id, job_config={})["job_type"] == "parse"


def test_by_default_the_server_fills_the_classify_record(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    assert create_job(api, directory_id=docs.id, job_config=CLASSIFY)["job_type"] == "classify"
