"""Auth and tenancy: 401 without a known key, 403 outside the key's scope, 404 across projects."""

from __future__ import annotations

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator
from tests.emulator.conftest import DIRS, JOBS, client_for, create_job

KEYS = [
    "key-alice:org-a:proj-a1,proj-a2",
    "key-bob:org-b:proj-b",
]
pytestmark = pytest.mark.llamacloud_emulator(api_keys=KEYS)


def _paths(job_id: str, item_id: str, directory_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"{JOBS}/{job_id}"),
        ("GET", f"{JOBS}/{job_id}/items"),
        ("POST", f"{JOBS}/{job_id}/cancel"),
        ("GET", f"{JOBS}/items/{item_id}/processing-results"),
        ("GET", f"{DIRS}/{directory_id}"),
        ("PATCH", f"{DIRS}/{directory_id}"),
        ("GET", f"{DIRS}/{directory_id}/files"),
        ("GET", f"{DIRS}/{directory_id}/files/{item_id}"),
        ("DELETE", f"{DIRS}/{directory_id}/files/{item_id}"),
        ("DELETE", f"{DIRS}/{directory_id}"),
    ]


def test_missing_malformed_and_unknown_keys_are_401_json(emu: Emulator) -> None:
    for headers in ({}, {"Authorization": "key-alice"}, {"Authorization": "Bearer nope"}):
        response = httpx.get(f"{emu.base_url}{JOBS}", headers=headers)
        assert response.status_code == 401
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail
        assert "nope" not in detail  # the presented key is never echoed


def test_default_project_is_the_keys_first(emu: Emulator) -> None:
    assert emu.api_key == "key-alice"
    assert emu.project_id == "proj-a1" and emu.organization_id == "org-a"
    with client_for(emu, "key-alice") as alice:
        created = alice.post(DIRS, json={"name": "d"}).json()
        assert created["project_id"] == "proj-a1"
        second = alice.post(DIRS, params={"project_id": "proj-a2"}, json={"name": "d2"}).json()
        assert second["project_id"] == "proj-a2"
        # Each project sees only its own directories.
        assert [d["id"] for d in alice.get(DIRS).json()["items"]] == [created["id"]]
        in_a2 = alice.get(DIRS, params={"project_id": "proj-a2"}).json()["items"]
        assert [d["id"] for d in in_a2] == [second["id"]]


def test_project_or_organization_outside_the_key_is_403(emu: Emulator) -> None:
    with client_for(emu, "key-alice") as alice:
        for params in (
            {"project_id": "proj-b"},
            {"organization_id": "org-b"},
            {"organization_id": "org-a", "project_id": "proj-zzz"},
        ):
            response = alice.get(JOBS, params=params)
            assert response.status_code == 403, params
            assert "detail" in response.json()
        assert alice.get(JOBS, params={"organization_id": "org-a"}).status_code == 200


def test_another_projects_resources_are_404_everywhere(emu: Emulator) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"}, project_id="proj-b")
    item_id = docs.files["a.txt"]
    with client_for(emu, "key-bob") as bob:
        job = create_job(bob, directory_id=docs.id)
        emu.admin.wait_for_job(job["id"])
    with client_for(emu, "key-alice") as alice:
        for method, path in _paths(job["id"], item_id, docs.id):
            response = alice.request(method, path, json={} if method != "GET" else None)
            assert response.status_code == 404, (method, path)
        # Alice's other project cannot see them either.
        for method, path in _paths(job["id"], item_id, docs.id)[:5]:
            response = alice.request(method, path, params={"project_id": "proj-a2"})
            assert response.status_code == 404, (method, path)
        # Nor use them to create a job.
        by_dir = alice.post(JOBS, json={"directory_id": docs.id, "job_config": {}})
        assert by_dir.status_code == 404
        by_items = alice.post(JOBS, json={"item_ids": [item_id], "job_config": {}})
        assert by_items.status_code == 400
        assert alice.get(JOBS).json() == {"items": [], "total_size": 0}
    with client_for(emu, "key-bob") as bob:
        # Bob still sees everything of his, untouched by Alice's attempts.
        assert bob.get(f"{JOBS}/{job['id']}").json()["job"]["status"] == "completed"
        assert bob.get(f"{DIRS}/{docs.id}").status_code == 200


def test_idempotency_keys_are_per_project(emu: Emulator) -> None:
    alice_docs = emu.admin.seed_directory({"a.txt": "a"}, project_id="proj-a1")
    bob_docs = emu.admin.seed_directory({"b.txt": "b"}, project_id="proj-b")
    headers = {"Idempotency-Key": "same-key"}
    with client_for(emu, "key-alice") as alice, client_for(emu, "key-bob") as bob:
        a = alice.post(
            JOBS, json={"directory_id": alice_docs.id, "job_config": {}}, headers=headers
        )
        b = bob.post(JOBS, json={"directory_id": bob_docs.id, "job_config": {}}, headers=headers)
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["project_id"] == "proj-a1" and b.json()["project_id"] == "proj-b"


def test_admin_api_needs_its_own_token(emu: Emulator) -> None:
    url = f"{emu.base_url}/_emulator/ground-truth"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"X-Emulator-Admin-Token": "wrong"}).status_code == 401
    # An API key is not an admin token.
    assert httpx.get(url, headers={"Authorization": f"Bearer {emu.api_key}"}).status_code == 401
    ok = httpx.get(url, headers={"X-Emulator-Admin-Token": emu.admin_token})
    assert ok.status_code == 200
    assert httpx.get(f"{emu.base_url}/_emulator/health").json() == {"status": "ok"}
