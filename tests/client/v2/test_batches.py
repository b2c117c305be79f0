"""v2 batches through the clients, against the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from prefect_llamabatch import AsyncBatchClient, BadRequestError, BatchClient, NotFoundError
from prefect_llamabatch.emulator import Emulator, FaultRule
from prefect_llamabatch.models.v2 import Batch
from tests.client.v2.conftest import (
    PARSE_FAST,
    eventually,
    no_async_sleep,
    stored_batches,
    stored_configurations,
)

EXTRACT = {
    "product_type": "extract_v2",
    "data_schema": {"type": "object", "properties": {"total": {"type": "number"}}},
}


def finished(client: BatchClient, batch_id: str) -> Batch | None:
    batch = client.get_batch(batch_id)
    return batch if batch.status in ("COMPLETED", "FAILED", "CANCELLED") else None


def test_create_with_a_preset_runs_every_file_and_expands_results(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    seeded = llamacloud_emulator.admin.seed_directory({"a.md": "# A", "b.md": "# B"})
    batch = client.create_batch(seeded.id, "cfg-PARSE_FAST")
    assert batch.id.startswith("bat-") and batch.status in ("PENDING", "RUNNING")
    assert batch.config.job.type == "parse_v2"  # inferred from the preset
    assert batch.source_directory_id == seeded.id and batch.results is None
    done = eventually(lambda: finished(client, batch.id))
    assert done.status == "COMPLETED"
    assert client.get_batch(batch.id).results is None  # only with expand
    expanded = client.get_batch(batch.id, expand_results=True)
    assert expanded.results is not None
    assert {r.source_directory_file_id for r in expanded.results} == set(seeded.files.values())
    assert all(r.job_reference is not None for r in expanded.results)
    assert {r.job_reference.type for r in expanded.results if r.job_reference} == {"parse_v2"}


def test_create_from_parameters_saves_them_once_and_reuses_them(
    client: BatchClient, llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.md": "# A"})
    first = client.create_batch(seeded.id, parameters=PARSE_FAST)
    saved = stored_configurations(raw)
    assert len(saved) == 1 and saved[0]["name"].startswith("llamabatch-parse_v2-")
    assert first.config.job.configuration_id == saved[0]["id"]
    # A rerun (same parameters, other key order) saves nothing: same configuration, same version.
    again = client.create_batch(seeded.id, parameters=dict(reversed(list(PARSE_FAST.items()))))
    assert again.config.job.configuration_id == saved[0]["id"]
    assert stored_configurations(raw) == saved
    assert emu.admin.request_counts()["create_configuration"] == 1
    assert {b["id"] for b in stored_batches(raw)} == {first.id, again.id}


def test_job_type_is_read_from_a_saved_configuration(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    seeded = llamacloud_emulator.admin.seed_directory({"invoice.txt": "Total: 42"})
    configuration = client.create_configuration("invoices", EXTRACT)
    batch = client.create_batch(seeded.id, configuration.id)
    assert batch.config.job.type == "extract_v2"
    assert batch.config.job.configuration_id == configuration.id
    with pytest.raises(BadRequestError, match="extract_v2 configuration"):
        client.create_batch(seeded.id, configuration.id, job_type="parse_v2")


def test_arguments_are_checked_before_any_request(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    before = emu.admin.request_counts()
    with pytest.raises(ValueError, match="source_directory_id"):
        client.create_batch("../dir", "cfg-PARSE_FAST")
    with pytest.raises(ValueError, match="configuration_id"):
        client.create_batch("dir-1", "cfg/x")
    with pytest.raises(ValueError, match="either configuration_id or parameters"):
        client.create_batch("dir-1")
    with pytest.raises(ValueError, match="either configuration_id or parameters"):
        client.create_batch("dir-1", "cfg-PARSE_FAST", parameters=PARSE_FAST)
    with pytest.raises(ValueError, match="does not match"):
        client.create_batch("dir-1", parameters=PARSE_FAST, job_type="extract_v2")
    with pytest.raises(ValueError, match="'parse_v2' or 'extract_v2'"):
        client.create_batch("dir-1", parameters={"product_type": "classify_v2", "rules": []})
    with pytest.raises(ValueError, match="tier"):
        client.create_batch("dir-1", parameters={"product_type": "parse_v2", "tier": "best"})
    with pytest.raises(ValueError, match="webhook_configuration_ids"):
        client.create_batch("dir-1", "cfg-PARSE_FAST", webhook_configuration_ids=["a/b"])
    with pytest.raises(ValueError, match="batch_id"):
        client.get_batch("")
    with pytest.raises(ValueError, match="batch_id"):
        client.cancel_batch("bat-1/../x")
    with pytest.raises(ValueError, match="status"):
        client.list_batches(status="completed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page_size"):
        client.iter_batches(page_size=0)
    assert emu.admin.request_counts() == before


def test_listing_filters_and_iterates_every_batch_once(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    one = emu.admin.seed_directory({"a.txt": "a"})
    two = emu.admin.seed_directory({"b.txt": "b"})
    ours = [client.create_batch(one.id, "cfg-PARSE_FAST").id for _ in range(5)]
    other = client.create_batch(two.id, "cfg-PARSE_FAST").id
    listed = [b.id for b in client.iter_batches(source_directory_id=one.id, page_size=2)]
    assert sorted(listed) == sorted(ours)
    assert sorted(b.id for b in client.iter_batches(page_size=1)) == sorted([*ours, other])
    page = client.list_batches(source_directory_id=one.id, page_size=3)
    assert len(page.items) == 3 and page.next_page_token
    rest = client.list_batches(source_directory_id=one.id, page_token=page.next_page_token)
    assert {b.id for b in page.items} | {b.id for b in rest.items} == set(ours)
    assert [b.id for b in client.iter_batches(status="RUNNING")] == []
    assert len(list(client.iter_batches(status="PENDING"))) == 6
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert client.list_batches(created_at_on_or_after=later).items == []
    assert len(client.list_batches(created_at_on_or_before=later).items) == 6


def test_cancel_stops_a_running_batch_and_returns_a_finished_one(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    emu.admin.settings(item_duration_seconds=60, concurrency=1)
    busy = emu.admin.seed_directory({"a.txt": "a", "b.txt": "b"})
    running = client.create_batch(busy.id, "cfg-PARSE_FAST")
    eventually(lambda: client.get_batch(running.id).status == "RUNNING")
    assert client.cancel_batch(running.id).status == "CANCELLED"
    # Cancelling again (a retried stop) is not an error: the final batch comes back.
    assert client.cancel_batch(running.id).status == "CANCELLED"
    emu.admin.settings(item_duration_seconds=0.1, concurrency=4)
    quick = client.create_batch(emu.admin.seed_directory({"c.txt": "c"}).id, "cfg-PARSE_FAST")
    eventually(lambda: finished(client, quick.id))
    final = client.cancel_batch(quick.id)
    assert final.id == quick.id and final.status == "COMPLETED"
    assert emu.admin.request_counts()["cancel_batch"] == 3


def test_reads_are_retried_and_errors_name_the_full_url(
    client: BatchClient, llamacloud_emulator: Emulator
) -> None:
    emu = llamacloud_emulator
    batch = client.create_batch(emu.admin.seed_directory({"a.txt": "a"}).id, "cfg-PARSE_FAST")
    emu.admin.set_faults([FaultRule(route="get_batch", kind="http_503", count=2)])
    assert client.get_batch(batch.id).id == batch.id
    assert client.stats.retries == 2
    with pytest.raises(NotFoundError) as info:
        client.get_batch("bat-missing")
    assert f"GET {emu.base_url}/api/v2/batches/bat-missing" in str(info.value)
    assert emu.api_key not in str(info.value)


@pytest.mark.llamacloud_emulator(v2_max_files_per_batch=3)
def test_a_directory_over_the_file_limit_is_refused_naming_it(
    client: BatchClient, llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    seeded = llamacloud_emulator.admin.seed_directory({f"{i}.txt": "x" for i in range(4)})
    with pytest.raises(BadRequestError, match=r"4 files.*at most 3") as info:
        client.create_batch(seeded.id, "cfg-PARSE_FAST")
    assert "/api/v2/batches" in str(info.value)
    assert stored_batches(raw) == []


async def test_async_client_creates_lists_and_cancels(llamacloud_emulator: Emulator) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    async with AsyncBatchClient(
        emu.api_key, base_url=emu.base_url, timeout=10.0, sleep=no_async_sleep
    ) as client:
        saved = await client.save_parameters(PARSE_FAST)
        batch = await client.create_batch(seeded.id, saved.id)
        assert batch.config.job.configuration_id == saved.id
        assert batch.config.job.type == "parse_v2"
        listed = [b.id async for b in client.iter_batches(source_directory_id=seeded.id)]
        assert listed == [batch.id]
        assert (await client.list_batches(status="PENDING")).items[0].id == batch.id
        assert (await client.cancel_batch(batch.id)).status == "CANCELLED"
        assert (await client.get_batch(batch.id)).status == "CANCELLED"
