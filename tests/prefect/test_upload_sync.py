"""process_directory(local_path=…) syncs into an existing directory (by id or by name): a second
run uploads nothing, a changed file is uploaded once; upload_directory in sync and async flows."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import process_directory
from prefect_llamabatch.orchestration.results import BatchRunResult
from prefect_llamabatch.orchestration.tasks import UploadedDirectory, upload_directory
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


# --- Folder hygiene (issue 10, item 6): symlinks never lead out, names checked first. ---


def test_symlinks_never_lead_out_of_the_folder(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for upload")
    (folder / "leak.txt").symlink_to(outside / "secret.txt")
    (folder / "leakdir").symlink_to(outside, target_is_directory=True)
    (folder / "broken.txt").symlink_to(tmp_path / "nowhere.txt")
    (folder / "alias.txt").symlink_to(folder / "one.txt")  # inside: uploaded under its name

    @flow
    def upload() -> UploadedDirectory:
        return upload_directory(creds, str(folder))

    result = upload()
    assert sorted(result.files) == ["alias.txt", "one.txt", "sub/two.md"]
    assert result.skipped_links == ["broken.txt", "leak.txt", "leakdir"]
    assert _uploads(emu) == 3
    with creds.get_client() as client:
        listed = list(client.iter_directory_files(result.directory_id))
    assert {f.display_name for f in listed} == {"alias.txt", "one.txt", "sub/two.md"}
    # What was uploaded is the folder's own content, never the file outside it.
    assert all(f.metadata and f.metadata["size"] in (3, 5) for f in listed)


@pytest.mark.parametrize(
    ("bad_name", "shown"),
    [
        (b"caf\xe9.txt", "b'caf\\xe9.txt'"),  # Latin-1 bytes: not UTF-8
        (b"tab\there.txt", "contains control characters"),
    ],
)
def test_an_unuploadable_name_fails_before_anything_is_created(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path, bad_name: bytes, shown: str
) -> None:
    folder = _folder(tmp_path)
    with open(os.path.join(os.fsencode(folder), bad_name), "wb") as handle:
        handle.write(b"content")
    with pytest.raises(ValueError, match="cannot be uploaded") as raised:
        process_directory(creds, local_path=str(folder), wait=FAST)
    assert shown in str(raised.value)

    @flow
    def upload() -> UploadedDirectory:
        return upload_directory(creds, str(folder))

    with pytest.raises(ValueError, match="nothing was"):
        upload()
    # No directory created, no file uploaded: the whole folder was checked first.
    assert emu.admin.request_log() == []
