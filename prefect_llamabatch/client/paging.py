"""Offset and cursor pagination that can be trusted, as ops emitting items in order.

Whatever the server does, a listing never stops early, never yields an entry twice and always
ends; when the pages contradict each other it raises :class:`ListingError` rather than return a
short or duplicated result. The rules, for every listing (jobs, items, directories, files):

* **The end is an empty page** (or, for offset listings, reaching the first page's
  ``total_size``; for cursor listings, no ``next_page_token``). A page shorter than ``limit``
  is *not* the end: LlamaCloud may cap a page below the ``limit`` asked for and omit
  ``total_size``. An empty page before the announced ``total_size`` is a contradiction (unless
  that page announces a total it has reached: the listing shrank).
* **Every entry once.** Keys already yielded are skipped (offset pages shift when entries are
  added while listing); a page that brings nothing new — a server ignoring ``offset``, a page
  served again later — is a contradiction.
* **Cursors never cycle.** A ``next_page_token`` seen before (A, B, A, …) is a contradiction;
  so is a long run of empty pages that keep handing out new tokens.
* **Bounded memory.** Seen keys and tokens are kept as 8-byte digests, exactly up to
  :data:`MAX_TRACKED` of each; beyond that the oldest are forgotten (a rolling window of the
  most recent :data:`MAX_TRACKED`), so a repeat is still caught within that window.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from prefect_llamabatch.client.effects import Emit, Gather, Op
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.client.request import Request

__all__ = ["MAX_EMPTY_PAGES", "MAX_TRACKED", "ListingError", "cursor_pages", "offset_pages"]

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)

MAX_TRACKED = 200_000
"""Keys (and tokens) remembered exactly per listing; older ones roll off beyond this (~15 MB)."""
MAX_EMPTY_PAGES = 50
"""Consecutive empty cursor pages with a fresh token after which the listing is refused."""


class ListingError(LlamaCloudError):
    """A listing contradicted itself: iterating it further would repeat or lose entries.

    Attributes:
        path: The listed path.

    Example:
        ```python
        from prefect_llamabatch.client.paging import ListingError

        exc = ListingError("/api/v1/beta/batch-processing", "the page at offset 100 repeats")
        assert "offset 100" in str(exc) and exc.path.endswith("batch-processing")
        ```
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"Listing of {path} is inconsistent: {reason}; refusing to return a short or "
            "duplicated result"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


class _Seen:
    """Digests of the keys seen so far: exact up to ``limit``, then the most recent ``limit``."""

    __slots__ = ("_digests", "_limit", "_order")

    def __init__(self, limit: int = MAX_TRACKED) -> None:
        self._digests: set[bytes] = set()
        self._order: deque[bytes] = deque()
        self._limit = limit

    def add(self, key: str) -> bool:
        """Remember ``key``; ``False`` if it was already there."""
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        if digest in self._digests:
            return False
        self._digests.add(digest)
        self._order.append(digest)
        if len(self._order) > self._limit:
            self._digests.discard(self._order.popleft())
        return True


def _items(page: BaseModel) -> list[Any]:
    return list(getattr(page, "items"))  # noqa: B009


def offset_pages(
    call_model: Callable[[Request, type[P]], Op[P]],
    make_request: Callable[[int, int], Request],
    model: type[P],
    page_size: int,
    concurrency: int,
    key: Callable[[Any], str],
) -> Op[None]:
    """Offset pagination, emitting every entry once, in order.

    ``call_model`` fetches one page with the client's retries (``ClientCore.call_model``).

    * The first page (``offset=0, limit=page_size``) sets the step, ``min(page_size, its
      length)`` (the server may cap ``limit``), and its ``total_size`` (a snapshot; entries
      added later are not fetched) bounds the listing: at most ``ceil(total_size / step)``
      requests when the server keeps to its step.
    * With ``total_size``, the next pages are fetched ``concurrency`` at a time
      (``offset, offset + step, …``); a page shorter than the step leaves a gap, which is
      fetched next instead of being skipped. Without it, pages are fetched one after another
      until an empty page.
    * Entries beyond ``limit`` on a page are dropped (they belong to the next page).

    Raises:
        ListingError: a page brought only entries already listed (the server ignores
            ``offset`` or serves a page again), or the entries ran out before the first page's
            ``total_size`` while the empty page did not report a smaller total.
    """
    seen = _Seen()
    fetched: dict[int, tuple[list[Any], int | None]] = {}
    position = 0
    step = page_size
    total: int | None = None
    path = make_request(0, page_size).path

    def fetch(offset: int, limit: int) -> Op[tuple[list[Any], int | None]]:
        page = yield from call_model(make_request(offset, limit), model)
        return _items(page)[:limit], getattr(page, "total_size", None)

    first = yield from fetch(0, page_size)
    items, total = first
    step = min(page_size, len(items)) or page_size
    fetched[0] = first
    while True:
        if position not in fetched:
            limit = step
            # A page already known to be empty further on bounds the gap left by a short page.
            ends = [
                offset for offset, (page, _) in fetched.items() if offset > position and not page
            ]
            if ends:
                window, limit = [position], min(step, min(ends) - position)
            elif total is None:
                window = [position]
            else:
                window = list(range(position, total, step))[:concurrency]
            ops = [fetch(offset, limit) for offset in window]
            pages: list[tuple[list[Any], int | None]]
            if len(ops) == 1:
                pages = [(yield from ops[0])]
            else:
                pages = yield Gather(ops, limit=concurrency)
            fetched.update(zip(window, pages, strict=True))
        items, now_total = fetched.pop(position)
        # Pages fetched for offsets we have passed (after a short page) are stale.
        fetched = {offset: page for offset, page in fetched.items() if offset > position}
        if not items:
            if total is not None and (now_total is None or now_total > position):
                raise ListingError(
                    path,
                    f"the listing ended after {position} entries, but its total_size says "
                    f"{total if now_total is None else now_total}",
                )
            return
        fresh = [item for item in items if seen.add(key(item))]
        if not fresh:
            raise ListingError(
                path,
                f"the page at offset {position} holds only entries already listed (the server "
                "ignores offset or serves a page twice)",
            )
        yield Emit(fresh)
        position += len(items)
        if total is not None and position >= total:
            return


def cursor_pages(
    call_model: Callable[[Request, type[P]], Op[P]],
    make_request: Callable[[str | None], Request],
    model: type[P],
    key: Callable[[Any], str],
) -> Op[None]:
    """Cursor pagination by ``next_page_token``, emitting every entry once, in order.

    The listing ends when a page has no ``next_page_token`` (missing or empty). An empty page
    with a token is not the end (the token is followed).

    Raises:
        ListingError: a token was handed out before (the cursor cycles), a page brought only
            entries already listed, or more than :data:`MAX_EMPTY_PAGES` empty pages came in a row.
    """
    seen = _Seen()
    tokens = _Seen()
    token: str | None = None
    empty_run = 0
    path = make_request(None).path
    while True:
        page = yield from call_model(make_request(token), model)
        items: Sequence[Any] = _items(page)
        if items:
            fresh = [item for item in items if seen.add(key(item))]
            if not fresh:
                raise ListingError(path, "a page holds only entries already listed")
            yield Emit(fresh)
            empty_run = 0
        else:
            empty_run += 1
        next_token = getattr(page, "next_page_token", None)
        if not next_token:
            return
        if not tokens.add(next_token):
            raise ListingError(path, "the cursor cycles (a next_page_token was handed out before)")
        if empty_run >= MAX_EMPTY_PAGES:
            raise ListingError(path, f"{empty_run} empty pages in a row, each with a new token")
        token = next_token
