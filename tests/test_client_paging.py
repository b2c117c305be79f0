"""Pagination rules: offset paging by total_size (bounded, concurrent, ordered) and cursors.

The rules under test (``ClientCore.offset_pages``): the first page fixes the plan; the step is
``min(page_size, len(first page))``; with ``total_size`` the remaining offsets are fetched
``concurrency`` at a time; without it, pages are fetched while full; iteration stops at the first
empty page or a page repeating the previous one.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from prefect_llamabatch import AsyncBatchClient, BatchClient
from tests.conftest import API_KEY, BASE_URL

ITEMS = "/api/v1/beta/batch-processing/bjb-1/items"
JOBS = "/api/v1/beta/batch-processing"
FILES = "/api/v1/beta/directories/dir-1/files"


class ItemsServer:
    """Serves ``count`` items with offset paging, misbehaving on request."""

    def __init__(
        self,
        count: int,
        *,
        total_size: int | str | None = "count",
        max_limit: int | None = None,
        ignore_offset: bool = False,
        ignore_limit: bool = False,
    ) -> None:
        self.count = count
        self.total_size = count if total_size == "count" else total_size
        self.max_limit = max_limit
        self.ignore_offset = ignore_offset
        self.ignore_limit = ignore_limit
        self.requests: list[tuple[int, int]] = []

    def page(self, request: httpx.Request) -> dict[str, Any]:
        offset = int(request.url.params.get("offset", 0))
        limit = int(request.url.params.get("limit", 100))
        self.requests.append((offset, limit))
        if self.max_limit is not None:
            limit = min(limit, self.max_limit)
        if self.ignore_offset:
            offset = 0
        end = self.count if self.ignore_limit else min(offset + limit, self.count)
        items = [
            {"item_id": f"dfl-{i}", "item_name": f"f{i}.txt", "status": "completed"}
            for i in range(offset, end)
        ]
        return {"items": items, "total_size": self.total_size}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.page(request))


@pytest.fixture
def client() -> Iterator[BatchClient]:
    with BatchClient(API_KEY, base_url=BASE_URL, max_concurrency=4) as c:
        yield c


def ids(items: Any) -> list[int]:
    return [int(item.item_id.removeprefix("dfl-")) for item in items]


def iterate(client: BatchClient, server: ItemsServer, **kwargs: Any) -> list[int]:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=server)
        return ids(client.iter_items("bjb-1", **kwargs))


@pytest.mark.parametrize(("count", "page_size"), [(0, 10), (1, 10), (10, 10), (250, 100), (7, 3)])
def test_all_items_in_order_with_the_fewest_requests(
    client: BatchClient, count: int, page_size: int
) -> None:
    server = ItemsServer(count)
    assert iterate(client, server, page_size=page_size) == list(range(count))
    expected = [(o, page_size) for o in range(0, max(count, 1), page_size)]
    assert sorted(server.requests) == expected
    assert len(server.requests) == max(1, math.ceil(count / page_size))


def test_status_filter_is_sent_on_every_page(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(ITEMS).mock(side_effect=ItemsServer(5))
        list(client.iter_items("bjb-1", status="failed", page_size=2))
    assert route.call_count == 3
    assert all(call.request.url.params["status"] == "failed" for call in route.calls)


def test_server_capping_the_limit_sets_the_step(client: BatchClient) -> None:
    server = ItemsServer(100, max_limit=40)
    assert iterate(client, server, page_size=100) == list(range(100))
    assert sorted(server.requests) == [(0, 100), (40, 40), (80, 40)]


def test_total_size_larger_than_the_items_stops_at_the_empty_page(client: BatchClient) -> None:
    server = ItemsServer(25, total_size=10_000)
    assert iterate(client, server, page_size=10, concurrency=2) == list(range(25))
    # Pages 0, 10, 20 have items; the window with offset 30 is empty: stop, not 1000 requests.
    assert len(server.requests) <= 5
    assert max(offset for offset, _ in server.requests) <= 40


def test_total_size_smaller_than_the_items_trusts_total_size(client: BatchClient) -> None:
    server = ItemsServer(50, total_size=20)
    assert iterate(client, server, page_size=10) == list(range(20))
    assert len(server.requests) == 2


def test_server_ignoring_offset_does_not_loop(client: BatchClient) -> None:
    server = ItemsServer(30, ignore_offset=True)
    assert iterate(client, server, page_size=10, concurrency=1) == list(range(10))
    assert len(server.requests) == 2  # the second page repeats the first: stop


def test_server_ignoring_limit_gives_no_duplicates(client: BatchClient) -> None:
    server = ItemsServer(30, ignore_limit=True)
    # The first page holds all 30 (more than asked): extra items are dropped, pages continue.
    assert iterate(client, server, page_size=10) == list(range(30))
    assert len(server.requests) == 3


def test_never_more_requests_than_the_plan(client: BatchClient) -> None:
    # Whatever the server does, requests <= ceil(total_size / step).
    for server in (
        ItemsServer(1000, total_size=95),
        ItemsServer(95, total_size=95, max_limit=7),
    ):
        iterate(client, server, page_size=10)
        step = min(10, server.max_limit or 10)
        assert len(server.requests) <= math.ceil(95 / step)


def test_without_total_size_pages_run_until_a_short_page(client: BatchClient) -> None:
    server = ItemsServer(25, total_size=None)
    assert iterate(client, server, page_size=10) == list(range(25))
    assert server.requests == [(0, 10), (10, 10), (20, 10)]


def test_without_total_size_exact_multiple_ends_at_an_empty_page(client: BatchClient) -> None:
    server = ItemsServer(20, total_size=None)
    assert iterate(client, server, page_size=10) == list(range(20))
    assert server.requests == [(0, 10), (10, 10), (20, 10)]


def test_without_total_size_a_repeating_server_does_not_loop(client: BatchClient) -> None:
    server = ItemsServer(50, total_size=None, ignore_offset=True)
    assert iterate(client, server, page_size=10) == list(range(10))
    assert len(server.requests) == 2


def test_iteration_is_lazy(client: BatchClient) -> None:
    server = ItemsServer(1000)
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=server)
        iterator = client.iter_items("bjb-1", page_size=100, concurrency=2)
        assert server.requests == []
        first = next(iterator)
        assert first.item_id == "dfl-0" and len(server.requests) == 1
        for _ in range(100):
            next(iterator)
        # The second page was needed: one window of two pages, not all ten pages.
        assert len(server.requests) == 3
        iterator.close()  # type: ignore[attr-defined]


def test_a_failing_page_raises_after_its_retries(client: BatchClient) -> None:
    server = ItemsServer(30)

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == "20":
            return httpx.Response(404, json={"detail": "job vanished"})
        return server(request)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=flaky)
        seen: list[int] = []
        with pytest.raises(Exception, match="job vanished"):
            for item in client.iter_items("bjb-1", page_size=10):
                seen.append(int(item.item_id.removeprefix("dfl-")))
    assert seen == list(range(10))  # page 10-19 came in the same window as the failing one


def test_sync_pages_are_fetched_concurrently_in_threads(client: BatchClient) -> None:
    server = ItemsServer(40)
    # Pages after the first must be in flight together: each waits for the other at the barrier
    # (a sequential fetch would break it and fail the test).
    barrier = threading.Barrier(3, timeout=10)

    def concurrent(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") != "0":
            barrier.wait()
        return server(request)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=concurrent)
        assert ids(client.iter_items("bjb-1", page_size=10, concurrency=3)) == list(range(40))


def test_sync_concurrency_above_max_concurrency_is_honoured() -> None:
    server = ItemsServer(50)
    barrier = threading.Barrier(4, timeout=10)

    def concurrent(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") != "0":
            barrier.wait()
        return server(request)

    with (
        respx.mock(base_url=BASE_URL) as mock,
        BatchClient(API_KEY, base_url=BASE_URL, max_concurrency=1) as c,
    ):
        mock.get(ITEMS).mock(side_effect=concurrent)
        assert ids(c.iter_items("bjb-1", page_size=10, concurrency=4)) == list(range(50))


async def test_async_pages_are_fetched_concurrently_with_a_bound() -> None:
    server = ItemsServer(100)
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    async def concurrent(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            release.set()
        if request.url.params.get("offset") != "0":
            await asyncio.wait_for(release.wait(), timeout=10)
        await asyncio.sleep(0)
        in_flight -= 1
        return server(request)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=concurrent)
        async with AsyncBatchClient(API_KEY, base_url=BASE_URL) as c:
            got = [
                item.item_id async for item in c.iter_items("bjb-1", page_size=10, concurrency=3)
            ]
    assert got == [f"dfl-{i}" for i in range(100)]
    assert peak == 3  # concurrent, and never more than the bound


async def test_async_iter_jobs_uses_the_same_paging() -> None:
    def jobs(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        items = [
            {
                "id": f"bjb-{i}",
                "job_type": "parse",
                "project_id": "p",
                "status": "completed",
                "total_items": 1,
            }
            for i in range(offset, min(offset + limit, 5))
        ]
        return httpx.Response(200, json={"items": items, "total_size": 5})

    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(JOBS).mock(side_effect=jobs)
        async with AsyncBatchClient(API_KEY, base_url=BASE_URL) as c:
            got = [j.id async for j in c.iter_jobs(job_type="parse", page_size=2)]
    assert got == [f"bjb-{i}" for i in range(5)]
    assert route.call_count == 3
    assert all(call.request.url.params["job_type"] == "parse" for call in route.calls)


# ---- cursor pagination ---------------------------------------------------------------------


def file_page(names: list[str], token: str | None) -> httpx.Response:
    items = [
        {
            "id": f"dfl-{n}",
            "directory_id": "dir-1",
            "display_name": n,
            "project_id": "p",
            "unique_id": n,
        }
        for n in names
    ]
    return httpx.Response(200, json={"items": items, "next_page_token": token})


def test_cursor_pages_follow_the_token(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(FILES).mock(
            side_effect=[file_page(["a", "b"], "t1"), file_page(["c"], "t2"), file_page(["d"], "")]
        )
        names = [f.display_name for f in client.iter_directory_files("dir-1", page_size=2)]
    assert names == ["a", "b", "c", "d"]
    tokens = [call.request.url.params.get("page_token") for call in route.calls]
    assert tokens == [None, "t1", "t2"]
    assert all(call.request.url.params["page_size"] == "2" for call in route.calls)


def test_cursor_stops_when_the_server_repeats_the_token(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(FILES).mock(
            side_effect=[file_page(["a"], "t1"), file_page(["b"], "t1"), file_page(["c"], None)]
        )
        names = [f.display_name for f in client.iter_directory_files("dir-1")]
    assert names == ["a", "b"] and route.call_count == 2


def test_cursor_stops_at_an_empty_page(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(FILES).mock(
            side_effect=[file_page(["a"], "t1"), file_page([], "t2"), file_page(["c"], None)]
        )
        names = [f.display_name for f in client.iter_directory_files("dir-1")]
    assert names == ["a"] and route.call_count == 2


def test_iter_directories_pages_with_cursor(client: BatchClient) -> None:
    def page(names: list[str], token: str | None) -> httpx.Response:
        items = [{"id": n, "name": n, "project_id": "p"} for n in names]
        return httpx.Response(200, json={"items": items, "next_page_token": token})

    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get("/api/v1/beta/directories").mock(
            side_effect=[page(["d1"], "x"), page(["d2"], None)]
        )
        got = [d.id for d in client.iter_directories(types=["ephemeral"], page_size=1)]
    assert got == ["d1", "d2"]
    assert route.calls[1].request.url.params.get_list("types") == ["ephemeral"]
