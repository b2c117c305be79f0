"""Offset and cursor pagination rules, as ops emitting items in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from prefect_llamabatch._ops import Emit, Gather, Op
from prefect_llamabatch._requests import Request

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


class _Page(Generic[T]):
    """One fetched page: its items and the id tuple used to spot a page served twice."""

    __slots__ = ("items", "key")

    def __init__(self, items: Sequence[T], key: tuple[str, ...]) -> None:
        self.items = items
        self.key = key


def offset_pages(
    call_model: Callable[[Request, type[P]], Op[P]],
    make_request: Callable[[int, int], Request],
    model: type[P],
    page_size: int,
    concurrency: int,
    key: Callable[[Any], str],
) -> Op[None]:
    """Offset pagination by ``total_size``, emitting items in order.

    ``call_model`` fetches one page with the client's retries (``ClientCore.call_model``).

    Rules (they bound the number of requests even when the server misbehaves):

    * The first page (``offset=0, limit=page_size``) fixes the plan. Its ``total_size`` is a
      snapshot: items added later are not fetched.
    * The step is ``min(page_size, len(first page))`` (the server may cap ``limit``); with a
      known ``total_size`` the remaining pages are the offsets ``step, 2·step, …`` below
      ``total_size`` — so at most ``ceil(total_size / step)`` requests — fetched ``concurrency``
      at a time and emitted in order.
    * Without ``total_size``, pages are fetched one after another while they are full.
    * Stop at the first empty page, or a page whose items are those of the previous page (a
      server ignoring ``offset``). Items beyond ``limit`` on a page are dropped (they belong
      to the next page).
    """

    def fetch(offset: int, limit: int) -> Op[_Page[Any]]:
        request = make_request(offset, limit)
        page = yield from call_model(request, model)
        items = list(getattr(page, "items"))[:limit]  # noqa: B009
        return _Page(items, tuple(key(item) for item in items))

    first = yield from call_model(make_request(0, page_size), model)
    items = list(getattr(first, "items"))[:page_size]  # noqa: B009
    if not items:
        return
    yield Emit(items)
    previous = tuple(key(item) for item in items)
    step = len(items)
    total = getattr(first, "total_size", None)
    if total is None:
        offset = step
        while step == page_size:
            page = yield from fetch(offset, page_size)
            if not page.items or page.key == previous:
                return
            yield Emit(page.items)
            previous, step = page.key, len(page.items)
            offset += step
        return
    offsets = range(step, total, step)
    for start in range(0, len(offsets), concurrency):
        window = offsets[start : start + concurrency]
        ops = [fetch(offset, step) for offset in window]
        pages: list[_Page[Any]]
        if len(ops) == 1:
            pages = [(yield from ops[0])]
        else:
            pages = yield Gather(ops, limit=concurrency)
        for page in pages:
            if not page.items or page.key == previous:
                return
            yield Emit(page.items)
            previous = page.key


def cursor_pages(
    call_model: Callable[[Request, type[P]], Op[P]],
    make_request: Callable[[str | None], Request],
    model: type[P],
) -> Op[None]:
    """Cursor pagination by ``next_page_token``, emitting items in order.

    Stops when the token is missing or empty, when the server hands back the token just
    used (it would loop forever), or at an empty page.
    """
    token: str | None = None
    while True:
        page = yield from call_model(make_request(token), model)
        items = list(getattr(page, "items"))  # noqa: B009
        if not items:
            return
        yield Emit(items)
        next_token = getattr(page, "next_page_token", None)
        if not next_token or next_token == token:
            return
        token = next_token
