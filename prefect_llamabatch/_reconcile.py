"""Creates that must not duplicate their object: blind retries only when unsent, else look first.

See ``docs/client.md`` ("Creates never duplicate a job") for the rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from prefect_llamabatch._config import BATCH_PATH, DIRECTORIES_PATH
from prefect_llamabatch._ops import Op
from prefect_llamabatch._requests import Request
from prefect_llamabatch._responses import parse_model
from prefect_llamabatch.errors import LlamaCloudError
from prefect_llamabatch.models import (
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    DirectoryFile,
    DirectoryFileList,
)
from prefect_llamabatch.retries import RetryLoop

if TYPE_CHECKING:
    from prefect_llamabatch._http import ClientCore

logger = logging.getLogger("prefect_llamabatch.client")
T = TypeVar("T")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _enum_value(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def create(
    core: ClientCore,
    request: Request,
    parse: Callable[[httpx.Response], T],
    find_existing: Callable[[datetime], Op[T | None]] | None,
) -> Op[T]:
    """A non-idempotent create that must not duplicate its object.

    Retried blindly only when the request provably did not reach the server. After an
    ambiguous failure, the next attempt first runs ``find_existing(sent_at)``, which returns
    the object when exactly one candidate exists, else ``None`` (then the create is re-sent,
    with the same ``Idempotency-Key`` header).
    """
    pending = False
    sent_at: datetime | None = None

    def reconcile() -> Op[T | None]:
        nonlocal pending
        assert find_existing is not None and sent_at is not None
        core.counters.add("reconciliations")
        found = yield from find_existing(sent_at)
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
        nonlocal pending, sent_at
        if pending:
            found = yield from reconcile()
            if found is not None:
                return found
        if sent_at is None:
            sent_at = core.policy.utcnow()
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
        except LlamaCloudError:
            return None

    return core.retrying(attempt, on_give_up=give_up)


def find_created_job(
    core: ClientCore, job: BatchJobCreate, tenant: Mapping[str, str | None], sent_at: datetime
) -> Op[BatchJob | None]:
    """The one job that could be the one this create made, if exactly one exists."""
    since = _utc(sent_at) - timedelta(seconds=core.policy.clock_skew)
    job_type = job.job_type.value
    limit = core.policy.reconcile_page_size

    def could_be_ours(candidate: BatchJob) -> bool:
        if _enum_value(candidate.job_type) != job_type:
            return False
        if candidate.created_at is None or _utc(candidate.created_at) < since:
            return False
        if job.directory_id is not None:
            return candidate.directory_id == job.directory_id
        return candidate.directory_id is None and candidate.total_items == len(job.item_ids or ())

    matches: list[BatchJob] = []
    offset = 0
    for _ in range(core.policy.reconcile_max_pages):
        request = core.request(
            "GET",
            BATCH_PATH,
            tenant=tenant,
            params={
                "directory_id": job.directory_id,
                "job_type": job_type,
                "limit": limit,
                "offset": offset,
            },
        )
        page = yield from core.attempt(request, partial(parse_model, request, model=BatchJobList))
        matches.extend(c for c in page.items if could_be_ours(c))
        offset += len(page.items)
        if not page.items or len(page.items) < limit:
            break
        if page.total_size is not None and offset >= page.total_size:
            break
    if len(matches) == 1:
        return matches[0]
    logger.warning(
        "Create reconciliation found %d candidate jobs; re-sending the create with the same "
        "Idempotency-Key",
        len(matches),
    )
    return None


def file_finder(
    core: ClientCore,
    segment: str,
    unique_id: str,
    tenant: Mapping[str, str | None],
    *,
    file_id: str | None = None,
) -> Callable[[datetime], Op[DirectoryFile | None]]:
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

    def find(sent_at: datetime) -> Op[DirectoryFile | None]:
        since = _utc(sent_at) - timedelta(seconds=core.policy.clock_skew)
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
