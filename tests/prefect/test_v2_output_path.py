"""``output_path`` on the v2 path of ``process_directory`` / ``process_items``: every batch's
completed documents are written, named after them (it was ignored for a v2 configuration)."""

from __future__ import annotations

from pathlib import Path

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from tests.prefect.conftest import FAST
from tests.prefect.test_outputs import _manifest, _markdown


def test_v2_runs_write_every_shards_outputs_to_output_path(
    prefect: str, emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    from prefect_llamabatch.flows import process_directory, process_items

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub/one.md").write_text("# One\n\nfirst")
    for name in ("two.txt", "three.txt"):
        (folder / name).write_text(f"{name} body")
    parsed = tmp_path / "parsed"
    result = process_directory(
        creds,
        local_path=str(folder),
        parse_v2={"tier": "fast", "version": "latest"},
        max_files_per_batch=2,  # two batches: both must be delivered, into one manifest
        wait=FAST,
        output_path=str(parsed),
    )
    assert len(result.shards) == 2 and result.counts.failed == 0
    entries = {e["output_path"]: e for e in _manifest(parsed)}
    assert set(entries) == {"sub/one.md", "two.md", "three.md"}
    assert {e["document"] for e in entries.values()} == {"sub/one.md", "two.txt", "three.txt"}
    for path, entry in entries.items():
        assert (parsed / path).read_bytes() == _markdown(emu, entry["job_id"])

    with creds.get_client() as client:  # process_items: files of a directory, by id
        directory = client.create_directory("v2-items")
        kept = client.upload_file(directory.id, b"kept body", display_name="kept.txt")
        client.upload_file(directory.id, b"not asked for", display_name="other.txt")
    items = tmp_path / "items"
    again = process_items(
        creds,
        [kept.id],
        directory_id=directory.id,
        parse_v2={"tier": "fast", "version": "latest"},
        wait=FAST,
        output_path=str(items),
    )
    assert again.counts.succeeded == 1
    manifest = _manifest(items)
    assert [e["document"] for e in manifest] == ["kept.txt"]
    assert (items / "kept.md").read_bytes() == _markdown(emu, manifest[0]["job_id"])
