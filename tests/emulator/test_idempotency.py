"""``Idempotency-Key`` on create, an emulator convenience (LlamaCloud documents no such header).

Opt-in (``idempotency_keys=True``): then the same key in the same project returns the same job.
The strict default ignores the header, as the real service is documented to.
"""

from __future__ import annotations

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator
from tests.emulator.conftest import JOBS

convenience = pytest.mark.llamacloud_emulator(idempotency_keys=True)


def test_strict_emulator_ignores_the_key(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    body = {"directory_id": docs.id, "job_config": {}}
    first = api.post(JOBS, json=body, headers={"Idempotency-Key": "k-1"}).json()
    second = api.post(JOBS, json=body, headers={"Idempotency-Key": "k-1"}).json()
    assert first["id"] != second["id"]
    assert len(emu.admin.ground_truth().jobs) == 2


@convenience
def test_same_key_returns_the_same_job_in_its_current_state_convenience(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b"})
    body = {"directory_id": docs.id, "job_config": {"parameters": {"fast_mode": True}}}
    headers = {"Idempotency-Key": "k-1"}
    first = api.post(JOBS, json=body, headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "pending"
    emu.admin.wait_for_job(first.json()["id"])
    # Key order and formatting do not matter; the answer is the job as it is now.
    replay_body = {"job_config": {"parameters": {"fast_mode": True}}, "directory_id": docs.id}
    second = api.post(JOBS, json=replay_body, headers=headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["status"] == "completed"
    assert api.get(JOBS).json()["total_size"] == 1


@convenience
def test_reusing_a_key_for_another_body_is_422_convenience(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    headers = {"Idempotency-Key": "k-2"}
    api.post(JOBS, json={"directory_id": docs.id, "job_config": {}}, headers=headers)
    other = api.post(
        JOBS, json={"directory_id": docs.id, "job_config": {"parameters": {}}}, headers=headers
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert api.get(JOBS).json()["total_size"] == 1


def test_without_a_key_every_create_is_a_new_job(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    body = {"directory_id": docs.id, "job_config": {}}
    ids = {api.post(JOBS, json=body).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    distinct = {
        api.post(JOBS, json=body, headers={"Idempotency-Key": f"k-{i}"}).json()["id"]
        for i in range(2)
    }
    assert len(distinct) == 2 and not distinct & ids
