"""Paging behaviours that mutation testing found unpinned (``docs/mutation.md``).

Each test states a guarantee of :mod:`prefect_llamabatch.client.paging` that a surviving mutant
broke without any other test noticing.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import httpx
import pytest
import respx

from prefect_llamabatch import BatchClient
from prefect_llamabatch.client.paging import MAX_EMPTY_PAGES, ListingError
from tests.client.test_paging import FILES, ITEMS, ItemsServer, file_page, iterate
from tests.conftest import API_KEY, BASE_URL


@pytest.fixture
def client() -> Iterator[BatchClient]:
    with BatchClient(API_KEY, base_url=BASE_URL, max_concurrency=4) as c:
        yield c


def test_a_listing_error_reads_the_same_after_pickling() -> None:
    # Prefect pickles task exceptions into results: the path and the reason must survive.
    exc = ListingError(FILES, "the cursor cycles")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is ListingError
    assert (back.path, back.reason) == (FILES, "the cursor cycles")
    assert str(back) == str(exc)


def test_a_cursor_page_of_known_entries_names_the_listing(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=[file_page(["a", "b"], "t1"), file_page(["a", "b"], "t2")])
        with pytest.raises(ListingError) as info:
            list(client.iter_directory_files("dir-1"))
    assert info.value.path == FILES and FILES in str(info.value)


def test_the_run_of_empty_cursor_pages_restarts_after_a_page_with_entries(
    client: BatchClient,
) -> None:
    # Entries, then one empty page (with a token) short of the limit, then the end.
    pages = [file_page(["a"], "t0")]
    pages += [file_page([], f"t{i}") for i in range(1, MAX_EMPTY_PAGES)]
    pages.append(file_page(["b"], None))
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get(FILES).mock(side_effect=pages)
        names = [f.display_name for f in client.iter_directory_files("dir-1")]
    assert names == ["a", "b"] and route.call_count == MAX_EMPTY_PAGES + 1


def test_a_cycling_cursor_names_the_listing(client: BatchClient) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=[file_page(["a"], "t1"), file_page(["b"], "t1")])
        with pytest.raises(ListingError, match="cursor cycles") as info:
            list(client.iter_directory_files("dir-1"))
    assert info.value.path == FILES


def test_endless_empty_cursor_pages_name_the_listing(client: BatchClient) -> None:
    pages = [file_page([], f"t{i}") for i in range(MAX_EMPTY_PAGES)]
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=pages)
        with pytest.raises(ListingError, match="empty pages in a row") as info:
            list(client.iter_directory_files("dir-1"))
    assert info.value.path == FILES


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        (ItemsServer(30, ignore_offset=True), "holds only entries already listed"),
        (ItemsServer(25, total_size=10_000), "ended after 25 entries"),
    ],
)
def test_an_offset_listing_error_names_the_listing(
    client: BatchClient, server: ItemsServer, reason: str
) -> None:
    # The error a user sees (and a retry of the flow logs) says which listing contradicted itself.
    with pytest.raises(ListingError, match=reason) as info:
        iterate(client, server, page_size=10, concurrency=1)
    assert info.value.path == ITEMS and ITEMS in str(info.value)


def test_an_empty_page_inside_the_total_is_refused_after_a_short_page(
    client: BatchClient,
) -> None:
    # Offset 10 comes back short, offset 20 empty although the total says 40: the gap 15-19 is
    # fetched alone (up to the empty page), so the contradiction is refused, not papered over by
    # a full page that runs past it.
    server = ItemsServer(40)
    served_empty: list[int] = []

    def uneven(request: httpx.Request) -> httpx.Response:
        page = server.page(request)
        offset = request.url.params.get("offset")
        if offset == "10":
            page["items"] = page["items"][:5]
        elif offset == "20" and not served_empty:
            served_empty.append(20)
            page["items"] = []
        return httpx.Response(200, json=page)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=uneven)
        with pytest.raises(ListingError, match="ended after 20 entries"):
            list(client.iter_items("bjb-1", page_size=10, concurrency=3))
    assert (15, 5) in server.requests


@pytest.mark.parametrize(("empty_total", "said"), [(None, 100), (50, 50)])
def test_a_listing_that_ends_early_reports_the_total_it_was_promised(
    client: BatchClient, empty_total: int | None, said: int
) -> None:
    # The first page promises 100; the empty page at 25 repeats a smaller total (still above 25)
    # or none: the error quotes the latest total the server gave.
    def pages(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        if offset == 0:
            return httpx.Response(200, json=ItemsServer(25, total_size=100).page(request))
        return httpx.Response(200, json={"items": [], "total_size": empty_total})

    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(ITEMS).mock(side_effect=pages)
        with pytest.raises(ListingError) as info:
            list(client.iter_items("bjb-1", page_size=25, concurrency=1))
    assert f"ended after 25 entries, but its total_size says {said}" in str(info.value)


def _refusal(path: str, reason: str) -> str:
    return f"Listing of {path} is inconsistent: {reason}; refusing to return a short or duplicated result"


@pytest.mark.parametrize(
    ("route", "pages", "reason"),
    [
        (
            ITEMS,
            None,
            "the page at offset 10 holds only entries already listed (the server ignores offset "
            "or serves a page twice)",
        ),
        (FILES, [["a", "b"], ["a", "b"]], "a page holds only entries already listed"),
        (
            FILES,
            [["a"], ["b"]],
            "the cursor cycles (a next_page_token was handed out before)",
        ),
    ],
)
def test_each_contradiction_reads_as_documented(
    client: BatchClient, route: str, pages: list[list[str]] | None, reason: str
) -> None:
    # What a user reads in the failed flow's log: the listing, what went wrong, and that nothing
    # short or duplicated was returned. The cursor cases hand out the same token twice.
    with respx.mock(base_url=BASE_URL) as mock:
        if pages is None:
            mock.get(route).mock(side_effect=ItemsServer(30, ignore_offset=True))
            listing: Iterator[object] = client.iter_items("bjb-1", page_size=10, concurrency=1)
        else:
            mock.get(route).mock(side_effect=[file_page(names, "t1") for names in pages])
            listing = client.iter_directory_files("dir-1")
        with pytest.raises(ListingError) as info:
            list(listing)
    assert str(info.value) == _refusal(route, reason)


def _raw_file_page(token: str | None) -> httpx.Response:
    # Written by hand: the JSON escape of a lone surrogate, which json.dumps would not produce.
    item = '{"id": "dfl-\\ud800", "directory_id": "dir-1", "display_name": "a", "project_id": "p", "unique_id": "a"}'
    next_token = "null" if token is None else f'"{token}"'
    return httpx.Response(
        200, content=f'{{"items": [{item}], "next_page_token": {next_token}}}'.encode()
    )


def test_an_id_holding_a_lone_surrogate_is_listed_once(client: BatchClient) -> None:
    # JSON may escape a lone surrogate ("\ud800"); Python decodes it into the str. Such an id is
    # remembered like any other: listed once, a repeat refused, never a UnicodeEncodeError.
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(return_value=_raw_file_page(None))
        assert [f.id for f in client.iter_directory_files("dir-1")] == ["dfl-\ud800"]
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get(FILES).mock(side_effect=[_raw_file_page("t1"), _raw_file_page("t2")])
        with pytest.raises(ListingError, match="only entries already listed"):
            list(client.iter_directory_files("dir-1"))
