"""Wire compatibility: the official ``llama-cloud`` SDK 2.19 (strict response validation, sync and
async) works unchanged against the emulator for every v2 method it offers here: batches,
configurations, parse jobs and extract jobs, auto-pagination included."""

from __future__ import annotations

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator
from tests.emulator.conftest import JOBS, client_for, create_job
from tests.emulator.v2.conftest import SdkRunner

DOCS = {
    "invoice.md": "# Invoice\n\nVendor: ACME Corp\n\nTotal: 1,250.50",
    "notes.txt": "meeting notes\nnothing about totals",
    "broken.pdf": b"not a pdf",
}


def _v1_parse_job_id(emu: Emulator, directory_id: str) -> str:
    with client_for(emu) as api:
        job = create_job(api, directory_id=directory_id)
        emu.admin.wait_for_job(job["id"])
        items = api.get(f"{JOBS}/{job['id']}/items", params={"status": "completed"}).json()
    by_name = {i["item_name"]: i for i in items["items"]}
    job_id: str = by_name["invoice.md"]["job_id"]
    return job_id


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_v2_method_under_strict_validation(
    emu: Emulator, run_sdk: SdkRunner, mode: str
) -> None:
    directory = emu.admin.seed_directory(DOCS)
    v1_job_id = _v1_parse_job_id(emu, directory.id)
    out = run_sdk("all", mode=mode, directory_id=directory.id, v1_job_id=v1_job_id)

    assert out["sdk_version"] == "2.19.0"
    # Configurations: create is an upsert by name and product type; presets resolve.
    assert out["upsert_same_id"] is True and out["upsert_tier"] == "agentic"
    assert out["retrieved_name"] == "docs"
    assert out["preset"] == ["parse_v2", "agentic"]
    assert out["config_names_paged"] == ["invoice", "docs"]  # newest first, one per page
    assert out["config_names_extract"] == ["invoice"]
    assert out["renamed"] == "docs-renamed"
    assert out["deleted_status"] == 404

    # Batches: created PENDING, finished COMPLETED although one file failed to parse.
    assert out["created_status"] == "PENDING"
    assert out["final_status"] == ["COMPLETED", "COMPLETED"]
    assert out["results_count"] == 3 and out["results_without_expand"] is None
    assert out["batch_ids_paged"] == out["expected_batch_ids"]
    assert sorted(out["filtered"]) == sorted(out["expected_batch_ids"])
    assert out["filtered_future"] == []
    assert out["cancel_finished_status"] == 400
    assert out["cancelled"] == ["PENDING", "CANCELLED"]
    assert out["missing_batch_status"] == 404

    # Parse jobs: one per file, with outputs derived from the file's content.
    outputs = {o["name"]: o for o in out["parse_outputs"].values()}
    invoice = outputs["invoice.md"]
    assert invoice["status"] == "COMPLETED"
    assert invoice["markdown"].startswith("# Invoice") and "Total: 1,250.50" in invoice["text"]
    assert invoice["item_types"] == ["heading", "text", "text"]
    assert httpx.get(invoice["markdown_url"]).text == invoice["markdown"]
    assert outputs["broken.pdf"]["status"] == "FAILED"
    assert "not a valid PDF" in outputs["broken.pdf"]["error"]
    assert out["parse_listed"] == out["job_ids"]
    assert out["parse_failed"] == ["broken.pdf"]

    # Extract jobs: the schema's fields found in the document.
    extracted = {
        tuple(map(str, v[1].values())) if v[1] else None for v in out["extract_results"].values()
    }
    assert ("1250.5", "ACME Corp") in extracted
    assert out["extract_listed"] == out["extract_ids"]

    # A v1 item's job_id is a parse job too.
    assert out["v1_parse"][0] == "COMPLETED" and out["v1_parse"][1].startswith("# Invoice")
