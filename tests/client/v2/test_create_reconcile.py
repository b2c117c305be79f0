"""A v2 batch create is never duplicated: reconciled after an ambiguous failure, never re-sent.

Against the emulator (its v2 has no idempotency key, like the service), with faults that commit
the batch and lose the answer; and with respx for the listing shapes the emulator never serves
(oldest first, capped pages, a server clock far from ours).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from prefect_llamabatch import APIResponseValidationError, BadRequestError, BatchClient, RetryPolicy
from prefect_llamabatch.client.reconcile import CreateOwnershipError
from prefect_llamabatch.emulator import Emulator, FaultRule
from tests.client.v2.conftest import PARSE_FAST, make_client, no_async_sleep, stored_batches
from tests.conftest import API_KEY, BASE_URL, FakeTime

BATCHES = "/api/v2/batches"


@pytest.mark.parametrize("kind", ["commit_then_fail", "commit_then_drop"])
@pytest.mark.parametrize("clock_ahead", [0.0, 3600.0, -3600.0])
def test_a_lost_create_is_adopted_exactly_once(
    llamacloud_emulator: Emulator, raw: httpx.Client, kind: str, clock_ahead: float
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    other = emu.admin.seed_directory({"b.txt": "b"})
    # Batches that must not be adopted: another directory, another configuration.
    with make_client(emu, clock_ahead=clock_ahead, reconcile_page_size=1) as c:
        decoys = [
            c.create_batch(other.id, "cfg-PARSE_FAST").id,
            c.create_batch(seeded.id, "cfg-PARSE_AGENTIC").id,
            c.create_batch(seeded.id, "cfg-PARSE_COST_EFFECTIVE").id,
        ]
        emu.admin.set_faults([FaultRule(route="create_batch", kind=kind, count=1)])
        ours = c.create_batch(seeded.id, "cfg-PARSE_FAST")
        assert c.stats.reconciliations == 1 and c.stats.adopted == 1
    stored = stored_batches(raw)
    assert len(stored) == 4  # no duplicate
    assert ours.id not in decoys and ours.id in {b["id"] for b in stored}
    assert emu.admin.request_counts()["create_batch"] == 4  # never re-sent
    # The lookup read every page (page size 1) of this directory's batches only.
    assert emu.admin.request_counts()["list_batches"] >= 3


@pytest.mark.parametrize("kind", ["http_502", "http_503", "drop"])
def test_a_create_that_never_committed_is_resent_once(
    llamacloud_emulator: Emulator, raw: httpx.Client, kind: str
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    with make_client(emu) as c:
        emu.admin.set_faults([FaultRule(route="create_batch", kind=kind, count=1)])
        ours = c.create_batch(seeded.id, parameters=PARSE_FAST)
        assert c.stats.reconciliations == 1 and c.stats.adopted == 0
    assert [b["id"] for b in stored_batches(raw)] == [ours.id]
    assert emu.admin.request_counts()["create_batch"] == 2


def test_two_matching_batches_raise_naming_both_and_nothing_is_resent(
    llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    with make_client(emu) as c:
        twin = c.create_batch(seeded.id, "cfg-PARSE_FAST")  # indistinguishable from ours
        emu.admin.set_faults([FaultRule(route="create_batch", kind="commit_then_drop", count=1)])
        with pytest.raises(CreateOwnershipError) as info:
            c.create_batch(seeded.id, "cfg-PARSE_FAST")
    stored = stored_batches(raw)
    assert len(stored) == 2
    assert sorted(info.value.candidates) == sorted(b["id"] for b in stored)
    assert twin.id in str(info.value) and BATCHES in str(info.value)
    assert emu.admin.request_counts()["create_batch"] == 2


async def test_the_async_client_reconciles_the_same_way(
    llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    from prefect_llamabatch import AsyncBatchClient

    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults([FaultRule(route="create_batch", kind="commit_then_fail", count=1)])
    async with AsyncBatchClient(
        emu.api_key, base_url=emu.base_url, timeout=10.0, sleep=no_async_sleep
    ) as c:
        ours = await c.create_batch(seeded.id, "cfg-PARSE_FAST")
        assert c.stats.adopted == 1
    assert [b["id"] for b in stored_batches(raw)] == [ours.id]


# ---- listing shapes the emulator does not serve (respx) ------------------------------------


def batch(batch_id: str, created_at: datetime | None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": batch_id,
        "config": {"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_FAST"}},
        "project_id": "proj-1",
        "source_directory_id": "dir-1",
        "status": "PENDING",
        "created_at": None if created_at is None else created_at.isoformat(),
    }
    body.update(over)
    return body


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def test_found_on_a_late_page_of_an_oldest_first_listing_by_the_servers_clock(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    server_now = datetime(2031, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    # Our clock is a day behind the server's: its own window would adopt the decoys.
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=lambda: server_now - timedelta(days=1))
    create = mock.post(BATCHES).mock(side_effect=[httpx.ReadTimeout("lost")])
    pages = [
        [batch("bat-yesterday", server_now - timedelta(days=1))],
        [batch("bat-minute-ago", server_now - timedelta(seconds=60))],
        [],  # an empty page with a token is not the end
        [batch("bat-ours", server_now.replace(tzinfo=None) + timedelta(seconds=1))],  # zone-less
    ]
    date = {"Date": format_datetime(server_now + timedelta(seconds=2), usegmt=True)}

    def listing(request: httpx.Request) -> httpx.Response:
        assert request.url.params["source_directory_id"] == "dir-1"
        index = int(request.url.params.get("page_token", "0"))
        token = str(index + 1) if index + 1 < len(pages) else None
        body = {"items": pages[index], "next_page_token": token}
        return httpx.Response(200, headers=date, json=body)

    lookup = mock.get(BATCHES).mock(side_effect=listing)
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_batch("dir-1", "cfg-PARSE_FAST").id == "bat-ours"
    assert create.call_count == 1 and lookup.call_count == 4


def test_a_created_batch_of_another_job_type_is_refused_not_resent(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    wrong = batch(
        "bat-wrong",
        fake_time.utcnow(),
        config={"job": {"type": "extract_v2", "configuration_id": "cfg-1"}},
    )
    create = mock.post(BATCHES).mock(return_value=httpx.Response(200, json=wrong))
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        with pytest.raises(APIResponseValidationError, match="bat-wrong runs extract_v2") as info:
            c.create_batch("dir-1", "cfg-1", job_type="parse_v2")
    assert f"POST {BASE_URL}{BATCHES}" in str(info.value)
    assert create.call_count == 1


def test_webhook_secrets_never_reach_an_error_message(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    secret, header = "whsec-very-secret-1234", "Bearer hook-token-5678"
    echo = f"bad webhook {secret} with header {header}"
    mock.post(BATCHES).mock(return_value=httpx.Response(400, json={"detail": echo}))
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    hooks = [
        {
            "webhook_url": "https://hooks.example.test/x",
            "webhook_signing_secret": secret,
            "webhook_headers": {"Authorization": header},
        }
    ]
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        with pytest.raises(BadRequestError) as info:
            c.create_batch("dir-1", "cfg-PARSE_FAST", webhook_configurations=hooks)
    text = str(info.value) + repr(info.value)
    assert "bad webhook" in text
    assert secret not in text and header not in text


def test_a_listing_grown_by_other_creates_is_read_again_not_given_up(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    # A cursor that is an offset in disguise, newest first, one batch per page. On the first
    # two readings another flow creates a batch (its own configuration) after the first page,
    # so the second page repeats the first. One retry: the create's own budget cannot outlast
    # two busy readings; the listing's own retries can.
    policy = RetryPolicy(max_retries=1, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    other = {"job": {"type": "parse_v2", "configuration_id": "cfg-other"}}
    batches = [batch(f"bat-old-{n}", fake_time.utcnow() - timedelta(days=1)) for n in range(2)]
    passes = 0

    def lost_create(request: httpx.Request) -> httpx.Response:
        batches.insert(0, batch("bat-ours", fake_time.utcnow()))
        return httpx.Response(504)

    def listing(request: httpx.Request) -> httpx.Response:
        nonlocal passes
        offset = int(request.url.params.get("page_token", "0"))
        if offset == 0:
            passes += 1
        elif passes <= 2 and offset == 1:
            batches.insert(0, batch(f"bat-theirs-{passes}", fake_time.utcnow(), config=other))
        token = str(offset + 1) if offset + 1 < len(batches) else None
        return httpx.Response(
            200, json={"items": batches[offset : offset + 1], "next_page_token": token}
        )

    create = mock.post(BATCHES).mock(side_effect=lost_create)
    mock.get(BATCHES).mock(side_effect=listing)
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_batch("dir-1", "cfg-PARSE_FAST").id == "bat-ours"
        assert c.stats.adopted == 1
    assert create.call_count == 1  # never re-sent
    assert passes == 3
