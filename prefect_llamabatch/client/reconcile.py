"""Creates that must not duplicate their object: blind retries only when unsent, else look first.

LlamaCloud documents no idempotency key, so after a create failed in a way that leaves open
whether the server acted on it, the next attempt first looks for what it may have created and
adopts it only when the listing *proves* it is ours (see ``docs/reliability.md``):

* **Found wherever it is.** Every page of the matching jobs is read with the trusted paging of
  :mod:`prefect_llamabatch.client.paging` (no page bound, any list order).
* **Created after we sent, by the server's clock.** The window starts at the server's time
  (its ``Date`` header) minus the time elapsed since the first send, minus a small margin —
  so a client clock ahead of or behind the server changes nothing; timestamps without a zone
  are read as UTC. Without a ``Date`` header, the client's clock minus ``clock_skew`` is used.
* **The same request.** Same job type; same directory for a directory job; for an item job,
  no directory and *exactly* the items sent (the candidate's items are fetched and compared).
* **Exactly one.** Two or more jobs that all match cannot be told apart (LlamaCloud's listing
  shows no job config): :class:`CreateOwnershipError` names them instead of guessing or
  re-sending (which could add a third).
* **A busy listing is read again.** Other callers creating jobs while the listing is read grow
  it at its front (newest first): a whole page can shift into the one already read, and paging
  refuses such a listing (:class:`~prefect_llamabatch.client.paging.ListingError`). Here that is
  a race, not a fault: the listing is read again from its start with its own retry budget, so
  a busy directory does not use up the create's. A listing that keeps contradicting itself
  still fails the reconciliation, and nothing is re-sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel

from prefect_llamabatch.client.config import BATCH_PATH, DIRECTORIES_PATH
from prefect_llamabatch.client.effects import Emit, Op
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.client.paging import ListingError, offset_pages
from prefect_llamabatch.client.request import Request, path_segment
from prefect_llamabatch.client.response import parse_model
from prefect_llamabatch.client.retries import RetryLoop
from prefect_llamabatch.models import (
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    DirectoryFile,
    DirectoryFileList,
    JobItem,
    JobItemList,
)

if TYPE_CHECKING:
    from prefect_llamabatch.client.core import ClientCore

__all__ = [
    "SERVER_CLOCK_MARGIN",
    "CreateOwnershipError",
    "Sent",
    "collect",
    "create",
    "file_finder",
    "find_created_job",
    "read_listing",
]

logger = logging.getLogger("prefect_llamabatch.client")
T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)

SERVER_CLOCK_MARGIN = 10.0
"""Seconds allowed between the server's ``Date`` header (1 s resolution) and its job timestamps."""


class CreateOwnershipError(LlamaCloudError):
    """A create failed ambiguously and its result cannot be told apart from other jobs.

    Raised instead of adopting a job that may be another caller's, or re-sending a create that
    may already have succeeded. Check the candidates (and cancel the extra one) by hand.

    Attributes:
        candidates: Ids of the jobs that all match the request that was sent.

    Example:
        ```python
        from prefect_llamabatch.client.reconcile import CreateOwnershipError

        exc = CreateOwnershipError("POST /api/v1/beta/batch-processing", ["bjb-1", "bjb-2"])
        assert exc.candidates == ["bjb-1", "bjb-2"] and "bjb-2" in str(exc)
        ```
    """

    def __init__(self, what: str, candidates: Sequence[str]) -> None:
        self.what = what
        self.candidates = list(candidates)
        super().__init__(
            f"{what} failed without an answer and {len(self.candidates)} jobs match what it "
            f"sent ({', '.join(self.candidates)}); ownership cannot be proved, so none is "
            "adopted and the create is not re-sent. Check them and cancel any extra one."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.what, self.candidates))


@dataclass(frozen=True)
class Sent:
    """When a create was first sent: the client's wall clock and its monotonic clock."""

    wall: datetime
    monotonic: float


def _utc(value: datetime) -> datetime:
    # A timestamp without a zone is read as UTC (what the API's examples carry).
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _enum_value(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _server_date(response: httpx.Response) -> datetime | None:
    raw = response.headers.get("date")
    if not raw:
        return None
    try:
        return _utc(parsedate_to_datetime(raw))
    except (TypeError, ValueError, IndexError):
        return None


def collect(op: Op[None]) -> Op[list[Any]]:
    """Run an iterator op inside another op, keeping what it emits instead of handing it on."""
    values: list[Any] = []
    reply: Any = None
    while True:
        try:
            instruction = op.send(reply)
        except StopIteration:
            return values
        if isinstance(instruction, Emit):
            values.extend(instruction.values)
            reply = None
        else:
            reply = yield instruction


def _contradicted(exc: BaseException) -> bool:
    return isinstance(exc, ListingError)


def read_listing(core: ClientCore, listing: Callable[[], Op[None]]) -> Op[list[Any]]:
    """Every entry of ``listing()``, read again from its start while it contradicts itself.

    Retried under the policy's budget and backoff, on :class:`ListingError` only (a page that
    fails is retried in place by its own call; an error that outlasts those retries ends this).
    """
    return core.retrying(lambda _loop: collect(listing()), retry_on=_contradicted)


def create(
    core: ClientCore,
    request: Request,
    parse: Callable[[httpx.Response], T],
    find_existing: Callable[[Sent], Op[T | None]] | None,
) -> Op[T]:
    """A non-idempotent create that must not duplicate its object.

    Retried blindly only when the request provably did not reach the server. After an
    ambiguous failure, the next attempt first runs ``find_existing(sent)``, which returns the
    object when it is provably ours, ``None`` when nothing is (then the create is re-sent), or
    raises :class:`CreateOwnershipError` when it cannot tell.
    """
    pending = False
    sent: Sent | None = None

    def reconcile() -> Op[T | None]:
        nonlocal pending
        assert find_existing is not None and sent is not None
        core.counters.add("reconciliations")
        try:
            found = yield from find_existing(sent)
        except CreateOwnershipError:
            pending = False
            raise
        pending = False
        if found is not None:
            core.counters.add("adopted")
            logger.warning(
                "%s %s: the failed create had reached the server; adopting what it created",
                request.method,
                request.path,
            )
        return found

    def attempt(_loop: RetryLoop[T]) -> Op[T]:
        nonlocal pending, sent
        if pending:
            found = yield from reconcile()
            if found is not None:
                return found
        if sent is None:
            sent = Sent(core.policy.utcnow(), core.policy.clock())
        try:
            return (yield from core.attempt(request, parse))
        except LlamaCloudError as exc:
            if find_existing is not None and core.policy.reached_server(exc):
                pending = core.policy.is_retryable(exc)
            raise

    def give_up() -> Op[T | None]:
        if not pending:
            return None
        try:
            return (yield from reconcile())
        except CreateOwnershipError:
            raise
        except LlamaCloudError:
            return None

    return core.retrying(attempt, on_give_up=give_up)


def find_created_job(
    core: ClientCore, job: BatchJobCreate, tenant: Mapping[str, str | None], sent: Sent
) -> Op[BatchJob | None]:
    """The job this create made, if the listing proves it; ``None`` if there is none.

    Raises:
        CreateOwnershipError: more than one job matches the request exactly.
    """
    job_type = job.job_type.value
    wanted_items = None if job.item_ids is None else frozenset(job.item_ids)
    dates: list[tuple[datetime, float]] = []

    def call_model(request: Request, model: type[P]) -> Op[P]:
        def parse(response: httpx.Response) -> P:
            date = _server_date(response)
            if date is not None:
                dates.append((date, core.policy.clock()))
            return parse_model(request, response, model)

        # Each page has its own retries: a long reconciliation (many pages, candidates' items)
        # must not use up the create's retry budget. A page that still fails fails this
        # reconciliation; the create's retry loop runs it again before anything is re-sent.
        return core.call(request, parse)

    def jobs_page(offset: int, limit: int) -> Request:
        params = {
            "directory_id": job.directory_id,
            "job_type": job_type,
            "limit": limit,
            "offset": offset,
        }
        return core.request("GET", BATCH_PATH, tenant=tenant, params=params)

    listed: list[BatchJob] = yield from read_listing(
        core,
        lambda: offset_pages(
            call_model,
            jobs_page,
            BatchJobList,
            core.policy.reconcile_page_size,
            1,  # no Gather: a failing page must stay inside the create's retry loop
            lambda candidate: candidate.id,
        ),
    )
    if dates:
        server_now, seen_at = dates[0]
        since = server_now - timedelta(seconds=seen_at - sent.monotonic + SERVER_CLOCK_MARGIN)
    else:
        since = _utc(sent.wall) - timedelta(seconds=core.policy.clock_skew)

    def same_request(candidate: BatchJob) -> bool:
        if _enum_value(candidate.job_type) != job_type:
            return False
        if candidate.created_at is None or _utc(candidate.created_at) < since:
            return False
        if job.directory_id is not None:
            return candidate.directory_id == job.directory_id
        assert wanted_items is not None
        return candidate.directory_id is None and candidate.total_items in (0, len(wanted_items))

    matches: list[BatchJob] = []
    for candidate in filter(same_request, listed):
        if wanted_items is not None:
            try:
                segment = path_segment("job_id", candidate.id)
            except ValueError:
                continue  # an id no request can name is not one the API gave us for our job
            # partial, not a lambda: each listing is bound to its own candidate's pages.
            items: list[JobItem] = yield from read_listing(
                core,
                partial(
                    offset_pages,
                    call_model,
                    _items_page(core, segment, tenant),
                    JobItemList,
                    core.policy.reconcile_page_size,
                    1,
                    _item_key,
                ),
            )
            if frozenset(item.item_id for item in items) != wanted_items:
                continue
        matches.append(candidate)
    if len(matches) > 1:
        raise CreateOwnershipError(f"POST {BATCH_PATH}", [candidate.id for candidate in matches])
    if not matches:
        logger.warning(
            "Create reconciliation found no job matching the failed create; re-sending it"
        )
        return None
    return matches[0]


def _item_key(item: JobItem) -> str:
    return item.item_id


def _items_page(
    core: ClientCore, segment: str, tenant: Mapping[str, str | None]
) -> Callable[[int, int], Request]:
    def page(offset: int, limit: int) -> Request:
        return core.request(
            "GET",
            f"{BATCH_PATH}/{segment}/items",
            tenant=tenant,
            params={"limit": limit, "offset": offset},
        )

    return page


def file_finder(
    core: ClientCore,
    segment: str,
    unique_id: str,
    tenant: Mapping[str, str | None],
    *,
    file_id: str | None = None,
) -> Callable[[Sent], Op[DirectoryFile | None]]:
    """Reconciliation of a file create: the directory's one file with this ``unique_id``.

    A file last written before the first send (minus the clock skew) is an older file that
    happens to share the key, not ours; with ``file_id`` (add_file) it must match too.
    """

    def could_be_ours(candidate: DirectoryFile, since: datetime) -> bool:
        if candidate.unique_id != unique_id:
            return False
        if file_id is not None and candidate.file_id not in (None, file_id):
            return False
        written = candidate.updated_at or candidate.created_at
        return written is None or _utc(written) >= since

    def find(sent: Sent) -> Op[DirectoryFile | None]:
        since = _utc(sent.wall) - timedelta(seconds=core.policy.clock_skew)
        request = core.request(
            "GET",
            f"{DIRECTORIES_PATH}/{segment}/files",
            tenant=tenant,
            params={"unique_id": unique_id},
        )
        page = yield from core.attempt(
            request, lambda r: parse_model(request, r, DirectoryFileList)
        )
        found = [f for f in page.items if could_be_ours(f, since)]
        return found[0] if len(found) == 1 else None

    return find
