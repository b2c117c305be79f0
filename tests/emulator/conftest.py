"""Fixtures of the emulator tests: an HTTP client of the running emulator, and small helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator

JOBS = "/api/v1/beta/batch-processing"
DIRS = "/api/v1/beta/directories"


def client_for(emu: Emulator, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client of the emulator's /api carrying an API key (the default one unless given)."""
    return httpx.Client(
        base_url=emu.base_url,
        headers={"Authorization": f"Bearer {api_key or emu.api_key}"},
        timeout=kwargs.pop("timeout", 10.0),
        **kwargs,
    )


@pytest.fixture
def emu(llamacloud_emulator: Emulator) -> Emulator:
    """The emulator under test (the package's own pytest fixture)."""
    return llamacloud_emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[httpx.Client]:
    """An httpx client of the emulator with its default key."""
    with client_for(emu) as client:
        yield client


def create_job(api: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST a batch job (``job_config`` defaults to ``{}``) and return the created job."""
    body.setdefault("job_config", {})
    response = api.post(JOBS, json=body)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def all_items(api: httpx.Client, job_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a job, paging with limit/offset like the SDK."""
    items: list[dict[str, Any]] = []
    while True:
        page = api.get(f"{JOBS}/{job_id}/items", params={**params, "offset": len(items)}).json()
        items.extend(page["items"])
        if not page["items"] or len(items) >= page["total_size"]:
            return items
