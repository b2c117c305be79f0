"""Create never starts a duplicate job: blind retries only when unsent, else reconcile first."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from prefect_llamabatch import (
    APIResponseValidationError,
    AsyncBatchClient,
    BadRequestError,
    BatchClient,
    RetryPolicy,
    ServerError,
)
from prefect_llamabatch.client.paging import ListingError
from prefect_llamabatch.client.reconcile import CreateOwnershipError
from prefect_llamabatch.emulator import FaultRule
from tests.conftest import API_KEY, BASE_URL, FakeTime

JOBS = "/api/v1/beta/batch-processing"
DIRECTORY_JOB = {"directory_id": "dir-1", "job_config": {}}
ITEMS_JOB = {"item_ids": ["dfl-1", "dfl-2", "dfl-3"], "job_config": {}}


def job(
    job_id: str,
    created_at: datetime | None,
    *,
    directory_id: str | None = "dir-1",
    job_type: str = "parse",
    total_items: int = 3,
) -> dict[str, Any]:
    return {
        "id": job_id,
        "job_type": job_type,
        "project_id": "proj-1",
        "status": "pending",
        "total_items": total_items,
        "directory_id": directory_id,
        "created_at": None if created_at is None else created_at.isoformat(),
    }


def listing(*jobs: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"items": list(jobs), "total_size": len(jobs)})


@pytest.fixture
def client(fake_time: FakeTime) -> Iterator[BatchClient]:
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    with BatchClient(
        API_KEY, base_url=BASE_URL, project_id="proj-1", retry=policy, sleep=fake_time.sleep
    ) as c:
        yield c


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def keys(route: respx.Route) -> list[str]:
    return [call.request.headers["idempotency-key"] for call in route.calls]


AMBIGUOUS = [
    httpx.Response(500),
    httpx.Response(502, text="<html>Bad Gateway</html>"),
    httpx.Response(503),
    httpx.Response(504),
    httpx.ReadTimeout("read timed out"),
    httpx.WriteTimeout("write timed out"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    httpx.ReadError("connection reset by peer"),
]


@pytest.mark.parametrize(
    "failure", AMBIGUOUS, ids=lambda f: getattr(f, "status_code", type(f).__name__)
)
def test_ambiguous_failure_then_adoption(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime, failure: Any
) -> None:
    def accepted_but_lost(request: httpx.Request) -> Any:
        # The server creates the job, then the response is lost.
        fake_time.now += 1
        if isinstance(failure, Exception):
            raise failure
        return failure

    create = mock.post(JOBS).mock(side_effect=accepted_but_lost)
    ours = job("bjb-ours", fake_time.utcnow() + timedelta(seconds=1))
    lookup = mock.get(JOBS).mock(return_value=listing(ours))
    adopted = client.create_job(DIRECTORY_JOB)
    assert adopted.id == "bjb-ours"
    assert create.call_count == 1  # never re-sent
    assert lookup.call_count == 1
    params = lookup.calls.last.request.url.params
    assert params["directory_id"] == "dir-1" and params["job_type"] == "parse"
    assert params["project_id"] == "proj-1"
    assert client.stats.reconciliations == 1 and client.stats.adopted == 1


def test_no_candidate_then_the_create_is_resent_with_the_same_key(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    create = mock.post(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=job("bjb-2", None))]
    )
    mock.get(JOBS).mock(return_value=listing())
    created = client.create_job(DIRECTORY_JOB)
    assert created.id == "bjb-2"
    assert create.call_count == 2
    assert len(set(keys(create))) == 1
    assert client.stats.reconciliations == 1 and client.stats.adopted == 0


def test_several_candidates_raise_naming_them_instead_of_guessing(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(
        side_effect=[httpx.ReadTimeout("lost"), httpx.Response(200, json=job("bjb-c", now))]
    )
    mock.get(JOBS).mock(return_value=listing(job("bjb-a", now), job("bjb-b", now)))
    # Two jobs could be ours: adopting either could be wrong, and LlamaCloud has no key to
    # dedupe a re-send, which could start a third.
    with pytest.raises(CreateOwnershipError, match=r"2 jobs .*bjb-a, bjb-b") as info:
        client.create_job(DIRECTORY_JOB, idempotency_key="flow-run-7")
    assert info.value.candidates == ["bjb-a", "bjb-b"]
    assert create.call_count == 1  # never re-sent
    assert client.stats.adopted == 0


def test_candidates_must_match_type_directory_and_time(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    mock.post(JOBS).mock(side_effect=[httpx.Response(502), httpx.Response(500)] * 3)
    mock.get(JOBS).mock(
        return_value=listing(
            job("bjb-old", now - timedelta(seconds=121)),  # before the request, beyond skew
            job("bjb-classify", now, job_type="classify"),
            job("bjb-other-dir", now, directory_id="dir-2"),
            job("bjb-no-date", None),
            job("bjb-skewed", now - timedelta(seconds=100)),  # server clock 100 s behind: ours
        )
    )
    assert client.create_job(DIRECTORY_JOB).id == "bjb-skewed"


def items_of(jobs: dict[str, list[str]]) -> Any:
    """A respx side effect listing each job's items (offset paging, total_size given)."""

    def page(request: httpx.Request) -> httpx.Response:
        job_id = request.url.path.split("/")[-2]
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        names = jobs[job_id]
        items = [
            {"item_id": i, "item_name": f"{i}.txt", "status": "pending"}
            for i in names[offset : offset + limit]
        ]
        return httpx.Response(200, json={"items": items, "total_size": len(names)})

    return page


def test_item_jobs_match_on_the_exact_item_set(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    lookup = mock.get(JOBS).mock(
        return_value=listing(
            job("bjb-two-items", now, directory_id=None, total_items=2),
            job("bjb-dir-job", now, directory_id="dir-1", total_items=3),
            # Another flow's job over as many items (the issue-10 wrong adoption):
            job("bjb-same-size", now, directory_id=None, total_items=3),
            job("bjb-ours", now, directory_id=None, total_items=3),
        )
    )
    fetched = mock.get(url__regex=r".*/batch-processing/bjb-[a-z-]+/items").mock(
        side_effect=items_of(
            {"bjb-same-size": ["dfl-1", "dfl-2", "dfl-9"], "bjb-ours": ["dfl-3", "dfl-1", "dfl-2"]}
        )
    )
    assert client.create_job(ITEMS_JOB).id == "bjb-ours"
    assert "directory_id" not in lookup.calls.last.request.url.params
    assert sorted(c.request.url.path.split("/")[-2] for c in fetched.calls) == [
        "bjb-ours",
        "bjb-same-size",
    ]
    assert create.call_count == 1


def test_an_equal_size_job_of_another_flow_is_never_adopted(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # Our create never committed (dropped); another flow's equal-size job exists: re-send.
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(
        side_effect=[
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.Response(200, json=job("bjb-ours", now, directory_id=None)),
        ]
    )
    mock.get(JOBS).mock(return_value=listing(job("bjb-theirs", now, directory_id=None)))
    mock.get(url__regex=r".*/bjb-theirs/items").mock(
        side_effect=items_of({"bjb-theirs": ["dfl-7", "dfl-8", "dfl-9"]})
    )
    assert client.create_job(ITEMS_JOB).id == "bjb-ours"
    assert create.call_count == 2 and client.stats.adopted == 0


@pytest.mark.parametrize("client_ahead", [3600.0, -3600.0])
def test_the_window_follows_the_server_clock_not_ours(
    fake_time: FakeTime, mock: respx.MockRouter, client_ahead: float
) -> None:
    # The client's clock is an hour off; the server's Date header says what time it is there.
    server_now = datetime(2031, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    policy = RetryPolicy(
        clock=fake_time.monotonic,
        utcnow=lambda: server_now + timedelta(seconds=client_ahead),
    )
    mock.post(JOBS).mock(side_effect=[httpx.Response(502)])
    date = format_datetime(server_now + timedelta(seconds=2), usegmt=True)
    mock.get(JOBS).mock(
        return_value=httpx.Response(
            200,
            headers={"Date": date},
            json={
                "items": [
                    job("bjb-yesterday", server_now - timedelta(days=1)),
                    job("bjb-minute-ago", server_now - timedelta(seconds=60)),
                    job("bjb-ours", server_now + timedelta(seconds=1)),
                ],
                "total_size": 3,
            },
        )
    )
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_job(DIRECTORY_JOB).id == "bjb-ours"


def test_zone_less_timestamps_are_read_as_utc(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    naive = [job("bjb-old", now - timedelta(hours=5)), job("bjb-ours", now + timedelta(seconds=1))]
    for entry in naive:
        entry["created_at"] = entry["created_at"].removesuffix("+00:00")
    mock.post(JOBS).mock(side_effect=[httpx.Response(500)])
    mock.get(JOBS).mock(return_value=listing(*naive))
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"


@pytest.mark.parametrize("ours_first", [True, False], ids=["newest-first", "oldest-first"])
def test_found_among_thousands_of_older_jobs_in_any_order(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime, ours_first: bool
) -> None:
    now = fake_time.utcnow()
    old = [job(f"bjb-old-{i}", now - timedelta(days=1)) for i in range(2500)]
    jobs = [job("bjb-ours", now), *old] if ours_first else [*old, job("bjb-ours", now)]

    def capped(request: httpx.Request) -> httpx.Response:
        # A cap of 40 per page and no total_size: short pages are not the end.
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"items": jobs[offset : offset + 40]})

    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(side_effect=capped)
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"
    assert lookup.call_count == -(-2501 // 40) + 1  # every page, then the empty one


def test_reconciliation_scans_all_pages(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    old = [job(f"bjb-old-{i}", now - timedelta(days=1)) for i in range(150)]
    pages = [old[:100], [*old[100:], job("bjb-ours", now)]]

    def paged(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"items": pages[offset // 100], "total_size": 151})

    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(side_effect=paged)
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"
    assert [c.request.url.params["offset"] for c in lookup.calls] == ["0", "100"]


@pytest.mark.parametrize(
    "unsent",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.Response(429, headers={"Retry-After": "1"}),
    ],
    ids=["connect-error", "connect-timeout", "429"],
)
def test_unsent_failures_are_retried_blindly(
    client: BatchClient, mock: respx.MockRouter, unsent: Any
) -> None:
    create = mock.post(JOBS).mock(side_effect=[unsent, httpx.Response(200, json=job("b", None))])
    lookup = mock.get(JOBS).mock(return_value=listing())
    assert client.create_job(DIRECTORY_JOB).id == "b"
    assert create.call_count == 2 and lookup.call_count == 0
    assert len(set(keys(create))) == 1
    assert client.stats.reconciliations == 0


def test_rejected_create_is_not_retried(client: BatchClient, mock: respx.MockRouter) -> None:
    create = mock.post(JOBS).mock(return_value=httpx.Response(400, json={"detail": "bad dir"}))
    lookup = mock.get(JOBS).mock(return_value=listing())
    with pytest.raises(BadRequestError, match="bad dir"):
        client.create_job(DIRECTORY_JOB)
    assert create.call_count == 1 and lookup.call_count == 0


def test_no_resend_while_the_lookup_itself_fails(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.ConnectError("down"), listing(job("bjb-1", now))]
    )
    assert client.create_job(DIRECTORY_JOB).id == "bjb-1"
    assert create.call_count == 1 and lookup.call_count == 3
    # The lookup's pages are retried in place: one reconciliation, not one per failed page.
    assert client.stats.reconciliations == 1


def test_a_lookup_that_keeps_failing_is_run_again_before_any_resend(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(max_retries=2, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(502)])
    lookup = mock.get(JOBS).mock(
        side_effect=[httpx.Response(503)] * 3 + [listing(job("bjb-1", fake_time.utcnow()))]
    )
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_job(DIRECTORY_JOB).id == "bjb-1"
        assert c.stats.reconciliations == 2
    assert create.call_count == 1 and lookup.call_count == 4


def test_giving_up_after_an_ambiguous_failure_still_looks_once(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(max_retries=0, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(502)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_job(DIRECTORY_JOB).id == "bjb-1"
    assert create.call_count == 1


def test_giving_up_with_nothing_found_raises_the_create_error(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(max_retries=1, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(502), httpx.Response(503)])
    lookup = mock.get(JOBS).mock(return_value=listing())
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        with pytest.raises(ServerError) as info:
            c.create_job(DIRECTORY_JOB)
    assert info.value.status_code == 503
    assert create.call_count == 2 and lookup.call_count == 2


def test_adoption_is_logged(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="prefect_llamabatch")
    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    client.create_job(DIRECTORY_JOB)
    assert any("adopting what it created" in r.getMessage() for r in caplog.records)
    assert API_KEY not in caplog.text


@pytest.mark.parametrize(
    ("body", "created", "named"),
    [
        (
            DIRECTORY_JOB,
            {"job_type": "classify"},
            "is a classify job over dir-1, not the parse job",
        ),
        (
            {"item_ids": ["dfl-1"], "job_config": {"rules": [{"type": "a", "description": "b"}]}},
            {"job_type": "parse", "directory_id": None},
            "is a parse job, not the classify job",
        ),
        (DIRECTORY_JOB, {"directory_id": "dir-2"}, "over dir-2, not the parse job over dir-1"),
    ],
    ids=["parse-read-as-classify", "classify-read-as-parse", "another-directory"],
)
def test_a_created_job_of_another_type_or_directory_is_an_error_not_a_success(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    body: dict[str, Any],
    created: dict[str, Any],
    named: str,
) -> None:
    answer = {**job("bjb-wrong", fake_time.utcnow()), **created}
    create = mock.post(JOBS).mock(return_value=httpx.Response(200, json=answer))
    with pytest.raises(APIResponseValidationError, match=named) as info:
        client.create_job(body)
    assert f"POST {BASE_URL}{JOBS}" in str(info.value) and "bjb-wrong" in str(info.value)
    assert create.call_count == 1  # an answered create is never re-sent


class BusyListing:
    """Item jobs listed newest first, two per page whatever ``limit`` says, no ``total_size``.

    On its first ``busy_passes`` readings, two other flows create jobs between the first page
    and the second: the second page then holds only jobs the first already showed.
    """

    def __init__(self, fake_time: FakeTime, busy_passes: int) -> None:
        self.fake_time = fake_time
        self.busy_passes = busy_passes
        self.passes = 0
        self.jobs: list[dict[str, Any]] = []  # newest first
        self.items: dict[str, list[str]] = {}

    def add(self, job_id: str, items: list[str]) -> None:
        created = self.fake_time.utcnow()
        self.jobs.insert(0, job(job_id, created, directory_id=None, total_items=len(items)))
        self.items[job_id] = items

    def create(self, request: httpx.Request) -> httpx.Response:
        self.add("bjb-ours", json.loads(request.content)["item_ids"])
        return httpx.Response(504)  # stored, then the answer is lost

    def page(self, request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        if offset == 0:
            self.passes += 1
        elif self.passes <= self.busy_passes and offset == 2:
            for n in range(2):
                self.add(f"bjb-theirs-{self.passes}-{n}", [f"dfl-{self.passes}{n}"] * 3)
        return httpx.Response(200, json={"items": self.jobs[offset : offset + 2]})


def test_a_listing_grown_by_other_creates_is_read_again_not_given_up(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    # One retry: the create's own budget cannot outlast two busy readings of the listing
    # (its retry and its last look); the listing's own retries can.
    policy = RetryPolicy(max_retries=1, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    server = BusyListing(fake_time, busy_passes=2)
    for n in range(3):
        server.add(f"bjb-old-{n}", [f"dfl-old-{n}"] * 3)
    fake_time.now += 1
    create = mock.post(JOBS).mock(side_effect=server.create)
    mock.get(JOBS).mock(side_effect=server.page)
    mock.get(url__regex=r".*/batch-processing/bjb-[a-z0-9-]+/items").mock(
        side_effect=items_of(server.items)
    )
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_job(ITEMS_JOB).id == "bjb-ours"
        assert c.stats.adopted == 1
    assert create.call_count == 1  # never re-sent
    assert server.passes == 3  # two busy readings, then one that holds still


def test_a_listing_that_keeps_contradicting_itself_fails_without_a_resend(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(max_retries=2, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    server = BusyListing(fake_time, busy_passes=1_000)
    for n in range(3):
        server.add(f"bjb-old-{n}", [f"dfl-old-{n}"] * 3)
    create = mock.post(JOBS).mock(side_effect=server.create)
    mock.get(JOBS).mock(side_effect=server.page)
    mock.get(url__regex=r".*/batch-processing/bjb-[a-z0-9-]+/items").mock(
        side_effect=items_of(server.items)
    )
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        with pytest.raises(ListingError, match="only entries already listed"):
            c.create_job(ITEMS_JOB)
    assert create.call_count == 1
    # Bounded: the create's look before its retry and its last look (a contradiction is not a
    # reason to retry the create) each read the listing three times (the policy's two retries).
    assert server.passes == 2 * 3


async def test_async_create_reconciles_the_same_way(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.ReadTimeout("lost")])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    async with AsyncBatchClient(
        API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.async_sleep
    ) as c:
        assert (await c.create_job(DIRECTORY_JOB)).id == "bjb-1"
        assert c.stats.adopted == 1
    assert create.call_count == 1


def test_upload_with_unique_id_is_reconciled_by_unique_id(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    upload = mock.post("/api/v1/beta/directories/dir-1/files/upload").mock(
        side_effect=[httpx.ReadTimeout("lost")]
    )
    found = {
        "id": "dfl-9",
        "directory_id": "dir-1",
        "display_name": "a.txt",
        "project_id": "proj-1",
        "unique_id": "batch-7/a.txt",
    }
    lookup = mock.get("/api/v1/beta/directories/dir-1/files").mock(
        return_value=httpx.Response(200, json={"items": [found], "next_page_token": None})
    )
    result = client.upload_file("dir-1", b"hello", display_name="a.txt", unique_id="batch-7/a.txt")
    assert result.id == "dfl-9"
    assert upload.call_count == 1
    assert lookup.calls.last.request.url.params["unique_id"] == "batch-7/a.txt"


FILES = "/api/v1/beta/directories/dir-1/files"


def directory_file(unique_id: str, written: datetime | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "dfl-9",
        "directory_id": "dir-1",
        "display_name": "a.txt",
        "project_id": "proj-1",
        "unique_id": unique_id,
        "updated_at": None if written is None else written.isoformat(),
        **fields,
    }


def file_listing(*files: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"items": list(files), "next_page_token": None})


def sent_unique_id(request: httpx.Request) -> str:
    match = re.search(rb'name="unique_id"\r\n\r\n([^\r]*)\r\n', request.content)
    assert match is not None
    return match.group(1).decode()


@pytest.mark.parametrize(
    ("source", "kwargs", "expected"),
    [
        ("path", {}, "notes.md"),
        ("bytes", {"display_name": "a.txt"}, "a.txt"),
        ("path", {"display_name": "a.txt", "external_file_id": "ext-1"}, "ext-1"),
        ("bytes", {}, f"sha256:{hashlib.sha256(b'hello').hexdigest()}"),
    ],
)
def test_upload_without_unique_id_gets_a_default_and_is_reconciled_not_resent(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    tmp_path: Path,
    source: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(b"hello")
    upload = mock.post(f"{FILES}/upload").mock(side_effect=[httpx.ReadTimeout("lost")])
    ours = directory_file(expected, fake_time.utcnow() + timedelta(seconds=1))
    lookup = mock.get(FILES).mock(return_value=file_listing(ours))
    result = client.upload_file("dir-1", path if source == "path" else b"hello", **kwargs)
    assert result.id == "dfl-9"
    assert upload.call_count == 1  # never re-sent blindly
    assert sent_unique_id(upload.calls.last.request) == expected
    assert lookup.calls.last.request.url.params["unique_id"] == expected
    assert client.stats.adopted == 1


def test_an_older_file_sharing_the_unique_id_is_not_adopted(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    upload = mock.post(f"{FILES}/upload").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json=directory_file("a.txt", None, id="dfl-new")),
        ]
    )
    older = directory_file("a.txt", fake_time.utcnow() - timedelta(hours=1), id="dfl-old")
    mock.get(FILES).mock(return_value=file_listing(older))
    result = client.upload_file("dir-1", b"new content", display_name="a.txt")
    assert result.id == "dfl-new"
    assert upload.call_count == 2 and client.stats.adopted == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"), [({"display_name": "a.txt"}, "a.txt"), ({}, "fil-7")]
)
def test_add_file_without_unique_id_gets_a_default_and_is_reconciled(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    add = mock.post(FILES).mock(side_effect=[httpx.ReadTimeout("lost")])
    written = fake_time.utcnow() + timedelta(seconds=1)
    ours = directory_file(expected, written, file_id="fil-7")
    mock.get(FILES).mock(return_value=file_listing(ours))
    assert client.add_file("dir-1", "fil-7", **kwargs).id == "dfl-9"
    assert json.loads(add.calls.last.request.content) == {
        "file_id": "fil-7",
        **kwargs,
        "unique_id": expected,
    }
    assert add.call_count == 1


def test_add_file_does_not_adopt_another_file_under_its_unique_id(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    add = mock.post(FILES).mock(
        side_effect=[
            httpx.Response(502),
            httpx.Response(200, json=directory_file("a.txt", None, file_id="fil-7")),
        ]
    )
    written = fake_time.utcnow() + timedelta(seconds=1)
    other = directory_file("a.txt", written, id="dfl-other", file_id="fil-other")
    mock.get(FILES).mock(return_value=file_listing(other))
    assert client.add_file("dir-1", "fil-7", display_name="a.txt").file_id == "fil-7"
    assert add.call_count == 2 and client.stats.adopted == 0


def test_create_body_is_identical_on_every_attempt(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    create = mock.post(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=job("b", None))]
    )
    mock.get(JOBS).mock(return_value=listing())
    client.create_job(
        {"directory_id": "dir-1", "job_config": {"parameters": {"languages": ["en", "fr"]}}}
    )
    bodies = [json.loads(call.request.content) for call in create.calls]
    assert (
        bodies[0]
        == bodies[1]
        == {
            "directory_id": "dir-1",
            "job_config": {"parameters": {"languages": ["en", "fr"]}},
        }
    )


# ---- against the strict emulator: no Idempotency-Key, both list orders, capped pages ----------

STRICT = [
    pytest.param(
        order,
        marks=pytest.mark.llamacloud_emulator(
            list_order=order, max_page_size=7, include_total_size=False
        ),
        id=order,
    )
    for order in ("oldest_first", "newest_first")
]


def strict_client(emu: Any, *, clock_ahead: float = 0.0) -> BatchClient:
    policy = RetryPolicy(
        initial_delay=0.01,
        max_delay=0.05,
        utcnow=lambda: datetime.now(timezone.utc) + timedelta(seconds=clock_ahead),
    )
    return BatchClient(emu.api_key, base_url=emu.base_url, retry=policy)


@pytest.mark.parametrize("order", STRICT)
@pytest.mark.parametrize("kind", ["commit_then_fail", "commit_then_drop"])
def test_lost_create_is_adopted_among_equal_size_jobs_on_the_strict_emulator(
    llamacloud_emulator: Any, order: str, kind: str
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({f"f{i:02d}.txt": "x" for i in range(62)})
    ids = list(seeded.files.values())
    with strict_client(emu, clock_ahead=3600) as c:
        # 30 other jobs over as many items as ours, created just before (inside any window).
        others = [
            c.create_job({"item_ids": ids[i : i + 2], "job_config": {}}).id for i in range(0, 60, 2)
        ]
        emu.admin.set_faults([FaultRule(route="create_job", kind=kind, count=1)])
        ours = c.create_job({"item_ids": ids[60:], "job_config": {}})
        assert c.stats.adopted == 1
    truth = emu.admin.ground_truth()
    assert len(truth.jobs) == 31  # no duplicate
    assert ours.id not in others
    assert {i.item_id for i in truth.job(ours.id).items} == set(ids[60:])
    assert truth.request_counts["create_job"] == 31  # never re-sent


@pytest.mark.parametrize("order", STRICT)
@pytest.mark.parametrize("kind", ["http_502", "http_503", "drop"])
def test_uncommitted_create_never_adopts_another_flows_job_on_the_strict_emulator(
    llamacloud_emulator: Any, order: str, kind: str
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({f"f{i}.txt": "x" for i in range(4)})
    ids = list(seeded.files.values())
    with strict_client(emu) as c:
        theirs = c.create_job({"item_ids": ids[:2], "job_config": {}})  # another flow, same size
        emu.admin.set_faults([FaultRule(route="create_job", kind=kind, count=1)])
        ours = c.create_job(
            {"item_ids": ids[2:], "job_config": {"parameters": {"fast_mode": True}}}
        )
        assert c.stats.adopted == 0
    truth = emu.admin.ground_truth()
    assert ours.id != theirs.id and len(truth.jobs) == 2
    assert {i.item_id for i in truth.job(ours.id).items} == set(ids[2:])


@pytest.mark.parametrize("order", STRICT)
def test_two_identical_candidates_raise_on_the_strict_emulator(
    llamacloud_emulator: Any, order: str
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    seeded = emu.admin.seed_directory({"a.txt": "a"})
    body = {"directory_id": seeded.id, "job_config": {}}
    with strict_client(emu) as c:
        twin = c.create_job(body)  # same directory, same type: indistinguishable from ours
        emu.admin.set_faults([FaultRule(route="create_job", kind="commit_then_drop", count=1)])
        with pytest.raises(CreateOwnershipError) as info:
            c.create_job(body)
    truth = emu.admin.ground_truth()
    assert len(truth.jobs) == 2  # nothing re-sent
    assert sorted(info.value.candidates) == sorted(j.id for j in truth.jobs)
    assert twin.id in str(info.value)
