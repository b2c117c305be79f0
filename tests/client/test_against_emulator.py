"""The clients against the real emulator over HTTP on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_llamabatch import (
    AsyncBatchClient,
    AuthenticationError,
    BatchClient,
    NotFoundError,
    RetryPolicy,
    UnprocessableEntityError,
)
from prefect_llamabatch.emulator import Emulator, FaultRule
from prefect_llamabatch.models import JobStatus


def no_sleep(_seconds: float) -> None:
    """Retries happen at once: the emulator's faults are counted, not timed."""


async def no_async_sleep(_seconds: float) -> None:
    """Async twin of :func:`no_sleep`."""


@pytest.fixture
def client(llamacloud_emulator: Emulator) -> Iterator[BatchClient]:
    emu = llamacloud_emulator
    with BatchClient(
        emu.api_key,
        base_url=emu.base_url,
        project_id=emu.project_id,
        timeout=10.0,
        sleep=no_sleep,
    ) as c:
        yield c


def test_directory_upload_job_items_results_cancel_delete(
    client: BatchClient, llamacloud_emulator: Emulator, tmp_path: Path
) -> None:
    emu = llamacloud_emulator
    directory = client.create_directory("inputs", type="ephemeral", description="test run")
    assert directory.type == "ephemeral"
    path = tmp_path / "notes.md"
    path.write_text("# Notes\nhello\n")
    uploaded = [
        client.upload_file(directory.id, path, metadata={"source": "disk"}),
        client.upload_file(directory.id, b"plain text", display_name="b.txt", unique_id="b"),
        client.upload_file(directory.id, io.BytesIO(b"streamed"), display_name="c.txt"),
    ]
    assert [f.display_name for f in uploaded] == ["notes.md", "b.txt", "c.txt"]
    assert uploaded[1].unique_id == "b"
    files = list(client.iter_directory_files(directory.id, page_size=2))
    assert sorted(f.id for f in files) == sorted(f.id for f in uploaded)
    assert client.list_directory_files(directory.id, unique_id="b").items[0].id == uploaded[1].id

    job = client.create_job({"directory_id": directory.id, "job_config": {}})
    assert job.directory_id == directory.id
    emu.admin.wait_for_job(job.id)
    status = client.get_job(job.id)
    assert status.job.status == JobStatus.COMPLETED and status.progress_percentage == 100
    items = list(client.iter_items(job.id, page_size=2))
    assert sorted(i.item_id for i in items) == sorted(f.id for f in uploaded)
    assert all(i.status_value == "completed" for i in items)
    results = client.get_item_results(items[0].item_id, job_type="parse")
    assert results.processing_results and results.processing_results[0].job_type == "parse"

    # Cancelling a finished job is not an error: its final status comes back.
    cancelled = client.cancel_job(job.id, "too late")
    assert cancelled.job_id == job.id and cancelled.status == JobStatus.COMPLETED

    client.delete_directory(directory.id)
    with pytest.raises(NotFoundError):
        client.get_directory(directory.id)


@pytest.mark.llamacloud_emulator(list_order="oldest_first")  # asserts the job order
async def test_async_items_of_a_large_job_in_order(llamacloud_emulator: Emulator) -> None:
    emu = llamacloud_emulator
    seeded = emu.admin.seed_directory({f"doc-{i:02d}.txt": f"text {i}" for i in range(45)})
    async with AsyncBatchClient(
        emu.api_key, base_url=emu.base_url, project_id=emu.project_id, sleep=no_async_sleep
    ) as c:
        job = await c.create_job({"directory_id": seeded.id, "job_config": {}})
        emu.admin.wait_for_job(job.id)
        before = emu.admin.request_counts().get("list_items", 0)
        got = [item.item_id async for item in c.iter_items(job.id, page_size=10, concurrency=3)]
    truth = emu.admin.ground_truth(job.id).job(job.id)
    assert got == [item.item_id for item in sorted(truth.items, key=lambda i: i.pos)]
    assert len(got) == 45
    assert emu.admin.request_counts()["list_items"] - before == 5


@pytest.mark.parametrize("kind", ["commit_then_fail", "commit_then_drop"])
def test_lost_create_response_is_adopted_not_duplicated(
    client: BatchClient, llamacloud_emulator: Emulator, kind: str
) -> None:
    emu = llamacloud_emulator
    seeded = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b"})
    emu.admin.set_faults([FaultRule(route="create_job", kind=kind, count=1)])
    job = client.create_job({"directory_id": seeded.id, "job_config": {}})
    truth = emu.admin.ground_truth()
    assert [j.id for j in truth.jobs] == [job.id]
    assert truth.request_counts["create_job"] == 1  # never re-sent
    assert client.stats.adopted == 1 and client.stats.reconciliations == 1


def test_create_refused_before_commit_is_resent_once(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults([FaultRule(route="create_job", kind="http_503", count=1)])
    job = client.create_job({"item_ids": list(seeded.files.values()), "job_config": {}})
    truth = emu.admin.ground_truth()
    assert [j.id for j in truth.jobs] == [job.id]
    assert truth.request_counts["create_job"] == 2
    assert truth.request_counts["list_jobs"] == 1  # looked first, found nothing, re-sent
    assert client.stats.adopted == 0


@pytest.mark.parametrize("kind", ["commit_then_fail", "commit_then_drop"])
@pytest.mark.parametrize("named", [True, False])
def test_lost_upload_response_without_unique_id_is_adopted_not_resent(
    client: BatchClient, llamacloud_emulator: Emulator, kind: str, named: bool
) -> None:
    emu = llamacloud_emulator
    directory = client.create_directory("inputs")
    emu.admin.set_faults([FaultRule(route="upload_file", kind=kind, count=1)])
    uploaded = client.upload_file(directory.id, b"hello", display_name="a.txt" if named else None)
    files = client.list_directory_files(directory.id).items
    assert [f.id for f in files] == [uploaded.id]
    assert emu.admin.request_counts()["upload_file"] == 1  # never re-sent
    assert client.stats.adopted == 1


def test_lost_add_file_response_without_unique_id_is_adopted_not_resent(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    source = client.upload_file(client.create_directory("source").id, b"hello")
    assert source.file_id is not None
    target = client.create_directory("target")
    emu.admin.set_faults([FaultRule(route="add_file", kind="commit_then_drop", count=1)])
    added = client.add_file(target.id, source.file_id)
    assert [f.id for f in client.list_directory_files(target.id).items] == [added.id]
    assert added.file_id == source.file_id
    assert emu.admin.request_counts()["add_file"] == 1
    assert client.stats.adopted == 1


def test_rate_limited_create_is_retried_without_looking(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults([FaultRule(route="create_job", kind="http_429", count=2)])
    client.create_job({"directory_id": seeded.id, "job_config": {}})
    counts = emu.admin.request_counts()
    assert counts["create_job"] == 3 and counts.get("list_jobs", 0) == 0
    assert len(emu.admin.ground_truth().jobs) == 1


def test_transient_outage_of_reads_is_ridden_out(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    job = client.create_job({"directory_id": seeded.id, "job_config": {}})
    emu.admin.set_faults([FaultRule(route="get_job", kind="http_502", count=2)])
    assert client.get_job(job.id).job.id == job.id
    emu.admin.set_faults([FaultRule(route="get_job", kind="drop", count=1)])
    assert client.get_job(job.id).job.id == job.id
    assert client.stats.retries == 3


def test_errors_from_the_emulator(llamacloud_emulator: Emulator, client: BatchClient) -> None:
    emu = llamacloud_emulator
    with pytest.raises(NotFoundError, match="bjb-missing"):
        client.get_job("bjb-missing")
    wrong_key = "llx-wrong-key-123456"
    with (
        BatchClient(wrong_key, base_url=emu.base_url, retry=RetryPolicy(max_retries=0)) as bad,
        pytest.raises(AuthenticationError) as info,
    ):
        bad.list_jobs()
    assert wrong_key not in str(info.value) and wrong_key not in repr(info.value)


# ---- a classify config is a ClassifyJob record (its required fields: both server choices) ----

CLASSIFY_RULES = [{"type": "invoice", "description": "a bill with a total"}]


@pytest.mark.llamacloud_emulator(classify_record="required")
def test_a_classify_create_sends_the_record_fields_it_knows_and_names_the_one_it_cannot(
    llamacloud_emulator: Emulator,
) -> None:
    emu = llamacloud_emulator
    docs = emu.admin.seed_directory({"a.txt": "an invoice with a total"})
    with BatchClient(emu.api_key, base_url=emu.base_url, project_id=emu.project_id) as client:
        with pytest.raises(UnprocessableEntityError) as info:
            client.create_job({"directory_id": docs.id, "job_config": {"rules": CLASSIFY_RULES}})
        assert "user_id" in str(info.value) and emu.base_url in str(info.value)
        assert "project_id" not in str(info.value)  # filled from the request's project
        assert emu.admin.ground_truth().jobs == []
        config = {"rules": CLASSIFY_RULES, "user_id": "usr-1"}
        job = client.create_job({"directory_id": docs.id, "job_config": config})
    assert job.job_type == "classify"
    echoed = emu.admin.ground_truth(job.id).jobs[0].job_config
    assert echoed is not None
    assert (echoed["status"], echoed["project_id"], echoed["user_id"]) == (
        "PENDING",
        emu.project_id,
        "usr-1",
    )
    assert echoed["id"].startswith("cls-")


def test_a_classify_create_with_rules_alone_works_where_the_server_fills_the_record(
    llamacloud_emulator: Emulator,
) -> None:
    emu = llamacloud_emulator
    docs = emu.admin.seed_directory({"a.txt": "an invoice with a total"})
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:  # no project: none filled
        job = client.create_job({"directory_id": docs.id, "job_config": {"rules": CLASSIFY_RULES}})
    assert job.job_type == "classify"
