"""The directory endpoints over real HTTP: CRUD, multipart upload, add, filters, cursor pages."""

from __future__ import annotations

import json

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import Directory, DirectoryFile, DirectoryFileList, DirectoryList
from tests.emulator.conftest import DIRS

# These tests check the emulator's own listing order: oldest first (the fixture's order would
# otherwise follow --llamacloud-list-order; newest first is tested in test_batch_api.py).
pytestmark = pytest.mark.llamacloud_emulator(list_order="oldest_first")


def _directory(api: httpx.Client, **body: object) -> dict[str, object]:
    response = api.post(DIRS, json={"name": "docs", **body})
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def _upload(
    api: httpx.Client, directory_id: object, name: str, content: bytes, **fields: str
) -> dict[str, object]:
    response = api.post(
        f"{DIRS}/{directory_id}/files/upload",
        files={"upload_file": (name, content, "application/octet-stream")},
        data=fields,
    )
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def test_create_get_patch_delete_directory(emu: Emulator, api: httpx.Client) -> None:
    created = Directory.model_validate(
        _directory(api, description="inbox", type="ephemeral", system_metadata={"team": "ops"})
    )
    assert created.id.startswith("dir-")
    assert created.project_id == emu.project_id
    assert created.type == "ephemeral" and created.expires_at is not None
    assert created.system_metadata == {"team": "ops"}
    fetched = Directory.model_validate(api.get(f"{DIRS}/{created.id}").json())
    assert fetched == created
    patched = api.patch(f"{DIRS}/{created.id}", json={"name": "renamed"}).json()
    assert patched["name"] == "renamed" and patched["description"] == "inbox"
    assert patched["updated_at"] >= patched["created_at"]
    assert api.delete(f"{DIRS}/{created.id}").status_code == 204
    assert api.get(f"{DIRS}/{created.id}").status_code == 404
    assert api.patch(f"{DIRS}/{created.id}", json={"name": "x"}).status_code == 404
    assert api.delete(f"{DIRS}/{created.id}").status_code == 404


def test_patch_with_null_name_keeps_the_name_and_can_clear_the_description(
    api: httpx.Client,
) -> None:
    created = _directory(api, name="keep-me", description="inbox")
    response = api.patch(f"{DIRS}/{created['id']}", json={"name": None, "description": None})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "keep-me"
    assert response.json()["description"] is None


def test_default_directory_type_is_user_without_expiry(api: httpx.Client) -> None:
    created = _directory(api)
    assert created["type"] == "user" and created["expires_at"] is None


def test_directory_body_validation(api: httpx.Client) -> None:
    assert api.post(DIRS, json={}).status_code == 422
    bad_type = api.post(DIRS, json={"name": "d", "type": "index"})
    assert bad_type.status_code == 422
    assert bad_type.json()["detail"][0]["loc"] == ["body", "type"]
    assert api.post(DIRS, json={"name": ""}).status_code == 422


def test_list_directories_cursor_pagination_and_filters(api: httpx.Client) -> None:
    ids = [_directory(api, name=f"d{i}")["id"] for i in range(5)]
    _directory(api, name="temp", type="ephemeral")
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"page_size": 2, **({"page_token": token} if token else {})}
        page = DirectoryList.model_validate(api.get(DIRS, params=params).json())
        seen += [d.id for d in page.items]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen[:5] == ids and len(seen) == 6
    assert [d["name"] for d in api.get(DIRS, params={"name": "d3"}).json()["items"]] == ["d3"]
    assert [d["name"] for d in api.get(DIRS, params={"type": "ephemeral"}).json()["items"]] == [
        "temp"
    ]
    both = api.get(DIRS, params=[("types", "ephemeral"), ("types", "user")]).json()["items"]
    assert len(both) == 6
    api.delete(f"{DIRS}/{ids[0]}").raise_for_status()
    live = [d["id"] for d in api.get(DIRS).json()["items"]]
    assert ids[0] not in live
    with_deleted = api.get(DIRS, params={"include_deleted": "true"}).json()["items"]
    assert ids[0] in [d["id"] for d in with_deleted]
    assert api.get(DIRS, params={"page_token": "garbage"}).status_code == 400


def test_upload_file_multipart_with_metadata(emu: Emulator, api: httpx.Client) -> None:
    directory = _directory(api)
    uploaded = DirectoryFile.model_validate(
        _upload(
            api,
            directory["id"],
            "report.txt",
            b"quarterly report",
            metadata=json.dumps({"dept": "finance", "pages": 3, "tags": ["q1", "q2"]}),
            external_file_id="ext-1",
        )
    )
    assert uploaded.id.startswith("dfl-")
    assert uploaded.directory_id == directory["id"]
    assert uploaded.display_name == "report.txt"
    assert uploaded.unique_id == "ext-1"  # defaults to external_file_id, then the name
    assert uploaded.metadata == {"dept": "finance", "pages": 3, "tags": ["q1", "q2"]}
    assert uploaded.file_id and uploaded.project_id == emu.project_id
    named = _upload(api, directory["id"], "raw.bin", b"x", display_name="Nice", unique_id="u-9")
    assert (named["display_name"], named["unique_id"]) == ("Nice", "u-9")


def test_upload_rejects_bad_metadata_and_missing_file(api: httpx.Client) -> None:
    directory = _directory(api)
    bad = api.post(
        f"{DIRS}/{directory['id']}/files/upload",
        files={"upload_file": ("a.txt", b"a")},
        data={"metadata": json.dumps({"nested": {"no": "objects"}})},
    )
    assert bad.status_code == 422
    no_file = api.post(f"{DIRS}/{directory['id']}/files/upload", data={"display_name": "x"})
    assert no_file.status_code == 422
    assert no_file.json()["detail"][0]["loc"] == ["body", "upload_file"]
    assert (
        api.post(f"{DIRS}/dir-nope/files/upload", files={"upload_file": ("a", b"a")}).status_code
        == 404
    )


def test_upload_same_unique_id_replaces_the_entry(api: httpx.Client) -> None:
    directory = _directory(api)
    first = _upload(api, directory["id"], "a.txt", b"v1")
    second = _upload(api, directory["id"], "a.txt", b"v2")
    assert second["id"] == first["id"]
    assert second["file_id"] != first["file_id"]
    assert len(api.get(f"{DIRS}/{directory['id']}/files").json()["items"]) == 1


def test_add_existing_file_to_another_directory(api: httpx.Client) -> None:
    source = _directory(api, name="source")
    target = _directory(api, name="target")
    uploaded = _upload(api, source["id"], "a.txt", b"shared")
    added = api.post(
        f"{DIRS}/{target['id']}/files",
        json={"file_id": uploaded["file_id"], "metadata": {"copied": True}},
    )
    assert added.status_code == 200
    body = added.json()
    assert body["directory_id"] == target["id"] and body["display_name"] == "a.txt"
    assert body["file_id"] == uploaded["file_id"] and body["id"] != uploaded["id"]
    missing = api.post(f"{DIRS}/{target['id']}/files", json={"file_id": "nope"})
    assert missing.status_code == 404
    assert api.post(f"{DIRS}/{target['id']}/files", json={}).status_code == 422


def test_list_files_filters_and_cursor_pages(api: httpx.Client) -> None:
    directory = _directory(api)
    ids = [_upload(api, directory["id"], f"doc-{i}.txt", b"x")["id"] for i in range(5)]
    _upload(api, directory["id"], "other.md", b"y", unique_id="special")
    url = f"{DIRS}/{directory['id']}/files"
    collected: list[str] = []
    token = None
    while True:
        params = {"page_size": 4, **({"page_token": token} if token else {})}
        page = DirectoryFileList.model_validate(api.get(url, params=params).json())
        collected += [f.id for f in page.items]
        token = page.next_page_token
        if not token:
            break
    assert collected[:5] == ids and len(collected) == 6

    def names(**params: str) -> list[str]:
        return [f["display_name"] for f in api.get(url, params=params).json()["items"]]

    assert names(display_name="doc-2.txt") == ["doc-2.txt"]
    assert names(display_name_contains="doc-") == [f"doc-{i}.txt" for i in range(5)]
    assert names(unique_id="special") == ["other.md"]
    first = api.get(f"{url}/{ids[0]}").json()
    assert names(file_id=first["file_id"]) == ["doc-0.txt"]


def test_get_update_move_and_delete_file(api: httpx.Client) -> None:
    one = _directory(api, name="one")
    two = _directory(api, name="two")
    uploaded = _upload(api, one["id"], "a.txt", b"a")
    url = f"{DIRS}/{one['id']}/files/{uploaded['id']}"
    assert api.get(url).json()["id"] == uploaded["id"]
    expanded = api.get(url, params={"expand": "download_url"}).json()
    download = httpx.get(expanded["download_url"]["url"])
    assert download.status_code == 200 and download.content == b"a"
    tampered = expanded["download_url"]["url"].replace("signature=", "signature=0")
    assert httpx.get(tampered).status_code == 403
    updated = api.patch(url, json={"display_name": "b.txt", "metadata": {"k": 1}}).json()
    assert (updated["display_name"], updated["metadata"]) == ("b.txt", {"k": 1})
    moved = api.patch(url, json={"target_directory_id": two["id"]}).json()
    assert moved["directory_id"] == two["id"]
    assert api.get(url).status_code == 404
    new_url = f"{DIRS}/{two['id']}/files/{uploaded['id']}"
    assert api.delete(new_url).status_code == 204
    assert api.get(new_url).status_code == 404
    assert api.get(f"{DIRS}/{two['id']}/files").json()["items"] == []
    deleted = api.get(f"{DIRS}/{two['id']}/files", params={"include_deleted": "true"}).json()
    assert deleted["items"][0]["deleted_at"] is not None


def test_deleting_a_directory_removes_its_files_but_not_running_jobs(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "alpha"})
    emu.admin.freeze()
    job = api.post(
        "/api/v1/beta/batch-processing", json={"directory_id": docs.id, "job_config": {}}
    ).json()
    api.delete(f"{DIRS}/{docs.id}").raise_for_status()
    assert api.get(f"{DIRS}/{docs.id}/files").status_code == 404
    emu.admin.resume()
    done = emu.admin.wait_for_job(job["id"])
    assert done.status == "completed" and done.counts["completed"] == 1
