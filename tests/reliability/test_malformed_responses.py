"""Malformed responses: a typed error or a tolerant parse, pagination that ends, nothing that hangs.

Most answers come from a scripted server on 127.0.0.1 (real HTTP, see ``scripted_server``), since
no correct API sends them; truncated JSON comes from the emulator's ``malformed_json`` fault.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from prefect_llamabatch import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BadRequestError,
    BatchClient,
    RetryPolicy,
    ServerError,
)
from prefect_llamabatch.client.paging import ListingError
from prefect_llamabatch.emulator import Emulator, FaultRule
from prefect_llamabatch.models import JobStatus
from prefect_llamabatch.orchestration.results import JobCounts
from tests.reliability.scripted_server import (
    Hang,
    Lie,
    Reply,
    ScriptedServer,
    Seen,
    json_reply,
    scripted_server,
)

pytestmark = pytest.mark.timeout(30)

JOBS = "/api/v1/beta/batch-processing"
KEY = "llx-malformed-test-key"
FAST = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.005, max_retry_after=0.01)


def job(**overrides: Any) -> dict[str, Any]:
    """A valid job record."""
    record: dict[str, Any] = {
        "id": "bjb-1",
        "job_type": "parse",
        "project_id": "proj-1",
        "status": "running",
        "total_items": 10,
        "processed_items": 3,
        "failed_items": 0,
        "skipped_items": 0,
    }
    record.update(overrides)
    return record


def item(n: int, status: str = "completed") -> dict[str, Any]:
    return {"item_id": f"dfl-{n:05d}", "item_name": f"doc-{n}.pdf", "status": status}


@pytest.fixture(scope="module")
def module_server() -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        yield server


@pytest.fixture
def server(module_server: ScriptedServer) -> ScriptedServer:
    module_server.reset(lambda _seen: Reply(404, b'{"detail":"not scripted"}'))
    return module_server


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[BatchClient]:
    with BatchClient(KEY, base_url=server.base_url, retry=FAST, timeout=1.0) as c:
        yield c


def paged(items: list[dict[str, Any]], total: int | None, seen: Seen) -> Reply:
    """An honest offset page of ``items`` that reports ``total`` as its size."""
    offset = int(seen.query.get("offset", 0))
    limit = int(seen.query.get("limit", 100))
    return json_reply({"items": items[offset : offset + limit], "total_size": total})


# ---- bodies that are not the model ---------------------------------------------------------


def test_html_with_status_200_is_a_typed_error(server: ScriptedServer, client: BatchClient) -> None:
    page = b"<html><head><title>Portal</title></head><body><h1>Welcome to nginx</h1></body></html>"
    server.reset(lambda _s: Reply(200, page, "text/html"))
    with pytest.raises(APIResponseValidationError) as info:
        client.get_job("bjb-1")
    message = str(info.value)
    assert "not JSON" in message and "Welcome to nginx" in message
    assert "<h1>" not in message  # tags stripped: readable
    assert f"GET {server.base_url}{JOBS}/bjb-1" in message  # the full URL


def test_truncated_json_from_the_emulator_is_a_typed_error(emu: Emulator) -> None:
    emu.admin.set_faults([FaultRule(route="list_jobs", kind="malformed_json", count=1)])
    with BatchClient(emu.api_key, base_url=emu.base_url, retry=FAST) as client:
        with pytest.raises(APIResponseValidationError, match="not JSON"):
            client.list_jobs()
        assert client.list_jobs().items == []  # the next answer is whole again


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"job": {"status": "running"}}, ["job.id", "job.total_items"]),
        ({"progress_percentage": 5}, ["job"]),
        ({"job": job(total_items="many")}, ["job.total_items"]),
        ({"job": job(created_at="yesterday-ish")}, ["job.created_at"]),
        ({"job": "bjb-1"}, ["job"]),
        ([job()], ["Input should be"]),
        (None, ["Input should be"]),
    ],
    ids=[
        "missing-fields",
        "missing-job",
        "wrong-type",
        "bad-date",
        "string-for-object",
        "array",
        "null",
    ],
)
def test_wrong_shapes_are_typed_errors_naming_the_field(
    server: ScriptedServer, client: BatchClient, body: Any, named: list[str]
) -> None:
    server.reset(lambda _s: json_reply(body))
    with pytest.raises(APIResponseValidationError) as info:
        client.get_job("bjb-1")
    for text in named:
        assert text in str(info.value)
    assert server.requests_to(f"{JOBS}/bjb-1") == 1  # a wrong shape is not retried


def test_empty_and_undecodable_bodies_are_typed_errors(
    server: ScriptedServer, client: BatchClient
) -> None:
    for body in (b"", b"\xff\xfe{not utf-8", b'{"job": '):
        server.reset(lambda _s, body=body: Reply(200, body))
        with pytest.raises(APIResponseValidationError, match="not JSON"):
            client.get_job("bjb-1")


def test_deeply_nested_json_is_a_typed_error(server: ScriptedServer, client: BatchClient) -> None:
    # The stdlib parser gives up with RecursionError, not ValueError.
    nested = b"[" * 200_000 + b"]" * 200_000
    server.reset(lambda _s: Reply(200, nested))
    with pytest.raises(APIResponseValidationError):
        client.get_job("bjb-1")
    server.reset(lambda _s: Reply(400, nested))
    with pytest.raises(BadRequestError) as info:
        client.get_job("bjb-1")
    assert len(str(info.value)) < 1000


def test_unknown_job_status_parses_and_is_not_final(
    server: ScriptedServer, client: BatchClient
) -> None:
    server.reset(lambda _s: json_reply({"job": job(status="paused_by_admin")}))
    status = client.get_job("bjb-1")
    assert status.job.status_value == "paused_by_admin"
    assert not status.job.is_terminal
    assert status.job.status not in set(JobStatus)


def test_negative_counters_parse_and_never_count_below_zero(
    server: ScriptedServer, client: BatchClient
) -> None:
    server.reset(
        lambda _s: json_reply(
            {
                "job": job(
                    status="completed",
                    total_items=-4,
                    processed_items=-3,
                    failed_items=-2,
                    skipped_items=-1,
                ),
                "progress_percentage": -50,
            }
        )
    )
    status = client.get_job("bjb-1")
    counts = JobCounts.from_job(status.job)
    values = [counts.total, counts.processed, counts.failed, counts.skipped, counts.succeeded]
    assert all(v >= 0 for v in values), values
    assert counts.pending >= 0


# ---- pagination that lies ------------------------------------------------------------------


def test_total_size_larger_than_the_items_that_exist(
    server: ScriptedServer, client: BatchClient
) -> None:
    items = [item(n) for n in range(150)]
    server.reset(lambda seen: paged(items, 1_000_000, seen))
    got: list[str] = []
    with pytest.raises(ListingError, match="ended after 150 entries, but its total_size says"):
        got.extend(i.item_id for i in client.iter_items("bjb-1", page_size=50, concurrency=4))
    assert got == [i["item_id"] for i in items]  # every item once, then a clear refusal
    # It stops at the first empty page: one window of 4 pages after the first, no more.
    assert server.requests_to(f"{JOBS}/bjb-1/items") <= 1 + 4 + 4


def test_an_empty_page_before_the_end_is_refused_not_a_short_result(
    server: ScriptedServer, client: BatchClient
) -> None:
    items = [item(n) for n in range(300)]

    def answer(seen: Seen) -> Reply:
        if seen.query.get("offset") == "100":
            return json_reply({"items": [], "total_size": 300})
        return paged(items, 300, seen)

    server.reset(answer)
    got: list[str] = []
    with pytest.raises(ListingError, match="ended after 100 entries"):
        got.extend(i.item_id for i in client.iter_items("bjb-1", page_size=100, concurrency=1))
    assert got == [i["item_id"] for i in items[:100]]
    assert server.requests_to(f"{JOBS}/bjb-1/items") == 2


@pytest.mark.parametrize("total", [500, None], ids=["with-total", "without-total"])
def test_a_page_repeating_the_previous_one_is_refused(
    server: ScriptedServer, client: BatchClient, total: int | None
) -> None:
    first = [item(n) for n in range(100)]
    server.reset(lambda _s: json_reply({"items": first, "total_size": total}))  # offset ignored
    got: list[str] = []
    with pytest.raises(ListingError, match="only entries already listed"):
        got.extend(i.item_id for i in client.iter_items("bjb-1", page_size=100, concurrency=2))
    assert got == [i["item_id"] for i in first]  # no duplicates
    assert server.requests_to(f"{JOBS}/bjb-1/items") <= 3


def test_a_page_longer_than_its_limit_is_cut_to_the_limit(
    server: ScriptedServer, client: BatchClient
) -> None:
    items = [item(n) for n in range(30)]

    def answer(seen: Seen) -> Reply:
        offset = int(seen.query.get("offset", 0))
        return json_reply({"items": items[offset : offset + 25], "total_size": 30})

    server.reset(answer)
    got = [i.item_id for i in client.iter_items("bjb-1", page_size=10, concurrency=1)]
    assert got == [i["item_id"] for i in items]


def test_negative_total_size_ends_after_the_first_page(
    server: ScriptedServer, client: BatchClient
) -> None:
    items = [item(n) for n in range(20)]
    server.reset(lambda seen: paged(items, -7, seen))
    got = list(client.iter_items("bjb-1", page_size=10))
    assert len(got) == 10 and server.requests_to(f"{JOBS}/bjb-1/items") == 1


def test_a_cursor_that_repeats_itself_is_refused(
    server: ScriptedServer, client: BatchClient
) -> None:
    files = [
        {
            "id": f"dfl-{n}",
            "directory_id": "dir-1",
            "display_name": f"f{n}.txt",
            "project_id": "proj-1",
            "unique_id": f"f{n}.txt",
        }
        for n in range(4)
    ]

    def answer(seen: Seen) -> Reply:
        token = seen.query.get("page_token")
        if token is None:
            return json_reply({"items": files[:2], "next_page_token": "t1"})
        return json_reply({"items": files[2:], "next_page_token": "t1"})  # "t1" again

    server.reset(answer)
    got: list[str] = []
    with pytest.raises(ListingError, match="cursor cycles"):
        got.extend(f.id for f in client.iter_directory_files("dir-1", page_size=2))
    assert got == ["dfl-0", "dfl-1", "dfl-2", "dfl-3"]
    assert len(server.seen) == 2


# ---- errors that are too big, too slow, or cut short ---------------------------------------


def test_a_huge_error_body_gives_a_short_message(
    server: ScriptedServer, client: BatchClient
) -> None:
    body = b"<html><body>" + b"<p>stack frame</p>" * 300_000 + b"</body></html>"
    server.reset(lambda _s: Reply(500, body, "text/html"))
    with pytest.raises(ServerError) as info:
        client.get_job("bjb-1")
    assert len(str(info.value)) < 1000 and len(repr(info.value)) < 1200
    assert server.requests_to(f"{JOBS}/bjb-1") == 1 + FAST.max_retries


def test_a_huge_json_error_detail_gives_a_short_message(
    server: ScriptedServer, client: BatchClient
) -> None:
    server.reset(lambda _s: json_reply({"detail": "x" * 2_000_000}, status=400))
    with pytest.raises(BadRequestError) as info:
        client.get_job("bjb-1")
    message = str(info.value)
    assert len(message) < 1000 and len(repr(info.value)) < 1200
    assert "400" in message and "xxxxxxxx" in message  # still says what the server said
    assert server.requests_to(f"{JOBS}/bjb-1") == 1  # a 400 is not retried


@pytest.mark.parametrize("after_headers", [False, True], ids=["no-headers", "no-body"])
def test_a_server_that_never_answers_times_out(server: ScriptedServer, after_headers: bool) -> None:
    server.reset(lambda _s: Hang(after_headers=after_headers))
    policy = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.002)
    with BatchClient(KEY, base_url=server.base_url, retry=policy, timeout=0.3) as client:
        with pytest.raises(APITimeoutError):
            client.get_job("bjb-1")
    assert server.requests_to(f"{JOBS}/bjb-1") == 2


def test_a_body_shorter_than_its_content_length_is_a_retried_connection_error(
    server: ScriptedServer, client: BatchClient
) -> None:
    whole = json.dumps({"job": job()}).encode()
    server.reset(lambda _s: Lie(whole[:20], content_length=len(whole)))
    with pytest.raises(APIConnectionError):
        client.get_job("bjb-1")
    assert server.requests_to(f"{JOBS}/bjb-1") == 1 + FAST.max_retries


def test_a_bogus_retry_after_falls_back_to_backoff(
    server: ScriptedServer, client: BatchClient
) -> None:
    answers = iter(
        [
            Reply(503, b"busy", "text/plain", {"Retry-After": "soon-ish"}),
            Reply(429, b"{}", "application/json", {"Retry-After": "-30"}),
            json_reply({"job": job()}),
        ]
    )
    server.reset(lambda _s: next(answers))
    assert client.get_job("bjb-1").job.id == "bjb-1"
    assert client.stats.retries == 2


def test_create_answered_with_a_wrong_shape_is_a_typed_error(
    server: ScriptedServer, client: BatchClient
) -> None:
    server.reset(lambda _s: json_reply({"job_id": "bjb-1", "ok": True}))
    with pytest.raises(APIResponseValidationError) as info:
        client.create_job({"directory_id": "dir-1", "job_config": {}})
    assert "id" in str(info.value)
    # Not re-sent: a body that parsed nowhere is not a transient failure.
    assert server.requests_to(JOBS) == 1


def test_non_finite_progress_is_tolerated(server: ScriptedServer, client: BatchClient) -> None:
    server.reset(
        lambda _s: Reply(
            200, b'{"job": ' + json.dumps(job()).encode() + b', "progress_percentage": NaN}'
        )
    )
    status = client.get_job("bjb-1")
    assert status.job.id == "bjb-1"
    assert math.isnan(status.progress_percentage) or 0 <= status.progress_percentage <= 100


# ---- inside a wait: a garbled answer is one failed poll, not a failed flow ------------------


@pytest.mark.timeout(120)  # the first use of the Prefect test API starts it
@pytest.mark.parametrize("kind", ["malformed_json", "http_502"])
@pytest.mark.llamacloud_emulator(time_scale=0.01)
def test_a_garbled_status_answer_mid_wait_does_not_fail_the_wait(
    emu: Emulator, prefect_api: str, kind: str
) -> None:
    from prefect_llamabatch import LlamaCloudCredentials
    from prefect_llamabatch.orchestration.tasks import wait_for_batch_job
    from prefect_llamabatch.orchestration.waiting import WaitSettings

    seeded = emu.admin.seed_directory({f"d{n}.txt": b"text" for n in range(6)}, name="garbled")
    emu.admin.freeze()  # the job keeps running until the garbled answer has been served
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        job = client.create_job({"directory_id": seeded.id, "job_config": {}})
    # The second poll's answer is garbled, as by a proxy cutting the body short.
    emu.admin.set_faults([FaultRule(route="get_job", kind=kind, after=1, count=1)])
    credentials = LlamaCloudCredentials(
        api_key=emu.api_key, base_url=emu.base_url, max_retries=0, retry_initial_delay=0.01
    )
    settings = WaitSettings(poll_interval=0.02, max_poll_interval=0.05, progress_artifact=False)
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(wait_for_batch_job, credentials, job.id, settings)
        deadline = time.monotonic() + 30
        while not any(stat["fired"] for stat in emu.admin.fault_stats()):
            assert time.monotonic() < deadline and not waiting.done(), "no garbled poll"
            time.sleep(0.01)
        emu.admin.resume()
        result = waiting.result(timeout=60)
    assert result.status == "completed" and result.counts.succeeded == 6


@pytest.mark.timeout(120)
def test_a_status_answer_that_never_parses_fails_the_wait_after_the_budget(
    server: ScriptedServer, prefect_api: str
) -> None:
    from prefect_llamabatch import LlamaCloudCredentials
    from prefect_llamabatch.orchestration.results import BatchApiUnavailable
    from prefect_llamabatch.orchestration.tasks import wait_for_batch_job
    from prefect_llamabatch.orchestration.waiting import WaitSettings

    server.reset(lambda _s: Reply(200, b"<html>maintenance</html>", "text/html"))
    credentials = LlamaCloudCredentials(api_key=KEY, base_url=server.base_url, max_retries=0)
    settings = WaitSettings(
        poll_interval=0.02,
        max_poll_interval=0.05,
        outage_budget_seconds=0.3,
        progress_artifact=False,
        cancel_on_timeout=False,
    )
    with pytest.raises(BatchApiUnavailable) as info:
        wait_for_batch_job(credentials, "bjb-1", settings)
    assert "not JSON" in str(info.value) and "maintenance" in str(info.value)
    assert info.value.job_id == "bjb-1"
