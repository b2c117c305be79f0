"""The v2 API over plain HTTP: limits, cancel rules, THROTTLED, presigned URLs, strict bodies."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from prefect_llamabatch import BatchClient
from prefect_llamabatch.emulator import Emulator, EmulatorConfig, run_emulator
from tests.emulator.conftest import client_for

BATCHES = "/api/v2/batches"
CONFIGS = "/api/v1/beta/configurations"
PARSE = "/api/v2/parse"


def _batch_body(directory_id: str, configuration_id: str = "cfg-PARSE_FAST") -> dict[str, Any]:
    return {
        "config": {"job": {"type": "parse_v2", "configuration_id": configuration_id}},
        "source_directory_id": directory_id,
    }


def _create(api: httpx.Client, directory_id: str, **kwargs: Any) -> dict[str, Any]:
    response = api.post(BATCHES, json=_batch_body(directory_id, **kwargs))
    assert response.status_code == 200, response.text
    batch: dict[str, Any] = response.json()
    return batch


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until ``check()`` is truthy (an observable event), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _status(api: httpx.Client, batch_id: str) -> str:
    status: str = api.get(f"{BATCHES}/{batch_id}").json()["status"]
    return status


def test_a_batch_takes_at_most_1000_files(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({f"{i}.txt": "x" for i in range(1000)})
    emu.admin.freeze()
    assert _create(api, directory.id)["status"] == "PENDING"
    upload = api.post(
        f"/api/v1/beta/directories/{directory.id}/files/upload",
        files={"upload_file": ("one-more.txt", b"y")},
    )
    assert upload.status_code == 200
    refused = api.post(BATCHES, json=_batch_body(directory.id))
    assert refused.status_code == 400
    assert "1001 files" in refused.json()["detail"] and "at most 1000" in refused.json()["detail"]


def test_a_finished_batch_cannot_be_cancelled(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.txt": "a"})
    batch = _create(api, directory.id)
    _eventually(lambda: _status(api, batch["id"]) == "COMPLETED")
    refused = api.post(f"{BATCHES}/{batch['id']}/cancel")
    assert refused.status_code == 400
    assert "already COMPLETED" in refused.json()["detail"]
    assert _status(api, batch["id"]) == "COMPLETED"


def test_cancel_stops_pending_jobs(emu: Emulator, api: httpx.Client) -> None:
    emu.admin.settings(item_duration_seconds=60, concurrency=1)
    directory = emu.admin.seed_directory({f"{i}.txt": "a" for i in range(3)})
    batch = _create(api, directory.id)
    _eventually(lambda: _status(api, batch["id"]) == "RUNNING")
    cancelled = api.post(f"{BATCHES}/{batch['id']}/cancel").json()
    assert cancelled["status"] == "CANCELLED"
    jobs = api.get(PARSE).json()["items"]
    assert sorted(j["status"] for j in jobs) == ["CANCELLED", "CANCELLED", "RUNNING"]
    results = api.get(f"{BATCHES}/{batch['id']}", params={"expand": "results"}).json()["results"]
    assert {r["job_reference"]["id"] for r in results} == {j["id"] for j in jobs}


@pytest.mark.llamacloud_emulator(v2_max_running_batches=1, item_duration_seconds=60)
def test_batches_past_the_running_limit_wait_as_throttled(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.txt": "a"})
    first = _create(api, directory.id)
    _eventually(lambda: _status(api, first["id"]) == "RUNNING")
    second = _create(api, directory.id)
    _eventually(lambda: _status(api, second["id"]) == "THROTTLED")
    listed = api.get(BATCHES, params={"status": "THROTTLED"}).json()["items"]
    assert [b["id"] for b in listed] == [second["id"]]
    api.post(f"{BATCHES}/{first['id']}/cancel").raise_for_status()
    _eventually(lambda: _status(api, second["id"]) == "RUNNING")


def test_a_batch_whose_directory_vanished_fails(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.freeze()
    batch = _create(api, directory.id)
    api.delete(f"/api/v1/beta/directories/{directory.id}").raise_for_status()
    emu.admin.resume()
    _eventually(lambda: _status(api, batch["id"]) == "FAILED")
    expanded = api.get(f"{BATCHES}/{batch['id']}", params={"expand": "results"}).json()
    assert expanded["results"] == []


@pytest.mark.llamacloud_emulator(v2_presigned_url_ttl_seconds=2)
def test_presigned_output_urls_expire_and_are_signed(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.md": "# A\n\nbody"})
    batch = _create(api, directory.id)
    _eventually(lambda: _status(api, batch["id"]) == "COMPLETED")
    results = api.get(f"{BATCHES}/{batch['id']}", params={"expand": "results"}).json()["results"]
    job_id = results[0]["job_reference"]["id"]
    got = api.get(
        f"{PARSE}/{job_id}", params=[("expand", "text_content_metadata"), ("expand", "items")]
    ).json()
    meta = got["result_content_metadata"]["text"]
    url = meta["presigned_url"]
    fetched = httpx.get(url)  # no API key: the signature is the credential
    assert fetched.status_code == 200 and fetched.text == "# A\n\nbody"
    assert meta["size_bytes"] == len(fetched.content)
    assert got["items"]["pages"][0]["items"][0] == {
        "md": "# A",
        "value": "A",
        "type": "heading",
        "level": 1,
    }
    tampered = url.replace("/text?", "/markdown?")
    assert httpx.get(tampered).status_code == 403
    expires = int(parse_qs(urlparse(url).query)["expires"][0])
    _eventually(lambda: time.time() > expires + 0.01, timeout=10)
    assert httpx.get(url).status_code == 403


def test_configurations_are_upserted_and_presets_read_only(api: httpx.Client) -> None:
    body = {
        "name": "n",
        "parameters": {"product_type": "parse_v2", "tier": "fast", "version": "latest"},
    }
    first = api.post(CONFIGS, json=body).json()
    body["parameters"]["tier"] = "agentic"
    second = api.post(CONFIGS, json=body).json()
    assert second["id"] == first["id"] and second["parameters"]["tier"] == "agentic"
    assert second["version"] >= first["version"]
    other_type = api.post(
        CONFIGS, json={"name": "n", "parameters": {"product_type": "extract_v2", "data_schema": {}}}
    ).json()
    assert other_type["id"] != first["id"]
    assert api.delete(f"{CONFIGS}/cfg-PARSE_AGENTIC").status_code == 400
    assert api.put(f"{CONFIGS}/cfg-PARSE_AGENTIC", json={"name": "x"}).status_code == 400
    page = api.get(CONFIGS, params={"page_size": 1}).json()
    assert len(page["items"]) == 1 and page["next_page_token"]
    rest = api.get(CONFIGS, params={"page_size": 1, "page_token": page["next_page_token"]}).json()
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {first["id"], other_type["id"]}
    assert rest["next_page_token"] is None


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            CONFIGS,
            {"name": "n", "parameters": {"product_type": "parse_v2", "version": "latest"}},
            ["body", "parameters", "parse_v2", "tier"],
        ),
        (
            CONFIGS,
            {
                "name": "n",
                "parameters": {"product_type": "parse_v2", "tier": "turbo", "version": "latest"},
            },
            ["body", "parameters", "parse_v2", "tier"],
        ),
        (
            CONFIGS,
            {"name": "n", "parameters": {"product_type": "extract_v2"}},
            ["body", "parameters", "extract_v2", "data_schema"],
        ),
        (CONFIGS, {"parameters": {"product_type": "unknown"}}, ["body", "name"]),
        (
            BATCHES,
            {
                "config": {"job": {"type": "classify_v2", "configuration_id": "c"}},
                "source_directory_id": "d",
            },
            ["body", "config", "job", "type"],
        ),
        (
            BATCHES,
            {"config": {"job": {"type": "parse_v2"}}, "source_directory_id": "d"},
            ["body", "config", "job", "configuration_id"],
        ),
        (
            BATCHES,
            {"config": {"job": {"type": "parse_v2", "configuration_id": "c"}}},
            ["body", "source_directory_id"],
        ),
        (
            CONFIGS,
            {
                "name": "n",
                "parameters": {
                    "product_type": "parse_v2",
                    "tier": "fast",
                    "version": "latest",
                    "processing_options": {"ignore": {"ignore_diagonal_text": "sometimes"}},
                },
            },
            [
                "body",
                "parameters",
                "parse_v2",
                "processing_options",
                "ignore",
                "ignore_diagonal_text",
            ],
        ),
        (
            CONFIGS,
            {
                "name": "n",
                "parameters": {
                    "product_type": "parse_v2",
                    "tier": "fast",
                    "version": "latest",
                    "processing_options": {"auto_mode_configuration": [{"trigger_mode": "x"}]},
                },
            },
            [
                "body",
                "parameters",
                "parse_v2",
                "processing_options",
                "auto_mode_configuration",
                0,
                "parsing_conf",
            ],
        ),
        (
            CONFIGS,
            {
                "name": "n",
                "parameters": {
                    "product_type": "parse_v2",
                    "tier": "fast",
                    "version": "latest",
                    "output_options": {"images_to_save": ["thumbnail"]},
                },
            },
            ["body", "parameters", "parse_v2", "output_options", "images_to_save", 0],
        ),
    ],
)
def test_request_bodies_are_validated_as_the_sdk_types_define_them(
    api: httpx.Client, path: str, body: dict[str, Any], loc: list[str]
) -> None:
    response = api.post(path, json=body)
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]


def test_unknown_fields_are_ignored_as_a_server_does(emu: Emulator, api: httpx.Client) -> None:
    created = api.post(
        CONFIGS,
        json={
            "name": "n",
            "future_field": 1,
            "parameters": {
                "product_type": "parse_v2",
                "tier": "fast",
                "version": "latest",
                "page_ranges": {"max_pages": 3, "newer_option": True},
            },
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["parameters"]["page_ranges"]["max_pages"] == 3
    directory = emu.admin.seed_directory({"a.txt": "a"})
    batch = api.post(BATCHES, json={**_batch_body(directory.id), "priority": "high"})
    assert batch.status_code == 200, batch.text


def test_batch_create_checks_configuration_and_directory(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.txt": "a"})
    extract = api.post(
        CONFIGS, json={"name": "e", "parameters": {"product_type": "extract_v2", "data_schema": {}}}
    ).json()
    mismatch = api.post(BATCHES, json=_batch_body(directory.id, configuration_id=extract["id"]))
    assert mismatch.status_code == 400 and "extract_v2 configuration" in mismatch.json()["detail"]
    assert api.post(BATCHES, json=_batch_body(directory.id, "cfg-nope")).status_code == 404
    assert api.post(BATCHES, json=_batch_body("dir-nope")).status_code == 404


def test_lists_refuse_what_the_schema_refuses(api: httpx.Client) -> None:
    assert api.get(BATCHES, params={"status": "completed"}).status_code == 422  # case matters
    assert api.get(BATCHES, params={"page_size": 1001}).status_code == 422
    assert api.get(BATCHES, params={"page_size": 0}).status_code == 422
    assert api.get(BATCHES, params={"page_token": "junk"}).status_code == 400
    assert api.get(f"{BATCHES}/bat-x", params={"expand": "everything"}).status_code == 422
    assert api.get(f"{PARSE}/pjb-nope").status_code == 404


def test_v1_classify_jobs_are_not_parse_jobs(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.txt": "invoice total"})
    job = api.post(
        "/api/v1/beta/batch-processing",
        json={
            "directory_id": directory.id,
            "job_config": {
                "job_name": "classify_job",
                "rules": [{"type": "invoice", "description": "an invoice"}],
            },
        },
    )
    assert job.status_code == 200, job.text
    emu.admin.wait_for_job(job.json()["id"])
    items = api.get(f"/api/v1/beta/batch-processing/{job.json()['id']}/items").json()["items"]
    assert items[0]["job_id"].startswith("cjb-")
    assert api.get(f"{PARSE}/{items[0]['job_id']}").status_code == 404


def test_faults_target_v2_routes_by_name(emu: Emulator, api: httpx.Client) -> None:
    directory = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults(["create_batch:503:1.0:1"])
    assert api.post(BATCHES, json=_batch_body(directory.id)).status_code == 503
    assert api.post(BATCHES, json=_batch_body(directory.id)).status_code == 200
    assert len(api.get(BATCHES).json()["items"]) == 1
    assert emu.admin.request_counts()["create_batch"] == 2


def test_restart_on_the_same_db_keeps_v2_state_and_resumes(tmp_path: Path) -> None:
    config = EmulatorConfig(db_path=tmp_path / "e.db", item_duration_seconds=0.01)
    with run_emulator(config) as emu:
        directory = emu.admin.seed_directory({"a.md": "# A", "b.md": "# B"})
        with client_for(emu) as api:
            saved = api.post(
                CONFIGS,
                json={
                    "name": "n",
                    "parameters": {"product_type": "parse_v2", "tier": "fast", "version": "latest"},
                },
            ).json()
            emu.admin.freeze()
            batch = _create(api, directory.id, configuration_id=saved["id"])
        emu.restart()  # the start config is not frozen: the batch goes on
        with client_for(emu) as api:
            assert api.get(f"{CONFIGS}/{saved['id']}").json()["name"] == "n"
            _eventually(lambda: _status(api, batch["id"]) == "COMPLETED")
            jobs = api.get(PARSE, params={"status": "COMPLETED"}).json()["items"]
            assert sorted(j["name"] for j in jobs) == ["a.md", "b.md"]


def test_v2_route_names_are_the_routes() -> None:
    from prefect_llamabatch.emulator.settings import V2_ROUTE_NAMES
    from prefect_llamabatch.emulator.v2_api import router

    assert sorted(getattr(r, "name", "") for r in router.routes) == sorted(V2_ROUTE_NAMES)


@pytest.mark.llamacloud_emulator(transient_failure_patterns=["flaky-*"])
def test_a_transient_failure_succeeds_when_the_same_file_runs_again_in_another_directory(
    emu: Emulator, api: httpx.Client
) -> None:
    # A v2 retry (and a shard) adds the failed files to a new directory by file id: the file's
    # earlier processing counts there too (docs/emulator.md, outcome rule 4), as on v1.
    source = emu.admin.seed_directory({"flaky-scan.txt": "readable on the second try"})
    first = _create(api, source.id)
    _eventually(lambda: _status(api, first["id"]) == "COMPLETED")
    [failed] = api.get(PARSE).json()["items"]
    assert failed["status"] == "FAILED" and "transient" in failed["error_message"]

    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        [listed] = list(client.iter_directory_files(source.id))
        retry_dir = client.create_directory("retry", type="ephemeral")
        client.add_file(retry_dir.id, listed.file_id or "", display_name=listed.display_name)
    again = _create(api, retry_dir.id)
    _eventually(lambda: _status(api, again["id"]) == "COMPLETED")
    jobs = {j["id"]: j for j in api.get(PARSE).json()["items"]}
    [retried] = [r["job_reference"]["id"] for r in _results(api, again["id"])]
    assert jobs[retried]["status"] == "COMPLETED"


def _results(api: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    body = api.get(f"{BATCHES}/{batch_id}", params={"expand": "results"}).json()
    results: list[dict[str, Any]] = body["results"]
    return results
