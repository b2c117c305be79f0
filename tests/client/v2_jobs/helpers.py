"""Completed v1 jobs and v2 batches on the emulator, made over plain HTTP for the outputs tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models.v2 import Batch

BATCHES = "/api/v2/batches"
CONFIGS = "/api/v1/beta/configurations"
JOBS = "/api/v1/beta/batch-processing"


def api_client(emu: Emulator) -> httpx.Client:
    """An httpx client of the emulator with its default key."""
    return httpx.Client(
        base_url=emu.base_url,
        headers={"Authorization": f"Bearer {emu.api_key}"},
        timeout=30.0,
    )


def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until ``check()`` is truthy (an observable event), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def completed_batch(
    emu: Emulator,
    files: Mapping[str, str | bytes],
    *,
    job_type: str = "parse_v2",
    data_schema: dict[str, Any] | None = None,
) -> Batch:
    """A finished v2 batch over a new directory holding ``files``, with its results."""
    directory = emu.admin.seed_directory(dict(files))
    with api_client(emu) as api:
        configuration_id = "cfg-PARSE_FAST"
        if job_type == "extract_v2":
            parameters = {"product_type": "extract_v2", "data_schema": data_schema or {}}
            created = api.post(CONFIGS, json={"name": "outputs-test", "parameters": parameters})
            assert created.status_code == 200, created.text
            configuration_id = created.json()["id"]
        body = {
            "config": {"job": {"type": job_type, "configuration_id": configuration_id}},
            "source_directory_id": directory.id,
        }
        response = api.post(BATCHES, json=body)
        assert response.status_code == 200, response.text
        batch_id = response.json()["id"]

        def finished() -> dict[str, Any] | None:
            got: dict[str, Any] = api.get(
                f"{BATCHES}/{batch_id}", params={"expand": "results"}
            ).json()
            return got if got["status"] == "COMPLETED" else None

        return Batch.model_validate(eventually(finished))


def completed_v1_job(emu: Emulator, files: Mapping[str, str | bytes]) -> str:
    """A finished v1 parse job over a new directory holding ``files``; its id."""
    directory = emu.admin.seed_directory(dict(files))
    with api_client(emu) as api:
        response = api.post(JOBS, json={"directory_id": directory.id, "job_config": {}})
        assert response.status_code == 200, response.text
        job_id: str = response.json()["id"]
    emu.admin.wait_for_job(job_id, timeout=60)
    return job_id


def job_ids(batch: Batch) -> list[str]:
    """The per-file job ids of a batch, in its results' order."""
    return [r.job_reference.id for r in batch.results or [] if r.job_reference is not None]
