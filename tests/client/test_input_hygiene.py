"""Ids are validated before any request: every id argument of every endpoint, sync and async.

``.`` and ``..`` would otherwise be resolved by URL normalisation to *another route*
(``DELETE /api/v1/beta/directories/..`` is ``DELETE /api/v1/beta``) with the user's key; a
``/`` reaches another route too, and a megabyte id failed with a raw httpx error. Each refusal
is a ``ValueError`` naming the argument, and the emulator's request log proves nothing was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_llamabatch import AsyncBatchClient, BatchClient, NotFoundError
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import MAX_ID_LENGTH, BatchJobCreate, DirectoryFileAdd, id_problem

BAD_IDS = {
    "empty": "",
    "blank": "   ",
    "dot": ".",
    "dot-dot": "..",
    "slash": "bjb-1/cancel",
    "leading-slash": "/bjb-1",
    "backslash": "..\\admin",
    "encoded-slash": "a%2Fb",
    "encoded-dot-dot": "%2e%2E",
    "newline": "bjb-1\nX-Evil: 1",
    "nul": "bjb\x00",
    "escape-sequence": "bjb-\x1b[31m",
    "zero-width": "bjb\u200b-1",
    "bidi-override": "bjb\u202e1",
    "surrounding-space": " bjb-1",
    "over-long": "b" * (MAX_ID_LENGTH + 1),
    "one-megabyte": "x" * 1_000_000,
}

Call = Callable[[BatchClient, str, Path], Any]

# Every endpoint that takes an id, with the argument the error must name.
ENDPOINTS: dict[str, tuple[str, Call]] = {
    "get_job": ("job_id", lambda c, v, _p: c.get_job(v)),
    "cancel_job": ("job_id", lambda c, v, _p: c.cancel_job(v, reason="stop")),
    "list_items": ("job_id", lambda c, v, _p: c.list_items(v)),
    "iter_items": ("job_id", lambda c, v, _p: list(c.iter_items(v))),
    "get_item_results": ("item_id", lambda c, v, _p: c.get_item_results(v)),
    "get_directory": ("directory_id", lambda c, v, _p: c.get_directory(v)),
    "delete_directory": ("directory_id", lambda c, v, _p: c.delete_directory(v)),
    "list_directory_files": ("directory_id", lambda c, v, _p: c.list_directory_files(v)),
    "iter_directory_files": ("directory_id", lambda c, v, _p: list(c.iter_directory_files(v))),
    "upload_file": ("directory_id", lambda c, v, p: c.upload_file(v, p)),
    "add_file-directory": ("directory_id", lambda c, v, _p: c.add_file(v, "file-1")),
    "add_file-file": ("file_id", lambda c, v, _p: c.add_file("dir-1", v)),
    "list_jobs-filter": ("directory_id", lambda c, v, _p: c.list_jobs(directory_id=v)),
    "iter_jobs-filter": ("directory_id", lambda c, v, _p: list(c.iter_jobs(directory_id=v))),
    "create-directory": (
        "directory_id",
        lambda c, v, _p: c.create_job({"directory_id": v, "job_config": {}}),
    ),
    "create-items": (
        "item_ids",
        lambda c, v, _p: c.create_job({"item_ids": ["dfl-1", v], "job_config": {}}),
    ),
    "project_id": ("project_id", lambda c, v, _p: c.get_job("bjb-1", project_id=v)),
    "organization_id": (
        "organization_id",
        lambda c, v, _p: c.list_jobs(organization_id=v),
    ),
}


@pytest.fixture
def emu(llamacloud_emulator: Emulator) -> Emulator:
    return llamacloud_emulator


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    path = tmp_path / "doc.txt"
    path.write_text("a document")
    return path


def _client(emu: Emulator) -> BatchClient:
    return BatchClient(emu.api_key, base_url=emu.base_url)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_bad_id_is_refused_by_every_endpoint_before_any_request(
    emu: Emulator, upload: Path, endpoint: str
) -> None:
    argument, call = ENDPOINTS[endpoint]
    with _client(emu) as client:
        for label, value in BAD_IDS.items():
            with pytest.raises(ValueError) as info:
                call(client, value, upload)
            message = str(info.value)
            assert argument in message, f"{endpoint}/{label}: {message[:300]}"
            # The refused value is never echoed at length (a 1 MB id gives a short message).
            assert len(message) < 1_000, f"{endpoint}/{label}: {len(message)} characters"
    assert emu.admin.request_log() == [], f"{endpoint}: a request was sent"


def test_the_async_client_refuses_the_same_ids(emu: Emulator) -> None:
    async def main() -> list[str]:
        messages = []
        async with AsyncBatchClient(emu.api_key, base_url=emu.base_url) as client:
            for value in (".", "..", "a/b", "x" * 1_000_000):
                for call in (client.get_job, client.delete_directory, client.get_item_results):
                    with pytest.raises(ValueError) as info:
                        await call(value)
                    messages.append(str(info.value))
        return messages

    messages = asyncio.run(main())
    assert len(messages) == 12
    assert all(m.split(":")[0] in ("job_id", "directory_id", "item_id") for m in messages)
    assert emu.admin.request_log() == []


def test_the_refusal_says_why_and_shows_the_value_short() -> None:
    with BatchClient("llx-key-for-messages", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ValueError) as dots:
            client.delete_directory("..")
        with pytest.raises(ValueError) as huge:
            client.get_job("x" * 1_000_000)
        with pytest.raises(ValueError) as control:
            client.get_job("bjb-1\x1b[2J")
    assert str(dots.value).startswith("directory_id: must not be '.' or '..'")
    assert "another route" in str(dots.value) or "elsewhere" in str(dots.value)
    assert str(huge.value).startswith(f"job_id: at most {MAX_ID_LENGTH} characters, got 1000000")
    assert "more)" in str(huge.value) and len(str(huge.value)) < 200
    # The escape sequence is shown escaped, never raw (it would act on a terminal).
    assert "\x1b" not in str(control.value) and "control" in str(control.value)


@pytest.mark.parametrize(
    "value", ["bjb-1", "a?b#c", "dé-1", "550e8400-e29b-41d4-a716-446655440000", "x" * 512, ".a"]
)
def test_unusual_but_valid_ids_still_reach_the_server(emu: Emulator, value: str) -> None:
    with _client(emu) as client, pytest.raises(NotFoundError) as info:
        client.get_job(value)
    # One request, to the job's own route (escaped), answered by the API: not refused locally.
    log = emu.admin.request_log()
    assert [r.method for r in log] == ["GET"]
    assert log[0].path.startswith("/api/v1/beta/batch-processing/")
    assert log[0].path.count("/") == 5
    assert info.value.status_code == 404


def test_request_models_refuse_bad_ids_but_the_emulator_reads_them_leniently() -> None:
    with pytest.raises(ValueError, match="directory_id"):
        BatchJobCreate(directory_id="..", job_config={})
    with pytest.raises(ValueError, match=r"item_ids\.1"):
        BatchJobCreate(item_ids=["dfl-1", "a/b"], job_config={})
    with pytest.raises(ValueError, match="file_id"):
        DirectoryFileAdd(file_id="\x00")
    # The emulator validates with the lenient context: it answers an odd id as the service
    # would (nothing found), instead of refusing it in a way the real API does not.
    lenient = BatchJobCreate.model_validate(
        {"directory_id": "..", "job_config": {}}, context={"lenient": True}
    )
    assert lenient.directory_id == ".."


def test_id_problem_accepts_exactly_what_can_be_one_path_segment() -> None:
    assert all(id_problem(v) is not None for v in BAD_IDS.values())
    assert id_problem(123) == "must be a non-empty string"
    for good in ("bjb-1", "dfl_2", "a.b", "...", "%41", "x" * MAX_ID_LENGTH):
        assert id_problem(good) is None, good
