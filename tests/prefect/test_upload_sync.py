"""process_directory(local_path=…) syncs into an existing directory (by id or by name): a second
run uploads nothing, a changed file is uploaded once; upload_directory in sync and async flows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import process_directory
from prefect_llamabatch.results import BatchRunResult
from prefect_llamabatch.tasks import UploadedDirectory, upload_directory
from tests.prefect.conftest import FAST

pytestmark = pytest.mark.usefixtures("prefect")


def _folder(root: Path) -> Path:
    folder = root / "invoices"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text("one")
    (folder / "sub" / "two.md").write_text("# two")
    return folder


def _uploads(emu: Emulator) -> int:
    return emu.admin.request_counts().get("upload_file", 0)


@pytest.mark.parametrize("target", ["directory_name", "directory_id"])
def test_second_run_uploads_only_what_changed(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path, target: str
) -> None:
    folder = _folder(tmp_path)
    if target == "directory_id":
        where: dict[str, Any] = {"directory_id": emu.admin.seed_directory({}, name="inv").id}
    else:
        where = {"directory_name": "invoices-sync"}

    def run() -> BatchRunResult:
        return process_directory(
            creds, local_path=str(folder), wait=FAST, max_failed_fraction=None, **where
        )

    first = run()
    assert _uploads(emu) == 2
    second = run()
    assert _uploads(emu) == 2  # nothing uploaded again
    (folder / "one.txt").write_text("one, edited")
    third = run()
    assert _uploads(emu) == 3  # only the changed file, once
    truth = emu.admin.ground_truth()
    directories = {truth.job(r.job_id).directory_id for r in (first, second, third)}
    assert len(directories) == 1
    if target == "directory_id":
        assert directories == {where["directory_id"]}
    # The job covers both files; the unchanged one may be skipped as already processed.
    assert third.counts.total == 2 and third.counts.failed == 0 and third.counts.succeeded >= 1


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_upload_directory_skips_unchanged_files_in_both_kinds_of_flow(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path, kind: str
) -> None:
    folder = _folder(tmp_path)
    (folder / ".hidden").write_text("never uploaded")

    @flow
    def sync_upload() -> list[UploadedDirectory]:
        first = upload_directory(creds, str(folder), directory_name="docs")
        again = upload_directory.with_options(refresh_cache=True)(
            creds, str(folder), directory_name="docs"
        )
        (folder / "one.txt").write_text("one, edited")
        return [first, again, upload_directory(creds, str(folder), directory_name="docs")]

    @flow
    async def async_upload() -> list[UploadedDirectory]:
        first = await upload_directory(creds, str(folder), directory_name="docs")
        again = await upload_directory.with_options(refresh_cache=True)(
            creds, str(folder), directory_name="docs"
        )
        (folder / "one.txt").write_text("one, edited")
        return [first, again, await upload_directory(creds, str(folder), directory_name="docs")]

    first, again, third = sync_upload() if kind == "sync" else asyncio.run(async_upload())
    assert sorted(first.uploaded) == ["one.txt", "sub/two.md"]
    assert again.uploaded == [] and sorted(again.unchanged) == ["one.txt", "sub/two.md"]
    assert third.uploaded == ["one.txt"] and third.unchanged == ["sub/two.md"]
    assert first.directory_id == again.directory_id == third.directory_id
    assert third.files == first.files  # replaced in place, same items
    assert _uploads(emu) == 3


def test_directory_name_picks_a_live_directory_of_that_name(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    other = emu.admin.seed_directory({"x.txt": b"x"}, name="elsewhere")

    @flow
    def upload() -> UploadedDirectory:
        return upload_directory(creds, str(folder), directory_name="fresh")

    result = upload()
    assert result.directory_id != other.id and sorted(result.uploaded) == ["one.txt", "sub/two.md"]
