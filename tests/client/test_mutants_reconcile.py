"""Reconciliation behaviours that mutation testing found unpinned (``docs/mutation.md``).

Each test states a guarantee of :mod:`prefect_llamabatch.client.reconcile` that a surviving
mutant broke without any other test noticing.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Callable, Iterator
from datetime import timedelta, timezone

import httpx
import pytest
import respx

from prefect_llamabatch import (
    APIResponseValidationError,
    AsyncBatchClient,
    BadRequestError,
    BatchClient,
    RetryPolicy,
)
from prefect_llamabatch.client.reconcile import CreateOwnershipError
from tests.client.test_create import (
    DIRECTORY_JOB,
    FILES,
    ITEMS_JOB,
    JOBS,
    directory_file,
    file_listing,
    items_of,
    job,
    listing,
)
from tests.conftest import API_KEY, BASE_URL, FakeTime


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


def test_an_ownership_error_reads_the_same_after_pickling() -> None:
    # Prefect pickles task exceptions into results: the candidates and the text must survive.
    exc = CreateOwnershipError(f"POST {JOBS}", ["bjb-a", "bjb-b"])
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is CreateOwnershipError
    assert back.what == f"POST {JOBS}" and back.candidates == ["bjb-a", "bjb-b"]
    assert str(back) == str(exc)


def test_a_job_of_a_type_the_package_does_not_know_is_skipped_not_fatal(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # The listing may hold job types newer than this package (parsed as plain strings).
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    mock.get(JOBS).mock(
        return_value=listing(job("bjb-future", now, job_type="extract_v9"), job("bjb-ours", now))
    )
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"
    assert create.call_count == 1


def test_a_listed_file_under_another_unique_id_is_never_adopted(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # A server whose unique_id filter is case-insensitive (or ignored) lists another file:
    # it is not ours, so the upload is re-sent rather than adopted.
    upload = mock.post(f"{FILES}/upload").mock(
        side_effect=[
            httpx.ReadTimeout("lost"),
            httpx.Response(200, json=directory_file("batch-7/a.txt", None, id="dfl-ours")),
        ]
    )
    lookalike = directory_file(
        "BATCH-7/A.TXT", fake_time.utcnow() + timedelta(seconds=1), id="dfl-other"
    )
    mock.get(FILES).mock(return_value=file_listing(lookalike))
    result = client.upload_file("dir-1", b"x", display_name="a.txt", unique_id="batch-7/a.txt")
    assert result.id == "dfl-ours"
    assert upload.call_count == 2 and client.stats.adopted == 0


def test_a_file_written_at_the_edge_of_the_clock_skew_window_is_adopted(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # The window is inclusive: a file stamped exactly clock_skew before the send is ours.
    skew = RetryPolicy().clock_skew
    upload = mock.post(f"{FILES}/upload").mock(side_effect=[httpx.ReadTimeout("lost")])
    edge = directory_file("a.txt", fake_time.utcnow() - timedelta(seconds=skew))
    mock.get(FILES).mock(return_value=file_listing(edge))
    assert client.upload_file("dir-1", b"x", display_name="a.txt").id == "dfl-9"
    assert upload.call_count == 1 and client.stats.adopted == 1


def test_a_malformed_file_lookup_names_the_lookup_and_resends_nothing(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    upload = mock.post(f"{FILES}/upload").mock(side_effect=[httpx.ReadTimeout("lost")])
    mock.get(FILES).mock(return_value=httpx.Response(200, text="<html>proxy error</html>"))
    with pytest.raises(APIResponseValidationError) as info:
        client.upload_file("dir-1", b"x", display_name="a.txt")
    assert info.value.method == "GET" and info.value.path == FILES
    assert "not JSON" in str(info.value)
    assert upload.call_count == 1


def test_a_malformed_job_listing_names_the_lookup_and_resends_nothing(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(502)])
    mock.get(JOBS).mock(return_value=httpx.Response(200, text="<html>proxy error</html>"))
    with pytest.raises(APIResponseValidationError) as info:
        client.create_job(DIRECTORY_JOB)
    assert info.value.method == "GET" and info.value.path == JOBS
    assert create.call_count == 1


def test_the_job_lookup_asks_for_pages_of_the_policys_size(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(reconcile_page_size=2, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    now = fake_time.utcnow()
    jobs = [job(f"bjb-old-{i}", now - timedelta(days=1)) for i in range(3)] + [job("bjb-1", now)]

    def honours_limit(request: httpx.Request) -> httpx.Response:
        # A server that defaults to 50 entries per page when no limit is asked for.
        offset = int(request.url.params["offset"])
        limit = int(request.url.params.get("limit", 50))
        return httpx.Response(200, json={"items": jobs[offset : offset + limit]})

    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(side_effect=honours_limit)
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_job(DIRECTORY_JOB).id == "bjb-1"
    assert [call.request.url.params.get("limit") for call in lookup.calls] == ["2", "2", "2"]


def test_a_page_of_the_lookup_that_fails_is_retried_in_order_within_one_reconciliation(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    old = [job(f"bjb-old-{i}", now - timedelta(days=1)) for i in range(250)]
    jobs = [*old, job("bjb-ours", now)]
    failed: set[int] = set()

    def flaky(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        if offset == 100 and offset not in failed:
            failed.add(offset)
            return httpx.Response(503)
        return httpx.Response(200, json={"items": jobs[offset : offset + 100], "total_size": 251})

    create = mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(side_effect=flaky)
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"
    # One page at a time: the failed page is retried before the next one is asked for.
    assert [c.request.url.params["offset"] for c in lookup.calls] == ["0", "100", "100", "200"]
    assert create.call_count == 1 and client.stats.reconciliations == 1


def test_an_item_job_whose_id_no_request_can_name_is_passed_over(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # An id such as "../x" cannot be ours (the API never hands one out); the jobs after it are
    # still examined.
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    mock.get(JOBS).mock(
        return_value=listing(
            job("..", now, directory_id=None),
            job("bjb-ours", now, directory_id=None),
        )
    )
    mock.get(url__regex=r".*/batch-processing/bjb-ours/items").mock(
        side_effect=items_of({"bjb-ours": ["dfl-1", "dfl-2", "dfl-3"]})
    )
    assert client.create_job(ITEMS_JOB).id == "bjb-ours"
    assert create.call_count == 1


def test_a_failing_items_page_is_retried_in_order_within_one_reconciliation(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    many = [f"dfl-{i}" for i in range(250)]
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    mock.get(JOBS).mock(
        return_value=listing(job("bjb-ours", now, directory_id=None, total_items=250))
    )
    pages = items_of({"bjb-ours": many})
    failed: set[int] = set()

    def flaky(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        if offset == 100 and offset not in failed:
            failed.add(offset)
            return httpx.Response(503)
        response: httpx.Response = pages(request)
        return response

    items = mock.get(url__regex=r".*/bjb-ours/items").mock(side_effect=flaky)
    assert client.create_job({"item_ids": many, "job_config": {}}).id == "bjb-ours"
    assert [c.request.url.params["offset"] for c in items.calls] == ["0", "100", "100", "200"]
    assert create.call_count == 1 and client.stats.reconciliations == 1


def test_a_malformed_items_page_names_the_lookup_and_resends_nothing(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow(), directory_id=None)))
    mock.get(url__regex=r".*/bjb-1/items").mock(return_value=httpx.Response(200, text="oops"))
    with pytest.raises(APIResponseValidationError) as info:
        client.create_job(ITEMS_JOB)
    assert info.value.method == "GET" and info.value.path == f"{JOBS}/bjb-1/items"
    assert create.call_count == 1


def test_two_matching_jobs_name_the_create_that_failed(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    mock.post(JOBS).mock(side_effect=[httpx.ReadTimeout("lost")])
    mock.get(JOBS).mock(return_value=listing(job("bjb-a", now), job("bjb-b", now)))
    with pytest.raises(CreateOwnershipError) as info:
        client.create_job(DIRECTORY_JOB)
    assert info.value.what == f"POST {JOBS}"
    assert str(info.value).startswith(f"POST {JOBS} failed")


def test_a_resend_after_finding_nothing_is_logged(
    client: BatchClient,
    mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="prefect_llamabatch")
    mock.post(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=job("b", None))]
    )
    mock.get(JOBS).mock(return_value=listing())
    client.create_job(DIRECTORY_JOB)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("found no job matching the failed create" in m for m in warnings)


def test_an_ownership_error_is_final_the_listing_is_read_once(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(side_effect=[httpx.ReadTimeout("lost")])
    lookup = mock.get(JOBS).mock(return_value=listing(job("bjb-a", now), job("bjb-b", now)))
    with pytest.raises(CreateOwnershipError):
        client.create_job(DIRECTORY_JOB)
    assert create.call_count == 1 and lookup.call_count == 1
    assert client.stats.reconciliations == 1


def test_a_resend_rejected_after_finding_nothing_does_not_look_again(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    # Nothing was ours, the re-send is refused outright: the refusal is final, nothing is open.
    create = mock.post(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.Response(400, json={"detail": "bad dir"})]
    )
    lookup = mock.get(JOBS).mock(return_value=listing())
    with pytest.raises(BadRequestError):
        client.create_job(DIRECTORY_JOB)
    assert create.call_count == 2 and lookup.call_count == 1
    assert client.stats.reconciliations == 1


def test_a_resend_that_never_left_after_finding_nothing_is_retried_without_looking_again(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    # After a lookup that found nothing, a re-send that provably did not reach the server
    # (connection refused) leaves nothing to look for: it is retried blindly.
    create = mock.post(JOBS).mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=job("bjb-1", None)),
        ]
    )
    lookup = mock.get(JOBS).mock(return_value=listing())
    assert client.create_job(DIRECTORY_JOB).id == "bjb-1"
    assert create.call_count == 3 and lookup.call_count == 1
    assert client.stats.reconciliations == 1


class _Meter:
    """Wraps a respx side effect: counts the requests in flight at once (``most``)."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.in_flight = 0
        self.most = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(5):  # let any other gathered request start
            await asyncio.sleep(0)
        self.in_flight -= 1
        return self.answer(request)


async def test_the_async_lookup_reads_one_page_at_a_time(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    # Pages are not gathered: a failing page is retried inside the create's retry loop, in order.
    now = fake_time.utcnow()
    jobs = [*(job(f"bjb-old-{i}", now - timedelta(days=1)) for i in range(250)), job("b", now)]

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"items": jobs[offset : offset + 100], "total_size": 251})

    page = _Meter(answer)

    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(side_effect=page)
    async with AsyncBatchClient(
        API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.async_sleep
    ) as c:
        assert (await c.create_job(DIRECTORY_JOB)).id == "b"
    assert lookup.call_count == 3 and page.most == 1


async def test_the_async_lookup_reads_a_candidates_items_one_page_at_a_time(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    # The same for a candidate's items (total_size given, so a gathered read could start).
    now = fake_time.utcnow()
    many = [f"dfl-{i}" for i in range(250)]
    page = _Meter(items_of({"bjb-ours": many}))

    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    mock.get(JOBS).mock(
        return_value=listing(job("bjb-ours", now, directory_id=None, total_items=250))
    )
    items = mock.get(url__regex=r".*/bjb-ours/items").mock(side_effect=page)
    async with AsyncBatchClient(
        API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.async_sleep
    ) as c:
        assert (await c.create_job({"item_ids": many, "job_config": {}})).id == "bjb-ours"
    assert items.call_count == 3 and page.most == 1


def test_a_job_created_at_the_edge_of_the_clock_skew_window_is_adopted(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # No Date header: the window starts clock_skew before our first send, inclusive.
    edge = fake_time.utcnow() - timedelta(seconds=RetryPolicy().clock_skew)
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-edge", edge)))
    assert client.create_job(DIRECTORY_JOB).id == "bjb-edge"
    assert create.call_count == 1


def test_an_item_job_listed_with_no_items_counted_yet_is_checked_by_its_items(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    # Just after a create the listing may still show total_items=0; its items decide.
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    mock.get(JOBS).mock(
        return_value=listing(job("bjb-ours", fake_time.utcnow(), directory_id=None, total_items=0))
    )
    mock.get(url__regex=r".*/bjb-ours/items").mock(
        side_effect=items_of({"bjb-ours": ["dfl-1", "dfl-2", "dfl-3"]})
    )
    assert client.create_job(ITEMS_JOB).id == "bjb-ours"
    assert create.call_count == 1


def test_timestamps_with_another_zone_are_compared_as_instants(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    west, east = timezone(timedelta(hours=-5)), timezone(timedelta(hours=5))
    ours = job("bjb-ours", now)
    ours["created_at"] = now.astimezone(west).isoformat()  # our send, written in UTC-5
    old = job("bjb-old", now)
    old["created_at"] = (now - timedelta(hours=2)).astimezone(east).isoformat()  # 2 h ago, UTC+5
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(500)])
    mock.get(JOBS).mock(return_value=listing(old, ours))
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"
    assert create.call_count == 1


def test_an_adoption_warning_names_the_create(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="prefect_llamabatch")
    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    client.create_job(DIRECTORY_JOB)
    adopted = [r.getMessage() for r in caplog.records if "adopting" in r.getMessage()]
    assert len(adopted) == 1 and adopted[0].startswith(f"POST {JOBS}:")
