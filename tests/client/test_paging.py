"""Pagination rules: offset paging by total_size (bounded, concurrent, ordered) and cursors.

The rules under test (``client.paging``): the first page fixes the step,
``min(page_size, len(first page))``; with ``total_size`` the remaining offsets are fetched
``concurrency`` at a time; without it, pages are fetched until an empty page (a short page may be
a server cap, not the end); nothing is yielded twice; a page of only known entries or a cursor
that cycles raises ``ListingError`` instead of a short or duplicated result.
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
from prefect_llamabatch.client.paging import MAX_EMPTY_PAGES, ListingError, _Seen
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


def test_total_size_larger_than_the_items_is_refused_at_the_empty_page(
    client: BatchClient,
) -> None:
    server = ItemsServer(25, total_size=10_000)
    with pytest.raises(ListingError, match="ended after 25 entries"):
        iterate(client, server, page_size=10, concurrency=2)
    # Pages 0, 10, 20 have items; the window with offset 30 is empty: stop, not 1000 requests.
    assert len(server.requests) <= 5
    assert max(offset for offset, _ in server.requests) <= 40


def test_total_size_smaller_than_the_items_trusts_total_size(client: BatchClient) -> None:
    server = ItemsServer(50, total_size=20)
    assert iterate(client, server, page_size=10) == list(range(20))
    assert len(server.requests) == 2


def test_server_ignoring_offset_is_refused_not_truncated(client: BatchClient) -> None:
    server = ItemsServer(30, ignore_offset=True)
    with pytest.raises(ListingError, match="offset 10 holds only entries already listed"):
        iterate(client, server, page_size=10, concurrency=1)
    assert len(server.requests) == 2  # the second page repeats the first: no loop


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


def test_without_total_size_a_short_page_is_not_the_end(client: BatchClient) -> None:
    server = ItemsServer(25, total_size=None)
    assert iterate(client, server, page_size=10) == list(range(25))
    # The short page (20-24) could be a cap; only the empty page at 25 ends the listing.
    assert server.requests == [(0, 10), (10, 10), (20, 10), (25, 10)]


@pytest.mark.parametrize("count", [95, 100, 101])
def test_capped_pages_without_total_size_lose_nothing(client: BatchClient, count: int) -> None:
    # The issue-10 loss: a server capping limit at 40 and omitting total_size.
    server = ItemsServer(count, total_size=None, max_limit=40)
    assert iterate(client, server, page_size=100) == list(range(count))
    assert len(server.requests) == math.ceil(count / 40) + 1  # + the empty page


def test_without_total_size_exact_multiple_ends_at_an_empty_page(client: BatchClient) -> None:
    server = ItemsServer(20, total_size=None)
    assert iterate(client, server, page_size=10) == list(range(20))
    assert server.requests == [(0, 10), (10, 10), (20, 10)]


def test_without_total_size_a_repeating_server_is_refused(client: BatchClient) -> None:
    server = ItemsServer(50, total_size=None, ignore_offset=True)
    with pytest.raises(ListingError):
        iterate(client, server, page_size=10)
    assert len(server.requests) == 2


def test_a_short_page_within_total_size_leaves_no_gap(client: BatchClient) -> None:
    # The page at offset 10 comes back short (a varying cap): 15-19 are fetched, not skipped.
    server = ItemsServer(40)

    def uneven(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == "10":
            page = server.page(request)
            page["items"] = page["items"][:5]
            return httpx.Response(200, json=page)
        return server(request)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=uneven)
        got = ids(client.iter_items("bjb-1", page_size=10, concurrency=3))
    assert got == list(range(40))


def test_a_page_repeated_non_adjacently_is_refused(client: BatchClient) -> None:
    server = ItemsServer(50)

    def repeat(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("offset") == "20":  # serves the first page again
            return server(httpx.Request("GET", f"{BASE_URL}{ITEMS}?offset=0&limit=10"))
        return server(request)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=repeat)
        seen: list[int] = []
        with pytest.raises(ListingError):
            for item in client.iter_items("bjb-1", page_size=10, concurrency=1):
                seen.append(int(item.item_id.removeprefix("dfl-")))
    assert seen == list(range(20))  # no duplicate was yielded before the refusal


def test_entries_shifted_by_an_insert_are_yielded_once(client: BatchClient) -> None:
    # Newest first: a new item arriving after page one shifts everything by one.
    def shifting(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        names = list(range(30)) if offset == 0 else [-1, *range(30)]
        items = [
            {"item_id": f"dfl-{i}", "item_name": f"f{i}", "status": "completed"}
            for i in names[offset : offset + limit]
        ]
        return httpx.Response(200, json={"items": items})

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=shifting)
        assert ids(client.iter_items("bjb-1", page_size=10)) == list(range(30))


def test_seen_keys_use_bounded_memory_and_roll() -> None:
    seen = _Seen(limit=3)
    assert all(seen.add(k) for k in "abc")
    assert not seen.add("a")
    assert seen.add("d")  # "a" rolls off: the window holds b, c, d
    assert seen.add("a") and not seen.add("d")


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


def test_cursor_repeating_the_token_is_refused(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(FILES).mock(
            side_effect=[file_page(["a"], "t1"), file_page(["b"], "t1"), file_page(["c"], None)]
        )
        names: list[str | None] = []
        with pytest.raises(ListingError, match="cursor cycles"):
            names.extend(f.display_name for f in client.iter_directory_files("dir-1"))
    assert names == ["a", "b"] and route.call_count == 2


def test_cursor_cycling_a_b_a_is_refused_and_terminates(client: BatchClient) -> None:
    pages = {None: (["a"], "A"), "A": (["b"], "B"), "B": (["c"], "A")}
    calls = 0

    def cycling(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        names, token = pages[request.url.params.get("page_token")]  # type: ignore[index]
        return file_page(names, token)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=cycling)
        with pytest.raises(ListingError, match="cursor cycles"):
            list(client.iter_directory_files("dir-1"))
    assert calls == 3


def test_cursor_page_of_known_entries_is_refused(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=[file_page(["a", "b"], "t1"), file_page(["a", "b"], "t2")])
        with pytest.raises(ListingError, match="already listed"):
            list(client.iter_directory_files("dir-1"))


def test_cursor_empty_page_with_a_token_is_not_the_end(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(FILES).mock(
            side_effect=[file_page(["a"], "t1"), file_page([], "t2"), file_page(["c"], None)]
        )
        names = [f.display_name for f in client.iter_directory_files("dir-1")]
    assert names == ["a", "c"] and route.call_count == 3


def test_cursor_endless_empty_pages_are_refused(client: BatchClient) -> None:
    calls = 0

    def empty(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return file_page([], f"t{calls}")

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=empty)
        with pytest.raises(ListingError, match="empty pages in a row"):
            list(client.iter_directory_files("dir-1"))
    assert calls == MAX_EMPTY_PAGES


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


# ---- every listing against the strict emulator, in both orders, capped, without total_size ----

HOSTILE = [
    pytest.param(
        None,
        marks=pytest.mark.llamacloud_emulator(
            list_order=order, max_page_size=cap, include_total_size=total
        ),
        id=f"{order}-cap{cap}-{'total' if total else 'no_total'}",
    )
    for order in ("oldest_first", "newest_first")
    for cap, total in ((None, True), (7, False), (7, True))
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_every_listing_is_complete_and_unique_on_the_strict_emulator(
    llamacloud_emulator: Any, hostile: None
) -> None:
    emu = llamacloud_emulator
    emu.admin.freeze()
    names = {f"f{i:02d}.txt": "x" for i in range(23)}
    docs = emu.admin.seed_directory(names, name="docs")
    for n in range(4):
        emu.admin.seed_directory({"a.txt": "a"}, name=f"other-{n}")
    with BatchClient(emu.api_key, base_url=emu.base_url) as c:
        jobs = [c.create_job({"directory_id": docs.id, "job_config": {}}).id for _ in range(12)]
        listed_jobs = [j.id for j in c.iter_jobs(page_size=5)]
        items = [i.item_name for i in c.iter_items(jobs[0], page_size=10)]
        files = [f.display_name for f in c.iter_directory_files(docs.id, page_size=10)]
        dirs = [d.name for d in c.iter_directories(page_size=2)]
    assert sorted(listed_jobs) == sorted(jobs) and len(listed_jobs) == 12
    assert sorted(items) == sorted(names) and len(items) == 23
    assert sorted(files) == sorted(names) and len(files) == 23  # type: ignore[type-var]
    assert sorted(dirs) == ["docs", *(f"other-{n}" for n in range(4))]


def test_a_listing_that_shrank_ends_where_its_empty_page_says(client: BatchClient) -> None:
    # The empty page announces a total it has reached: entries went away, no contradiction.
    def shrinking(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        if offset == 0:
            items = [
                {"item_id": f"dfl-{i}", "item_name": "x", "status": "failed"} for i in range(10)
            ]
            return httpx.Response(200, json={"items": items, "total_size": 30})
        return httpx.Response(200, json={"items": [], "total_size": 10})

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=shrinking)
        assert ids(client.iter_items("bjb-1", page_size=10, concurrency=1)) == list(range(10))
