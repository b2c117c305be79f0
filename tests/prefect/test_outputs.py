"""download_outputs: parsed documents written to a folder, S3 (a real S3 protocol server) or a
Prefect filesystem block — named after the documents, resumable, streamed, with a manifest."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow

from prefect_llamabatch.client import AsyncBatchClient, BatchClient
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.orchestration.outputs import (
    MANIFEST_NAME,
    DocumentJob,
    awrite_outputs,
    download_outputs,
    output_paths,
    write_outputs,
)
from tests.client.v2_jobs.helpers import api_client, completed_batch, completed_v1_job, eventually

FILES = {
    "reports/q1.md": "# Q1\n\nrevenue up",
    "reports/Q1.txt": "first quarter, plain",  # same output name as q1.md but for case
    "notes/a.txt": "alpha",
    "b.md": "# B\n\nbeta",
}


def _client(emu: Emulator) -> BatchClient:
    return BatchClient(emu.api_key, base_url=emu.base_url)


def _markdown(emu: Emulator, job_id: str) -> bytes:
    with api_client(emu) as api:
        got = api.get(f"/api/v2/parse/{job_id}", params={"expand": "markdown_full"}).json()
    return str(got["markdown_full"]).encode()


def _manifest(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / MANIFEST_NAME).read_text().splitlines()
    return [json.loads(line) for line in lines]


def _counts(emu: Emulator) -> dict[str, int]:
    return emu.admin.request_counts()


# ------------------------------------------------------------------ naming


def test_output_paths_are_named_after_documents_and_collisions_are_deterministic() -> None:
    docs = [
        DocumentJob(name="reports/q1.pdf", job_id="j1"),
        DocumentJob(name="reports/Q1.docx", job_id="j2"),
        DocumentJob(name="reports/q1.pdf", job_id="j0"),  # the same name again
        DocumentJob(name="../../etc/passwd", job_id="j3"),
        DocumentJob(name="/abs/./x.txt", job_id="j4"),
        DocumentJob(name="README", job_id="j5"),
    ]
    paths = output_paths(docs)
    assert paths == [
        "reports/q1.pdf.j1.md",
        "reports/Q1.docx.md",
        "reports/q1.pdf.md",  # the lower job id keeps the plain name
        "etc/passwd.md",  # never outside the destination
        "abs/x.md",
        "README.md",
    ]
    order = [5, 3, 1, 0, 4, 2]
    assert [output_paths([docs[i] for i in order])[k] for k in range(6)] == [
        paths[i] for i in order
    ]
    assert output_paths(docs[:1], "items") == ["reports/q1.json"]
    assert len({p.casefold() for p in paths}) == len(paths)


# ------------------------------------------------------------------ local folder, v2 batch


def test_a_v2_batch_is_written_to_a_local_folder_with_a_manifest(
    emu: Emulator, tmp_path: Path
) -> None:
    batch = completed_batch(emu, FILES)
    before = _counts(emu)
    with _client(emu) as client:
        result = write_outputs(client, tmp_path / "out", batch=batch)
    delta = {k: v - before.get(k, 0) for k, v in _counts(emu).items()}
    # One batched lookup; one call per document for its (presigned) output.
    assert delta.get("list_parse_jobs") == 1 and delta.get("get_parse_job") == 4
    out = tmp_path / "out"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(
        ["reports/q1.md.md", "reports/Q1.txt.md", "notes/a.md", "b.md", MANIFEST_NAME]
    )
    assert result.written == 4 and result.unchanged == 0 and not result.failed
    entries = {e["document"]: e for e in _manifest(out)}
    assert set(entries) == set(FILES)
    for entry in entries.values():
        content = (out / entry["output_path"]).read_bytes()
        assert content == _markdown(emu, entry["job_id"])
        assert entry["bytes"] == len(content) and entry["format"] == "markdown"
        assert entry["item_id"].startswith("dfl-")
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert (out / "b.md").read_text().startswith("# B")
    assert not list(out.glob(".llamabatch-staging-*"))


def test_a_rerun_skips_what_is_already_written(emu: Emulator, tmp_path: Path) -> None:
    batch = completed_batch(emu, FILES)
    with _client(emu) as client:
        write_outputs(client, tmp_path, batch=batch)
        before = _counts(emu)
        again = write_outputs(client, tmp_path, batch=batch)
        assert (again.written, again.unchanged) == (0, 4)
        delta = {k: v - before.get(k, 0) for k, v in _counts(emu).items()}
        # Only the directory listing that names the files; no lookup, no fetch.
        assert not delta.get("get_parse_job") and not delta.get("list_parse_jobs")

        (tmp_path / "b.md").write_text("edited by hand")
        mtime = (tmp_path / "notes/a.md").stat().st_mtime_ns
        fixed = write_outputs(client, tmp_path, batch=batch)
        assert (fixed.written, fixed.unchanged) == (1, 3)
        assert (tmp_path / "b.md").read_text().startswith("# B")

        (tmp_path / MANIFEST_NAME).unlink()
        rebuilt = write_outputs(client, tmp_path, batch=batch)
    # Without a manifest every output is fetched again, but none rewritten: same content.
    assert (rebuilt.written, rebuilt.unchanged) == (0, 4)
    assert (tmp_path / "notes/a.md").stat().st_mtime_ns == mtime
    assert len(_manifest(tmp_path)) == 4


def test_text_items_and_extract_formats(emu: Emulator, tmp_path: Path) -> None:
    batch = completed_batch(emu, {"x.md": "# Title\n\nbody"})
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    extract = completed_batch(
        emu, {"x.md": "# Title\n\nbody"}, job_type="extract_v2", data_schema=schema
    )
    with _client(emu) as client:
        text = write_outputs(client, tmp_path / "t", batch=batch, output_format="text")
        items = write_outputs(client, tmp_path / "i", batch=batch, output_format="items")
        expected = client.get_extract_job(extract.results[0].job_reference.id)  # type: ignore[index,union-attr]
        before = _counts(emu)
        ex = write_outputs(client, tmp_path / "e", batch=extract, output_format="extract")
    assert text.written == items.written == ex.written == 1
    assert "Title" in (tmp_path / "t/x.txt").read_text()
    pages = json.loads((tmp_path / "i/x.json").read_text())["pages"]
    assert pages[0]["items"][0]["value"] == "Title"
    assert json.loads((tmp_path / "e/x.json").read_text()) == expected.extract_result
    delta = {k: v - before.get(k, 0) for k, v in _counts(emu).items()}
    # Extract results come inline with the batched listing: no per-document call.
    assert delta.get("list_extract_jobs") == 1 and not delta.get("get_extract_job")


def test_jobs_not_completed_are_listed_not_fatal(emu: Emulator, tmp_path: Path) -> None:
    batch = completed_batch(emu, {"good.md": "# ok", "bad-1.md": "# fails by pattern"})
    with _client(emu) as client:
        result = write_outputs(client, tmp_path, batch=batch)
    assert result.written == 1 and [f.document for f in result.not_completed] == ["bad-1.md"]
    assert result.not_completed[0].status == "FAILED"
    assert [e["document"] for e in _manifest(tmp_path)] == ["good.md"]


def test_lookups_are_batched_for_many_documents(emu: Emulator, tmp_path: Path) -> None:
    batch = completed_batch(emu, {f"d{i:03}.txt": f"doc {i}" for i in range(120)})
    before = _counts(emu)
    with _client(emu) as client:
        result = write_outputs(client, tmp_path, batch=batch, max_concurrency=8)
    delta = {k: v - before.get(k, 0) for k, v in _counts(emu).items()}
    assert result.written == 120
    assert delta["list_parse_jobs"] == 3 and delta["get_parse_job"] == 120


# ------------------------------------------------------------------ v1 jobs, Prefect task


def test_the_task_writes_a_v1_jobs_outputs_from_sync_and_async_flows(
    prefect: str, emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    job_id = completed_v1_job(emu, {"sub/r.md": "# R\n\nv1", "bad-2.txt": "fails"})

    @flow
    def sync_flow() -> Any:
        return download_outputs(creds, str(tmp_path / "sync"), job_id=job_id)

    @flow
    async def async_flow() -> Any:
        return await download_outputs(creds, str(tmp_path / "async"), job_id=job_id)

    for result, folder in ((sync_flow(), "sync"), (asyncio.run(async_flow()), "async")):
        assert result.written == 1 and result.not_completed[0].document == "bad-2.txt"
        (entry,) = _manifest(tmp_path / folder)
        assert entry["output_path"] == "sub/r.md" and entry["item_id"].startswith("dfl-")
        assert (tmp_path / folder / "sub/r.md").read_bytes() == _markdown(emu, entry["job_id"])


def test_a_prefect_local_filesystem_block(emu: Emulator, tmp_path: Path) -> None:
    from prefect.filesystems import LocalFileSystem

    batch = completed_batch(emu, {"a.md": "# A"})
    with _client(emu) as client:
        result = write_outputs(client, LocalFileSystem(basepath=str(tmp_path / "blk")), batch=batch)
    assert result.written == 1 and (tmp_path / "blk/a.md").read_text().startswith("# A")


def test_documents_as_pairs_with_the_async_client(emu: Emulator, tmp_path: Path) -> None:
    batch = completed_batch(emu, {"a.md": "# A", "b.md": "# B"})
    pairs = [("x/first.pdf", batch.results[0].job_reference.id)]  # type: ignore[index,union-attr]

    async def run() -> Any:
        async with AsyncBatchClient(emu.api_key, base_url=emu.base_url) as client:
            return await awrite_outputs(client, str(tmp_path), pairs)

    result = asyncio.run(run())
    assert result.written == 1 and (tmp_path / "x/first.md").exists()


def test_exactly_one_source_and_known_formats() -> None:
    with BatchClient("llx-k", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match="exactly one"):
            write_outputs(client, "out", job_id="bjb-1", documents=[("a", "b")])
        with pytest.raises(ValueError, match="output_format"):
            write_outputs(client, "out", job_id="bjb-1", output_format="pdf")


# ------------------------------------------------------------------ S3, a real protocol server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode on 127.0.0.1: the S3 protocol over HTTP, not a mock object."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_options(endpoint: str) -> dict[str, Any]:
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }


def _bucket(endpoint: str, name: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=name)


def test_outputs_are_written_to_s3(
    emu: Emulator, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    options = _s3_options(s3_endpoint)
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    _bucket(s3_endpoint, "outputs-bucket")
    batch = completed_batch(emu, FILES)
    with _client(emu) as client:
        result = write_outputs(
            client, "s3://outputs-bucket/parsed", batch=batch, storage_options=options
        )
        again = write_outputs(
            client, "s3://outputs-bucket/parsed", batch=batch, storage_options=options
        )
    assert result.written == 4 and (again.written, again.unchanged) == (0, 4)
    fs.invalidate_cache()
    keys = sorted(fs.find("outputs-bucket/parsed"))
    assert keys == sorted(
        f"outputs-bucket/parsed/{k}"
        for k in ["reports/q1.md.md", "reports/Q1.txt.md", "notes/a.md", "b.md", MANIFEST_NAME]
    )
    entries = [
        json.loads(line) for line in fs.cat(f"outputs-bucket/parsed/{MANIFEST_NAME}").splitlines()
    ]
    for entry in entries:
        body = fs.cat(f"outputs-bucket/parsed/{entry['output_path']}")
        assert body == _markdown(emu, entry["job_id"]) and len(body) == entry["bytes"]
    assert "testing" not in result.model_dump_json()


def test_a_prefect_remote_filesystem_block_on_s3(
    emu: Emulator, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs
    from prefect.filesystems import RemoteFileSystem

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    options = _s3_options(s3_endpoint)
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    _bucket(s3_endpoint, "block-bucket")
    block = RemoteFileSystem(basepath="s3://block-bucket/out", settings=options)
    batch = completed_batch(emu, {"deep/doc.md": "# Deep"})
    with _client(emu) as client:
        result = write_outputs(client, block, batch=batch)
    assert result.written == 1 and result.destination == "s3://block-bucket/out"
    fs.invalidate_cache()
    assert fs.cat("block-bucket/out/deep/doc.md").startswith(b"# Deep")


# ------------------------------------------------------------------ a large output, streamed

_EMULATOR_PROCESS = textwrap.dedent(
    """
    import json, sys
    from prefect_llamabatch.emulator import Emulator, EmulatorConfig
    emu = Emulator(EmulatorConfig(time_scale=0.01)).start()
    print(json.dumps({"base_url": emu.base_url, "api_key": emu.api_key}), flush=True)
    sys.stdin.read()
    emu.close()
    """
)


def test_a_large_output_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    # The emulator runs in its own process so that only this process's allocations are traced.
    child = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        source = tmp_path / "big.txt"
        line = "the quick brown fox jumps over the lazy dog " * 2 + "\n"
        with source.open("w") as handle:
            for _ in range(40 * 1024 * 1024 // len(line)):
                handle.write(line)
        size = source.stat().st_size
        with BatchClient(info["api_key"], base_url=info["base_url"], timeout=120) as client:
            directory = client.create_directory("big")
            client.upload_file(directory.id, source, display_name="big.txt")
            with httpx.Client(
                base_url=info["base_url"],
                headers={"Authorization": f"Bearer {info['api_key']}"},
                timeout=60,
            ) as api:
                body = {
                    "config": {"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_FAST"}},
                    "source_directory_id": directory.id,
                }
                batch_id = api.post("/api/v2/batches", json=body).json()["id"]

                def finished() -> Any:
                    got = api.get(f"/api/v2/batches/{batch_id}", params={"expand": "results"})
                    return got.json() if got.json()["status"] == "COMPLETED" else None

                from prefect_llamabatch.models.v2 import Batch

                batch = Batch.model_validate(eventually(finished, timeout=120))
            tracemalloc.start()
            try:
                result = write_outputs(client, tmp_path / "out", batch=batch, output_format="text")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        written = tmp_path / "out" / "big.txt"
        assert result.written == 1 and written.stat().st_size >= size * 0.9
        assert written.read_bytes()[:100] == source.read_bytes()[:100]
        # 40 MB through 1 MiB chunks: the peak stays a small fraction of the document.
        assert peak < size / 8, f"peak {peak} bytes for a {size}-byte output"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


def test_process_directory_writes_outputs_to_output_path(
    prefect: str, emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    from prefect_llamabatch.flows import process_directory, process_items
    from tests.prefect.conftest import FAST

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub/one.md").write_text("# One\n\nfirst")
    (folder / "two.txt").write_text("second")
    result = process_directory(
        creds, local_path=str(folder), wait=FAST, output_path=str(tmp_path / "parsed")
    )
    assert result.counts.succeeded == 2
    entries = {e["output_path"]: e for e in _manifest(tmp_path / "parsed")}
    assert set(entries) == {"sub/one.md", "two.md"}
    assert (tmp_path / "parsed/sub/one.md").read_bytes() == _markdown(
        emu, entries["sub/one.md"]["job_id"]
    )
    item_ids = [entries["two.md"]["item_id"]]
    again = process_items(creds, item_ids, wait=FAST, output_path=str(tmp_path / "items"))
    # Skipped as already processed, the item still has its output: it is written.
    assert again.counts.skipped == 1
    assert [e["document"] for e in _manifest(tmp_path / "items")] == ["two.txt"]
