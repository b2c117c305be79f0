"""Wire compatibility: the official ``llama-cloud`` SDK (2.x, strict response validation) works
unchanged against the emulator for every batch, job-item, directory and directory-file method."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import llama_cloud
import pytest
from llama_cloud import AsyncLlamaCloud, LlamaCloud

from prefect_llamabatch.emulator import Emulator

# These tests check the emulator's own listing order: oldest first (the fixture's order would
# otherwise follow --llamacloud-list-order; newest first is tested in test_batch_api.py).
pytestmark = pytest.mark.llamacloud_emulator(list_order="oldest_first")

RULES = [
    {"type": "invoice", "description": "an invoice with a total amount due"},
    {"type": "letter", "description": "a personal letter to a friend"},
]


@pytest.fixture
def sdk(emu: Emulator) -> Iterator[LlamaCloud]:
    client = LlamaCloud(
        api_key=emu.api_key,
        base_url=emu.base_url,
        max_retries=0,
        _strict_response_validation=True,
    )
    with client:
        yield client


def test_directories_and_files_methods(emu: Emulator, sdk: LlamaCloud) -> None:
    directory = sdk.beta.directories.create(
        name="inbox", description="d", type="ephemeral", system_metadata={"a": 1}
    )
    assert sdk.beta.directories.get(directory.id).name == "inbox"
    assert sdk.beta.directories.update(directory.id, name="renamed").name == "renamed"
    uploaded = sdk.beta.directories.files.upload(
        directory.id,
        upload_file=("a.txt", io.BytesIO(b"hello"), "text/plain"),
        metadata=json.dumps({"k": "v"}),
        unique_id="a",
    )
    assert uploaded.metadata == {"k": "v"} and uploaded.unique_id == "a"
    raw = sdk.files.create(file=("b.txt", io.BytesIO(b"bee")), purpose="parse")
    added = sdk.beta.directories.files.add(directory.id, file_id=raw.id, display_name="b.txt")
    assert added.file_id == raw.id
    got = sdk.beta.directories.files.get(
        uploaded.id, directory_id=directory.id, expand=["download_url"]
    )
    assert got.download_url is not None and got.download_url.url.startswith(emu.base_url)
    updated = sdk.beta.directories.files.update(
        added.id, directory_id=directory.id, display_name="bee.txt", metadata={"n": 2}
    )
    assert updated.display_name == "bee.txt" and updated.metadata == {"n": 2}
    # Auto-pagination over the cursor: page_size 1 means one request per file.
    names = [f.display_name for f in sdk.beta.directories.files.list(directory.id, page_size=1)]
    assert names == ["a.txt", "bee.txt"]
    sdk.beta.directories.files.delete(added.id, directory_id=directory.id)
    assert [f.id for f in sdk.beta.directories.files.list(directory.id)] == [uploaded.id]
    for i in range(3):
        sdk.beta.directories.create(name=f"more-{i}")
    listed = [d.name for d in sdk.beta.directories.list(page_size=2)]
    assert listed == ["renamed", "more-0", "more-1", "more-2"]
    sdk.beta.directories.delete(directory.id)
    with pytest.raises(llama_cloud.NotFoundError):
        sdk.beta.directories.get(directory.id)


def test_batch_and_job_items_methods(emu: Emulator, sdk: LlamaCloud) -> None:
    docs = emu.admin.seed_directory(
        {f"{i}.txt": f"invoice total amount due {i}" for i in range(5)} | {"bad.pdf": b"no"}
    )
    job = sdk.beta.batch.create(job_config={}, directory_id=docs.id, page_size=2)
    assert job.status == "pending" and job.total_items == 6
    emu.admin.wait_for_job(job.id)
    status = sdk.beta.batch.get_status(job.id)
    assert status.job.status == "completed" and status.progress_percentage == 100.0
    assert (status.job.processed_items, status.job.failed_items) == (6, 1)
    # Offset auto-pagination: limit=2 walks three pages.
    items = list(sdk.beta.batch.job_items.list(job.id, limit=2))
    assert [i.item_name for i in items] == [f"{i}.txt" for i in range(5)] + ["bad.pdf"]
    failed = list(sdk.beta.batch.job_items.list(job.id, status="failed"))
    assert [i.item_name for i in failed] == ["bad.pdf"]
    results = sdk.beta.batch.job_items.get_processing_results(items[0].item_id)
    assert results.processing_results and results.processing_results[0].job_type == "parse"

    classify = sdk.beta.batch.create(
        job_config={"rules": RULES, "mode": "FAST"}, item_ids=[items[0].item_id]
    )
    assert classify.job_type == "classify"
    emu.admin.wait_for_job(classify.id)
    only = sdk.beta.batch.job_items.get_processing_results(items[0].item_id, job_type="classify")
    assert only.processing_results is not None and len(only.processing_results) == 1
    metadata = only.processing_results[0].output_metadata
    assert isinstance(metadata, dict) and metadata["type"] == "invoice"

    emu.admin.freeze()
    pending = sdk.beta.batch.create(job_config={}, directory_id=docs.id)
    cancelled = sdk.beta.batch.cancel(pending.id, reason="changed my mind")
    assert cancelled.status == "cancelled" and cancelled.processed_items == 0
    again = sdk.beta.batch.cancel(job.id)
    assert again.status == "completed"

    all_jobs = list(sdk.beta.batch.list(limit=1))
    assert [j.id for j in all_jobs] == [job.id, classify.id, pending.id]
    assert [j.id for j in sdk.beta.batch.list(job_type="classify")] == [classify.id]
    assert [j.id for j in sdk.beta.batch.list(status="cancelled")] == [pending.id]
    assert [j.id for j in sdk.beta.batch.list(directory_id=docs.id)] == [job.id, pending.id]


def test_parse_config_with_secrets_round_trips_masked(emu: Emulator, sdk: LlamaCloud) -> None:
    docs = emu.admin.seed_directory({"a.txt": "alpha"})
    config = {
        "job_name": "parse_raw_file_job",
        "parameters": {
            "type": "parse",
            "parse_mode": "parse_page_with_llm",
            "languages": ["en", "fr"],
            "azure_openai_key": "sk-very-secret",
            "webhook_configurations": [
                {
                    "webhook_url": "https://example.com/hook",
                    "webhook_events": ["parse.success", "split.success"],
                    "webhook_headers": {"Authorization": "Bearer hook-secret"},
                    "webhook_signing_secret": "whsec-secret",
                }
            ],
            "confidence_score_effort": "low",
        },
    }
    job = sdk.beta.batch.create(job_config=config, directory_id=docs.id)  # type: ignore[arg-type]
    emu.admin.wait_for_job(job.id)
    results = sdk.beta.batch.job_items.get_processing_results(docs.files["a.txt"])
    assert results.processing_results
    echo = results.processing_results[0].job_config.model_dump()
    text = json.dumps(echo)
    for secret in ("sk-very-secret", "hook-secret", "whsec-secret"):
        assert secret not in text
    params = echo["parameters"]
    assert params["azure_openai_key"] == "**********"
    assert params["webhook_configurations"][0]["webhook_headers"] == {"Authorization": "**********"}
    assert params["parse_mode"] == "parse_page_with_llm"
    assert params["confidence_score_effort"] == "low"


def test_errors_map_to_the_sdk_exceptions(emu: Emulator, sdk: LlamaCloud) -> None:
    with pytest.raises(llama_cloud.NotFoundError):
        sdk.beta.batch.get_status("bjb-missing")
    with pytest.raises(llama_cloud.UnprocessableEntityError):
        sdk.beta.batch.create(job_config={}, directory_id="d", item_ids=["x"])
    stranger = LlamaCloud(api_key="llx-unknown", base_url=emu.base_url, max_retries=0)
    with stranger, pytest.raises(llama_cloud.AuthenticationError):
        stranger.beta.batch.list()
    with pytest.raises(llama_cloud.PermissionDeniedError):
        sdk.beta.batch.list(project_id="proj-of-someone-else")


async def test_async_client(emu: Emulator) -> None:
    docs = emu.admin.seed_directory({f"{i}.md": f"# doc {i}" for i in range(3)})
    async with AsyncLlamaCloud(
        api_key=emu.api_key, base_url=emu.base_url, max_retries=0, _strict_response_validation=True
    ) as client:
        job = await client.beta.batch.create(job_config={}, item_ids=list(docs.files.values()))
        emu.admin.wait_for_job(job.id)
        names = [i.item_name async for i in client.beta.batch.job_items.list(job.id, limit=1)]
        assert names == ["0.md", "1.md", "2.md"]
        files = [f.id async for f in client.beta.directories.files.list(docs.id, page_size=2)]
        assert files == list(docs.files.values())
        status = await client.beta.batch.get_status(job.id)
        assert status.job.status == "completed"


def test_sdk_configured_from_the_environment(llamacloud_env: Emulator) -> None:
    with LlamaCloud(max_retries=0, _strict_response_validation=True) as client:
        assert str(client.base_url).rstrip("/") == llamacloud_env.base_url
        assert list(client.beta.batch.list()) == []
