"""The v2 per-file jobs, without I/O: parse and extract job lookups, and presigned downloads.

Endpoints (``docs/outputs.md``, ``/work``'s reference ``llamacloud-v2-batches.md``):

* ``GET /api/v2/parse/{job_id}?expand=…`` — one parse job and the outputs named by ``expand``
  (``markdown``, ``text``, ``items`` inline; ``markdown_content_metadata`` … carry presigned
  URLs of the same outputs as files, for documents too large to receive inline). A v1 batch
  item's ``job_id`` is such a parse job.
* ``GET /api/v2/parse?job_ids=…&status=…`` — cursor pages of parse jobs. :func:`iter_jobs` looks
  many ids up in groups of :data:`MAX_IDS_PER_LOOKUP` (the ids travel in the query string),
  the groups fetched concurrently.
* ``GET /api/v2/extract/{job_id}``, ``GET /api/v2/extract?job_ids=…`` — the same for extract
  jobs; a completed one carries its ``extract_result`` inline.

Each function returns an op run by a client driver (see :mod:`prefect_llamabatch.client.effects`),
with the core's retries, error mapping and redaction. A presigned URL is a credential (its query
string is the signature): :func:`download_target` keeps it out of every error message and never
sends the API key with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel

from prefect_llamabatch.client.config import LOOPBACK_HOSTS
from prefect_llamabatch.client.core import ClientCore
from prefect_llamabatch.client.effects import Emit, Gather, Op
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.client.paging import cursor_pages
from prefect_llamabatch.client.request import (
    Request,
    check_id,
    check_name,
    check_page_size,
    path_segment,
)
from prefect_llamabatch.client.response import check_response, transport_error
from prefect_llamabatch.models.v2 import (
    TERMINAL_V2_JOB_STATUSES,
    ExtractJob,
    ExtractJobPage,
    ParseJobPage,
    ParseJobResult,
)

__all__ = [
    "EXTRACT_PATH",
    "MAX_IDS_PER_LOOKUP",
    "PARSE_PATH",
    "DownloadTarget",
    "download_target",
    "get_extract_job",
    "get_parse_job",
    "iter_jobs",
    "list_jobs",
]

PARSE_PATH = "/api/v2/parse"
EXTRACT_PATH = "/api/v2/extract"
# Ids per list request: 50 ids of ~40 characters keep the URL near 3 KB, well under the 8 KB
# that proxies and servers commonly accept.
MAX_IDS_PER_LOOKUP = 50
_STATUSES = tuple(sorted(TERMINAL_V2_JOB_STATUSES | {"PENDING", "RUNNING"}))

P = TypeVar("P", bound=BaseModel)
PageModel = TypeVar("PageModel", ParseJobPage, ExtractJobPage)


def _kind_path(kind: str) -> str:
    if kind == "parse":
        return PARSE_PATH
    if kind == "extract":
        return EXTRACT_PATH
    raise ValueError(f"kind: must be 'parse' or 'extract', got {kind!r}")


def _expand(expand: str | Sequence[str] | None) -> list[str] | None:
    if expand is None:
        return None
    values = [expand] if isinstance(expand, str) else list(expand)
    for value in values:
        check_name("expand", value)
        if "," in value or value != value.strip():
            raise ValueError(f"expand: one name per value (a list for several), got {value!r}")
    return list(dict.fromkeys(values))


def _status(status: str | None) -> str | None:
    if status is None:
        return None
    if status not in _STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(map(repr, _STATUSES))}")
    return status


def _ids(job_ids: Iterable[str] | None) -> list[str] | None:
    if job_ids is None:
        return None
    if isinstance(job_ids, str):
        raise ValueError("job_ids: pass a list of job ids, not one string")
    # Duplicates would only lengthen the URL; the order is kept.
    return list(dict.fromkeys(check_id("job_ids", job_id) for job_id in job_ids))


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def get_parse_job(
    core: ClientCore,
    job_id: str,
    *,
    expand: str | Sequence[str] | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[ParseJobResult]:
    """``GET /api/v2/parse/{job_id}``: the job and the outputs named by ``expand``."""
    request = core.request(
        "GET",
        f"{PARSE_PATH}/{path_segment('job_id', job_id)}",
        tenant=core._tenant(organization_id, project_id),
        params={"expand": _expand(expand)},
    )
    return core.call_model(request, ParseJobResult)


def get_extract_job(
    core: ClientCore,
    job_id: str,
    *,
    organization_id: str | None,
    project_id: str | None,
) -> Op[ExtractJob]:
    """``GET /api/v2/extract/{job_id}``: the job (with ``extract_result`` once completed)."""
    request = core.request(
        "GET",
        f"{EXTRACT_PATH}/{path_segment('job_id', job_id)}",
        tenant=core._tenant(organization_id, project_id),
    )
    return core.call_model(request, ExtractJob)


def _list_request(
    core: ClientCore,
    kind: str,
    *,
    job_ids: list[str] | None,
    status: str | None,
    created_at_on_or_after: datetime | None,
    created_at_on_or_before: datetime | None,
    page_size: int | None,
    page_token: str | None,
    tenant: Mapping[str, str | None],
) -> Request:
    if job_ids is not None and len(job_ids) > MAX_IDS_PER_LOOKUP:
        raise ValueError(
            f"job_ids: at most {MAX_IDS_PER_LOOKUP} per page request (they travel in the URL); "
            f"got {len(job_ids)} — iterate with iter_{kind}_jobs(job_ids=...), which groups them"
        )
    return core.request(
        "GET",
        _kind_path(kind),
        tenant=tenant,
        params={
            "job_ids": job_ids or None,
            "status": _status(status),
            "created_at_on_or_after": _stamp(created_at_on_or_after),
            "created_at_on_or_before": _stamp(created_at_on_or_before),
            "page_size": check_page_size(page_size),
            "page_token": page_token,
        },
    )


def _page_model(kind: str) -> type[BaseModel]:
    return ParseJobPage if kind == "parse" else ExtractJobPage


def list_jobs(
    core: ClientCore,
    kind: str,
    *,
    job_ids: Iterable[str] | None,
    status: str | None,
    created_at_on_or_after: datetime | None,
    created_at_on_or_before: datetime | None,
    page_size: int | None,
    page_token: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Any]:
    """One cursor page of parse or extract jobs (``kind``), newest first."""
    request = _list_request(
        core,
        kind,
        job_ids=_ids(job_ids),
        status=status,
        created_at_on_or_after=created_at_on_or_after,
        created_at_on_or_before=created_at_on_or_before,
        page_size=page_size,
        page_token=page_token,
        tenant=core._tenant(organization_id, project_id),
    )
    return core.call_model(request, _page_model(kind))


def iter_jobs(
    core: ClientCore,
    kind: str,
    *,
    job_ids: Iterable[str] | None,
    status: str | None,
    created_at_on_or_after: datetime | None,
    created_at_on_or_before: datetime | None,
    page_size: int,
    concurrency: int | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[None]:
    """Every parse or extract job matching the filters.

    Without ``job_ids``: the cursor pages, in the server's order. With ``job_ids``: the ids in
    groups of :data:`MAX_IDS_PER_LOOKUP`, each group's pages fetched in full, groups
    ``concurrency`` at a time, emitted group by group (an id the server does not know is simply
    absent). An empty ``job_ids`` lists nothing.
    """
    tenant = core._tenant(organization_id, project_id)
    ids = _ids(job_ids)
    model = _page_model(kind)
    size = check_page_size(page_size)
    assert size is not None

    def page(group: list[str] | None, token: str | None) -> Request:
        return _list_request(
            core,
            kind,
            job_ids=group,
            status=status,
            created_at_on_or_after=created_at_on_or_after,
            created_at_on_or_before=created_at_on_or_before,
            page_size=size if group is None else MAX_IDS_PER_LOOKUP,
            page_token=token,
            tenant=tenant,
        )

    if ids is None:
        return cursor_pages(
            core.call_model, lambda token: page(None, token), model, lambda job: job.id
        )
    page(ids[:MAX_IDS_PER_LOOKUP], None)  # arguments checked before the first request
    groups = [ids[i : i + MAX_IDS_PER_LOOKUP] for i in range(0, len(ids), MAX_IDS_PER_LOOKUP)]
    limit = core._concurrency(concurrency)

    def collect(group: list[str]) -> Op[list[Any]]:
        found: list[Any] = []
        token: str | None = None
        # A group can span pages only if the server caps page_size; bounded by its size.
        for _ in range(len(group) + 1):
            result = yield from core.call_model(page(group, token), model)
            items = list(getattr(result, "items"))  # noqa: B009
            found.extend(items)
            next_token = getattr(result, "next_page_token", None)
            if not items or not next_token or next_token == token:
                break
            token = next_token
        return found

    def run() -> Op[None]:
        for start in range(0, len(groups), limit):
            window = groups[start : start + limit]
            if len(window) == 1:
                results = [(yield from collect(window[0]))]
            else:
                results = yield Gather([collect(g) for g in window], limit=limit)
            for items in results:
                if items:
                    yield Emit(items)

    return run()


# ---- presigned downloads ------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadTarget:
    """A presigned URL to fetch as it is, and the redacted request used to describe failures."""

    url: str
    described: Request

    def check(self, response: httpx.Response) -> None:
        """Raise the mapped :class:`LlamaCloudError` unless ``response`` is a success.

        The body of an error response must have been read (it is small: an S3 error document).
        """
        check_response(self.described, response)

    def transport_error(self, exc: httpx.TransportError) -> LlamaCloudError:
        """The mapped error of a failed transfer (the URL's signature redacted)."""
        return transport_error(self.described, exc)


def download_target(url: str) -> DownloadTarget:
    """Check a presigned URL: https (plain http only for loopback hosts, such as the emulator).

    The URL is sent byte for byte (a re-encoded query would break an S3 signature) and
    without the API key; errors name the URL without its query string.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("url: must be a presigned https URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"url: must be an http(s) URL, got scheme {parts.scheme!r}")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValueError("url: plain http is allowed only for loopback hosts; use https")
    shown = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    values = [pair.partition("=")[2] for pair in parts.query.split("&")]
    secrets = tuple(s for s in (parts.query, *values) if s)
    described = Request(method="GET", url=shown, path=parts.path, secrets=secrets)
    return DownloadTarget(url, described)
