"""Creating a v2 batch without ever starting a duplicate: what reconciliation looks for.

The v2 Batches API documents no idempotency key either, so a ``POST /api/v2/batches`` whose
answer was lost is never re-sent blindly: :func:`prefect_llamabatch.client.reconcile.create`
runs :func:`find_created_batch` first, which adopts a batch only when the listing proves it is
ours, by the rules of :mod:`prefect_llamabatch.client.reconcile`:

* **Found wherever it is.** Every page of the source directory's batches is read with the
  trusted cursor paging of :mod:`prefect_llamabatch.client.paging` (any list order, pages
  capped below ``page_size``); the server's ``created_at`` filters are not used, since our clock
  may be off from the server's.
* **Created after we sent, by the server's clock.** The window starts at the server's time (the
  listing's ``Date`` header) minus the time elapsed since the first send, minus
  :data:`~prefect_llamabatch.client.reconcile.SERVER_CLOCK_MARGIN`; without a ``Date`` header,
  at the client's clock minus ``RetryPolicy.clock_skew``. Zone-less timestamps are UTC.
* **The same request.** Same source directory, same job type, same configuration id.
* **Exactly one.** Two or more batches that all match cannot be told apart:
  :class:`~prefect_llamabatch.client.reconcile.CreateOwnershipError` names them instead of
  guessing or re-sending.

A batch over the same directory and configuration that *another* caller created inside the
window, while our create never reached the service, is indistinguishable from ours: the listing
shows nothing else of a batch (webhooks are not echoed). Callers that share a directory
should give each batch its own configuration (or directory).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import httpx
from pydantic import BaseModel

from prefect_llamabatch.client.effects import Op
from prefect_llamabatch.client.paging import cursor_pages
from prefect_llamabatch.client.reconcile import (
    SERVER_CLOCK_MARGIN,
    CreateOwnershipError,
    Sent,
    _server_date,
    _utc,
    read_listing,
)
from prefect_llamabatch.client.request import Request
from prefect_llamabatch.client.response import parse_model
from prefect_llamabatch.models.v2 import Batch, BatchCreate, BatchPage

if TYPE_CHECKING:
    from prefect_llamabatch.client.core import ClientCore

__all__ = ["BATCHES_PATH", "find_created_batch"]

logger = logging.getLogger("prefect_llamabatch.client")
P = TypeVar("P", bound=BaseModel)

BATCHES_PATH = "/api/v2/batches"


def find_created_batch(
    core: ClientCore, body: BatchCreate, tenant: Mapping[str, str | None], sent: Sent
) -> Op[Batch | None]:
    """The batch this create made, if the listing proves it; ``None`` if there is none.

    Raises:
        CreateOwnershipError: more than one batch matches the request exactly.
    """
    dates: list[tuple[datetime, float]] = []

    def call_model(request: Request, model: type[P]) -> Op[P]:
        def parse(response: httpx.Response) -> P:
            date = _server_date(response)
            if date is not None:
                dates.append((date, core.policy.clock()))
            return parse_model(request, response, model)

        # Each page has its own retries (a long listing must not use up the create's budget).
        return core.call(request, parse)

    def page(token: str | None) -> Request:
        params = {
            "source_directory_id": body.source_directory_id,
            "page_size": min(core.policy.reconcile_page_size, 1000),
            "page_token": token,
        }
        return core.request("GET", BATCHES_PATH, tenant=tenant, params=params)

    listed: list[Batch] = yield from read_listing(
        core, lambda: cursor_pages(call_model, page, BatchPage, lambda batch: batch.id)
    )
    if dates:
        server_now, seen_at = dates[0]
        since = server_now - timedelta(seconds=seen_at - sent.monotonic + SERVER_CLOCK_MARGIN)
    else:
        since = _utc(sent.wall) - timedelta(seconds=core.policy.clock_skew)
    job = body.config.job

    def same_request(candidate: Batch) -> bool:
        return (
            candidate.source_directory_id == body.source_directory_id
            and candidate.config.job.type == job.type
            and candidate.config.job.configuration_id == job.configuration_id
            and candidate.created_at is not None
            and _utc(candidate.created_at) >= since
        )

    matches = [candidate for candidate in listed if same_request(candidate)]
    if len(matches) > 1:
        raise CreateOwnershipError(f"POST {BATCHES_PATH}", [candidate.id for candidate in matches])
    if not matches:
        logger.warning(
            "Create reconciliation found no batch matching the failed create; re-sending it"
        )
        return None
    return matches[0]
