"""The sans-IO core shared by :class:`AsyncBatchClient` and :class:`BatchClient`.

Every API operation is a generator ("op") that yields instructions and receives their outcome:

* :class:`Send` — perform one HTTP request; the driver sends back the ``httpx.Response`` or the
  ``httpx.TransportError`` it raised (as a value, not thrown).
* :class:`Sleep` — wait this many seconds; receives ``None``.
* :class:`Gather` — run these sub-ops concurrently (at most ``limit`` at once); receives their
  results in order, or the first error is raised out of the driver.
* :class:`Emit` — (iterators only) hand these values to the consumer; receives ``None``.

An op returns its result through ``StopIteration.value``. Request building, response parsing,
error mapping, retry decisions, create reconciliation and pagination all live here, once; the two
clients only execute instructions with ``httpx.AsyncClient`` / ``httpx.Client``.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import logging
import mimetypes
import os
import re
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar, Union
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from prefect_llamabatch._version import __version__
from prefect_llamabatch.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    LlamaCloudError,
    NotFoundError,
    error_for_status,
)
from prefect_llamabatch.models import (
    BatchCancelRequest,
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    Directory,
    DirectoryCreate,
    DirectoryFile,
    DirectoryFileAdd,
    DirectoryFileList,
    DirectoryList,
    DirectoryType,
    FileMetadataValue,
    ItemProcessingResults,
    JobItem,
    JobItemList,
    JobType,
    ListItemsQuery,
    ListJobsQuery,
)
from prefect_llamabatch.retries import Attempt, Done, RetryLoop, RetryPolicy, Wait

logger = logging.getLogger("prefect_llamabatch.client")

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)

NA_BASE_URL = "https://api.cloud.llamaindex.ai"
EU_BASE_URL = "https://api.cloud.eu.llamaindex.ai"
API_KEY_ENV_VARS = ("LLAMA_CLOUD_API_KEY", "LLAMA_PARSE_API_KEY")
BASE_URL_ENV_VAR = "LLAMA_CLOUD_BASE_URL"
USER_AGENT = f"prefect-llamabatch/{__version__}"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_FILE_BYTES = 512 * 1024 * 1024
BATCH_PATH = "/api/v1/beta/batch-processing"
DIRECTORIES_PATH = "/api/v1/beta/directories"
MASK = "**********"

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, BinaryIO]

# --------------------------------------------------------------------------------------------
# Instructions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Perform one HTTP request."""

    request: Request


@dataclass(frozen=True)
class Sleep:
    """Wait before the next attempt."""

    seconds: float


@dataclass(frozen=True)
class Gather:
    """Run sub-ops concurrently, at most ``limit`` at a time; results come back in order."""

    ops: Sequence[Op[Any]]
    limit: int


@dataclass(frozen=True)
class Emit:
    """Hand values to the consumer of an iterator op."""

    values: Sequence[Any]


Instruction = Union[Send, Sleep, Gather, Emit]
Op = Generator[Instruction, Any, T]
Outcome = Union[httpx.Response, httpx.TransportError]


# --------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client: HTTP requests sent, retries (sleeps before a new attempt),
    create reconciliations performed, and reconciliations that adopted an existing object.

    Example:
        ```python
        from prefect_llamabatch import BatchClient

        with BatchClient("llx-example", base_url="http://127.0.0.1:9") as client:
            assert client.stats.requests == 0
        ```
    """

    requests: int = 0
    retries: int = 0
    reconciliations: int = 0
    adopted: int = 0


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {"requests": 0, "retries": 0, "reconciliations": 0, "adopted": 0}

    def add(self, name: str) -> None:
        with self._lock:
            self._values[name] += 1

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._values)


# --------------------------------------------------------------------------------------------
# Configuration helpers
# --------------------------------------------------------------------------------------------


def resolve_api_key(api_key: str | SecretStr | None) -> SecretStr:
    """The API key given, else ``LLAMA_CLOUD_API_KEY``, else ``LLAMA_PARSE_API_KEY``."""
    if isinstance(api_key, SecretStr):
        value = api_key.get_secret_value()
    elif api_key is None:
        value = next((os.environ[v] for v in API_KEY_ENV_VARS if os.environ.get(v)), "")
        if not value:
            raise ValueError(
                "api_key: no LlamaCloud API key given; pass api_key=... or set the "
                "LLAMA_CLOUD_API_KEY environment variable"
            )
    elif isinstance(api_key, str):
        value = api_key
    else:
        raise TypeError(f"api_key must be a str or SecretStr, not {type(api_key).__name__}")
    value = value.strip()
    if not value:
        raise ValueError("api_key: the API key is empty; pass your LlamaCloud API key")
    if any(c in value for c in "\r\n") or not value.isascii():
        raise ValueError("api_key: the API key contains characters not allowed in a header")
    return SecretStr(value)


def check_base_url(value: str, *, field_name: str = "base_url") -> str:
    """Validate a base URL: https, or plain http only for loopback hosts (the emulator).

    Returns the URL without a trailing slash.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field_name}: must be a URL such as {NA_BASE_URL!r}")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{field_name}: {url!r} is not an http(s) URL; use e.g. {NA_BASE_URL!r} "
            f"or {EU_BASE_URL!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field_name}: must not contain credentials; pass api_key instead")
    if parts.query or parts.fragment:
        raise ValueError(f"{field_name}: must not contain a query string or fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{field_name}: {url!r} uses plain http; use https (http is allowed only for "
            "loopback hosts 127.0.0.1, localhost and ::1, e.g. the local emulator)"
        )
    return url


def resolve_base_url(base_url: str | None) -> str:
    """The base URL given, else ``LLAMA_CLOUD_BASE_URL``, else the North America host."""
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV_VAR) or NA_BASE_URL
    return check_base_url(base_url)


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    return value


def _segment(name: str, value: object) -> str:
    return quote(_check_id(name, value), safe="")


def _check_header_value(name: str, value: object, *, max_len: int = 255) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{name}: at most {max_len} characters, got {len(value)}")
    if not all(" " <= c <= "~" for c in value):
        raise ValueError(f"{name}: only printable ASCII characters are allowed in a header")
    return value


def _query_value(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query(**params: Any) -> list[tuple[str, str]]:
    """Query pairs with ``None`` left out and arrays as repeated keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            pairs.extend((key, _query_value(v)) for v in value)
        else:
            pairs.append((key, _query_value(value)))
    return pairs


def _secret_values(value: Any) -> Iterator[str]:
    """Every secret string inside a request body model (for redaction of server messages)."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        yield secret
        password = _url_password(secret)
        if password:
            yield password
    elif isinstance(value, BaseModel):
        for item in value.__dict__.values():
            yield from _secret_values(item)
        for item in (value.model_extra or {}).values():
            yield from _secret_values(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_values(item)


def _url_password(value: str) -> str | None:
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret of at least 4 characters replaced by a mask."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


class _Upload:
    """A file for a multipart upload, re-readable on every attempt."""

    def __init__(self, file: FileInput, filename: str | None) -> None:
        self._path: Path | None = None
        self._data: bytes | None = None
        self._stream: BinaryIO | None = None
        self._start = 0
        if isinstance(file, (str, os.PathLike)):
            path = Path(file)
            if not path.is_file():
                raise ValueError(f"file: no such file {str(path)!r}; pass an existing file path")
            size = path.stat().st_size
            self._path = path
            default_name = path.name
        elif isinstance(file, (bytes, bytearray)):
            self._data = bytes(file)
            size = len(self._data)
            default_name = ""
        elif isinstance(file, io.TextIOBase):
            raise ValueError("file: open the file in binary mode ('rb'), not text mode")
        elif hasattr(file, "read"):
            default_name = Path(str(getattr(file, "name", ""))).name
            if getattr(file, "seekable", lambda: False)():
                self._stream = file
                self._start = file.tell()
                size = file.seek(0, io.SEEK_END) - self._start
                file.seek(self._start)
            else:
                # A stream we cannot rewind must be buffered to be retryable.
                self._data = file.read()
                if not isinstance(self._data, bytes):
                    raise ValueError("file: open the file in binary mode ('rb')")
                size = len(self._data)
        else:
            raise ValueError(
                f"file: expected a path, bytes or a binary file object, got {type(file).__name__}"
            )
        if size > MAX_FILE_BYTES:
            raise ValueError(
                f"file: {size / 1024 / 1024:.0f} MB exceeds LlamaCloud's 512 MB file size limit"
            )
        self.named = bool(filename or default_name)
        self.filename = filename or default_name or "upload"
        self.content_type = mimetypes.guess_type(self.filename)[0] or "application/octet-stream"

    def identity(self) -> str:
        """The file's name, or for unnamed content ``sha256:<hex of the content>``."""
        if self.named:
            return self.filename
        digest = hashlib.sha256()
        with self.open() as content:
            if isinstance(content, bytes):
                digest.update(content)
            else:
                for chunk in iter(partial(content.read, 1024 * 1024), b""):
                    digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"

    @contextmanager
    def open(self) -> Iterator[Any]:
        if self._path is not None:
            with self._path.open("rb") as handle:
                yield handle
        elif self._stream is not None:
            self._stream.seek(self._start)
            yield self._stream
        else:
            yield self._data


@dataclass(frozen=True)
class Request:
    """One HTTP request, described without performing it."""

    method: str
    url: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    json: Any = field(default=None, repr=False)
    data: dict[str, str] | None = field(default=None, repr=False)
    upload: _Upload | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @contextmanager
    def httpx_kwargs(self) -> Iterator[dict[str, Any]]:
        """Keyword arguments for ``httpx.(Async)Client.request``; opens the upload if any."""
        kwargs: dict[str, Any] = {"method": self.method, "url": self.url, "headers": self.headers}
        if self.params:
            # An empty list still makes httpx parse and re-encode the URL (~20 µs a call).
            kwargs["params"] = self.params
        if self.json is not None:
            kwargs["json"] = self.json
        if self.upload is None:
            yield kwargs
            return
        with self.upload.open() as content:
            kwargs["files"] = {
                "upload_file": (self.upload.filename, content, self.upload.content_type)
            }
            if self.data:
                kwargs["data"] = self.data
            yield kwargs


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------

_DROP_BLOCKS = re.compile(r"<(head|script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


def readable_text(text: str, limit: int = 200) -> str:
    """Plain text from an HTML or text body: tags stripped, whitespace collapsed, shortened."""
    text = _DROP_BLOCKS.sub(" ", text)
    text = html.unescape(_TAGS.sub(" ", text))
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_validation_errors(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:limit]:
        loc = ".".join(str(p) for p in error.get("loc", ())) or "body"
        parts.append(f"{loc}: {error.get('msg', '')}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"… and {more} more")
    return "; ".join(parts)


def _detail_from_json(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "error_message"):
            if body.get(key):
                return _detail_from_json(body[key])
        return json.dumps(body, separators=(",", ":"), default=str)[:500]
    if isinstance(body, list):
        # FastAPI validation errors: [{"loc": [...], "msg": "...", "input": ...}] — never echo input.
        parts = []
        for entry in body[:5]:
            if isinstance(entry, dict) and "msg" in entry:
                loc = ".".join(str(p) for p in entry.get("loc", ()))
                parts.append(f"{loc}: {entry['msg']}" if loc else str(entry["msg"]))
            else:
                parts.append(_detail_from_json(entry))
        return "; ".join(parts)
    return str(body)


def error_detail(response: httpx.Response) -> str:
    """A short, readable explanation from an error response body (JSON or not)."""
    if not response.content:
        return ""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # too deeply nested JSON raises RecursionError
        return readable_text(response.text)
    return readable_text(_detail_from_json(body), limit=500)


def _transport_error(request: Request, exc: httpx.TransportError) -> APIConnectionError:
    # Only failures before the request left (no connection, no pooled slot) are provably unsent.
    sent = not isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
    )
    reason = redact(f"{type(exc).__name__}: {exc}".rstrip(": "), request.secrets)
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(reason, method=request.method, path=request.path, sent=sent)


def check_response(request: Request, outcome: Outcome) -> httpx.Response:
    """The response if it is a success; otherwise raise the mapped :class:`LlamaCloudError`."""
    if isinstance(outcome, httpx.TransportError):
        raise _transport_error(request, outcome)
    if outcome.is_success:
        return outcome
    raise error_for_status(
        outcome.status_code,
        method=request.method,
        path=request.path,
        detail=redact(error_detail(outcome), request.secrets),
        request_id=outcome.headers.get("x-request-id"),
        headers=dict(outcome.headers),
    )


def parse_model(request: Request, response: httpx.Response, model: type[P]) -> P:
    """Parse a success body into ``model``; a mismatch is an :class:`APIResponseValidationError`."""

    def invalid(reason: str) -> APIResponseValidationError:
        return APIResponseValidationError(
            redact(reason, request.secrets),
            method=request.method,
            path=request.path,
            status_code=response.status_code,
        )

    try:
        body = response.json()
    except (ValueError, RecursionError):  # too deeply nested JSON raises RecursionError
        raise invalid(f"body is not JSON: {readable_text(response.text) or '(empty)'}") from None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise invalid(_format_validation_errors(exc)) from None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _enum_value(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


_METADATA: TypeAdapter[dict[str, FileMetadataValue]] = TypeAdapter(dict[str, FileMetadataValue])


class _Page(Generic[T]):
    """One fetched page: its items and the id tuple used to spot a page served twice."""

    __slots__ = ("items", "key")

    def __init__(self, items: Sequence[T], key: tuple[str, ...]) -> None:
        self.items = items
        self.key = key


# --------------------------------------------------------------------------------------------
# The core
# --------------------------------------------------------------------------------------------


class ClientCore:
    """Request building, parsing, retries, reconciliation and pagination, without I/O."""

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None,
        base_url: str | None,
        organization_id: str | None,
        project_id: str | None,
        retry: RetryPolicy | None,
        max_concurrency: int,
    ) -> None:
        self.api_key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        self.organization_id = (
            None if organization_id is None else _check_id("organization_id", organization_id)
        )
        self.project_id = None if project_id is None else _check_id("project_id", project_id)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self.policy = retry or RetryPolicy()
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency: must be an integer >= 1, got {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        self.counters = _Counters()

    def __repr__(self) -> str:
        return (
            f"base_url={self.base_url!r}, organization_id={self.organization_id!r}, "
            f"project_id={self.project_id!r}"
        )

    # ---- building ---------------------------------------------------------------------

    def _tenant(self, organization_id: str | None, project_id: str | None) -> dict[str, str | None]:
        org = self.organization_id if organization_id is None else organization_id
        proj = self.project_id if project_id is None else project_id
        return {
            "organization_id": None if org is None else _check_id("organization_id", org),
            "project_id": None if proj is None else _check_id("project_id", proj),
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        tenant: Mapping[str, str | None],
        params: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        data: Mapping[str, str | None] | None = None,
        upload: _Upload | None = None,
        headers: Mapping[str, str | None] | None = None,
    ) -> Request:
        """Describe one request: URL, query with the tenant, auth and identification headers."""
        all_headers = {
            "Authorization": f"Bearer {self.api_key.get_secret_value()}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        all_headers.update({k: v for k, v in (headers or {}).items() if v is not None})
        secrets = [self.api_key.get_secret_value()]
        wire = None
        if body is not None:
            wire = body.to_wire() if hasattr(body, "to_wire") else body.model_dump(mode="json")
            secrets.extend(_secret_values(body))
        return Request(
            method=method,
            url=self.base_url + path,
            path=path,
            params=_query(**{**(params or {}), **tenant}),
            headers=all_headers,
            json=wire,
            data={k: v for k, v in (data or {}).items() if v is not None} or None,
            upload=upload,
            secrets=tuple(secrets),
        )

    # ---- attempts and retries -----------------------------------------------------------

    def attempt(self, request: Request, parse: Callable[[httpx.Response], T]) -> Op[T]:
        """One request, checked and parsed; failures raise :class:`LlamaCloudError`."""
        self.counters.add("requests")
        outcome: Outcome = yield Send(request)
        response = check_response(request, outcome)
        logger.debug("%s %s -> %s", request.method, request.path, response.status_code)
        return parse(response)

    def retrying(
        self,
        attempt: Callable[[RetryLoop[T]], Op[T]],
        *,
        on_give_up: Callable[[], Op[T | None]] | None = None,
    ) -> Op[T]:
        """Run ``attempt`` under the retry policy (tenacity decides: retry, wait, or stop).

        ``on_give_up`` runs once when retrying stops with an error; a non-``None`` result
        replaces the error (a create that reconciliation can still find).
        """
        loop: RetryLoop[T] = self.policy.loop()
        while True:
            try:
                step = loop.next()
            except LlamaCloudError:
                if on_give_up is not None:
                    rescued = yield from on_give_up()
                    if rescued is not None:
                        return rescued
                raise
            if isinstance(step, Done):
                return step.value
            if isinstance(step, Wait):
                self.counters.add("retries")
                yield Sleep(float(step))
                continue
            assert isinstance(step, Attempt)
            try:
                value = yield from attempt(loop)
            except LlamaCloudError as exc:
                loop.failed(exc)
            else:
                loop.succeeded(value)

    def call(self, request: Request, parse: Callable[[httpx.Response], T]) -> Op[T]:
        """An idempotent request with retries."""
        return self.retrying(lambda _loop: self.attempt(request, parse))

    def call_model(self, request: Request, model: type[P]) -> Op[P]:
        """An idempotent request with retries, parsed into ``model``."""
        return self.call(request, lambda response: parse_model(request, response, model))

    def create(
        self,
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
            self.counters.add("reconciliations")
            found = yield from find_existing(sent_at)
            pending = False
            if found is not None:
                self.counters.add("adopted")
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
                sent_at = self.policy.utcnow()
            try:
                return (yield from self.attempt(request, parse))
            except LlamaCloudError as exc:
                if find_existing is not None and self.policy.reached_server(exc):
                    pending = self.policy.is_retryable(exc)
                raise

        def give_up() -> Op[T | None]:
            if not pending:
                return None
            try:
                return (yield from reconcile())
            except LlamaCloudError:
                return None

        return self.retrying(attempt, on_give_up=give_up)

    # ---- pagination ---------------------------------------------------------------------

    def offset_pages(
        self,
        make_request: Callable[[int, int], Request],
        model: type[P],
        page_size: int,
        concurrency: int,
        key: Callable[[Any], str],
    ) -> Op[None]:
        """Offset pagination by ``total_size``, emitting items in order.

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
            page = yield from self.call_model(request, model)
            items = list(getattr(page, "items"))[:limit]  # noqa: B009
            return _Page(items, tuple(key(item) for item in items))

        first = yield from self.call_model(make_request(0, page_size), model)
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
        self, make_request: Callable[[str | None], Request], model: type[P]
    ) -> Op[None]:
        """Cursor pagination by ``next_page_token``, emitting items in order.

        Stops when the token is missing or empty, when the server hands back the token just
        used (it would loop forever), or at an empty page.
        """
        token: str | None = None
        while True:
            page = yield from self.call_model(make_request(token), model)
            items = list(getattr(page, "items"))  # noqa: B009
            if not items:
                return
            yield Emit(items)
            next_token = getattr(page, "next_page_token", None)
            if not next_token or next_token == token:
                return
            token = next_token

    # ---- batch jobs -----------------------------------------------------------------------

    def create_job(
        self,
        body: BatchJobCreate | Mapping[str, Any],
        *,
        idempotency_key: str | None,
        organization_id: str | None,
        project_id: str | None,
        temporal_namespace: str | None,
    ) -> Op[BatchJob]:
        job = body if isinstance(body, BatchJobCreate) else BatchJobCreate.model_validate(body)
        key = (
            uuid.uuid4().hex
            if idempotency_key is None
            else _check_header_value("idempotency_key", idempotency_key)
        )
        namespace = (
            None
            if temporal_namespace is None
            else _check_header_value("temporal_namespace", temporal_namespace)
        )
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            BATCH_PATH,
            tenant=tenant,
            body=job,
            headers={"Idempotency-Key": key, "temporal-namespace": namespace},
        )
        return self.create(
            request,
            lambda response: parse_model(request, response, BatchJob),
            lambda sent_at: self._find_created_job(job, tenant, sent_at),
        )

    def _find_created_job(
        self, job: BatchJobCreate, tenant: Mapping[str, str | None], sent_at: datetime
    ) -> Op[BatchJob | None]:
        """The one job that could be the one this create made, if exactly one exists."""
        since = _utc(sent_at) - timedelta(seconds=self.policy.clock_skew)
        job_type = job.job_type.value
        limit = self.policy.reconcile_page_size

        def could_be_ours(candidate: BatchJob) -> bool:
            if _enum_value(candidate.job_type) != job_type:
                return False
            if candidate.created_at is None or _utc(candidate.created_at) < since:
                return False
            if job.directory_id is not None:
                return candidate.directory_id == job.directory_id
            return candidate.directory_id is None and candidate.total_items == len(
                job.item_ids or ()
            )

        matches: list[BatchJob] = []
        offset = 0
        for _ in range(self.policy.reconcile_max_pages):
            request = self.request(
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
            page = yield from self.attempt(
                request, partial(parse_model, request, model=BatchJobList)
            )
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

    def get_job(
        self, job_id: str, *, organization_id: str | None, project_id: str | None
    ) -> Op[BatchJobStatus]:
        request = self.request(
            "GET",
            f"{BATCH_PATH}/{_segment('job_id', job_id)}",
            tenant=self._tenant(organization_id, project_id),
        )
        return self.call_model(request, BatchJobStatus)

    def cancel_job(
        self,
        job_id: str,
        reason: str | None,
        *,
        organization_id: str | None,
        project_id: str | None,
        temporal_namespace: str | None,
    ) -> Op[BatchCancelResponse]:
        segment = _segment("job_id", job_id)
        namespace = (
            None
            if temporal_namespace is None
            else _check_header_value("temporal_namespace", temporal_namespace)
        )
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            f"{BATCH_PATH}/{segment}/cancel",
            tenant=tenant,
            body=BatchCancelRequest.model_validate({} if reason is None else {"reason": reason}),
            headers={"temporal-namespace": namespace},
        )
        status_request = self.request("GET", f"{BATCH_PATH}/{segment}", tenant=tenant)
        return self._cancel(job_id, request, status_request)

    def _cancel(
        self, job_id: str, request: Request, status_request: Request
    ) -> Op[BatchCancelResponse]:
        try:
            return (yield from self.call_model(request, BatchCancelResponse))
        except (BadRequestError, ConflictError):
            # The server refuses to cancel a finished job; that is not an error for the caller.
            status = yield from self.call_model(status_request, BatchJobStatus)
            if not status.job.is_terminal:
                raise
            return BatchCancelResponse(
                job_id=status.job.id or job_id,
                message=f"job is already {status.job.status_value}; nothing to cancel",
                processed_items=status.job.processed_items or 0,
                status=status.job.status,
            )

    def list_jobs(
        self,
        *,
        directory_id: str | None,
        job_type: JobType | str | None,
        status: str | None,
        limit: int | None,
        offset: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[BatchJobList]:
        query = ListJobsQuery.model_validate(
            {
                "directory_id": directory_id,
                "job_type": job_type,
                "status": status,
                "limit": limit,
                "offset": offset,
            }
        )
        request = self.request(
            "GET",
            BATCH_PATH,
            tenant=self._tenant(organization_id, project_id),
            params=dict(query),
        )
        return self.call_model(request, BatchJobList)

    def iter_jobs(
        self,
        *,
        directory_id: str | None,
        job_type: JobType | str | None,
        status: str | None,
        page_size: int,
        concurrency: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        query = ListJobsQuery.model_validate(
            {
                "directory_id": directory_id,
                "job_type": job_type,
                "status": status,
                "limit": page_size,
            }
        )
        tenant = self._tenant(organization_id, project_id)

        def page(offset: int, limit: int) -> Request:
            params = {**dict(query), "limit": limit, "offset": offset}
            return self.request("GET", BATCH_PATH, tenant=tenant, params=params)

        return self.offset_pages(
            page, BatchJobList, page_size, self._concurrency(concurrency), lambda job: job.id
        )

    def list_items(
        self,
        job_id: str,
        *,
        status: str | None,
        limit: int | None,
        offset: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[JobItemList]:
        query = ListItemsQuery.model_validate({"status": status, "limit": limit, "offset": offset})
        request = self.request(
            "GET",
            f"{BATCH_PATH}/{_segment('job_id', job_id)}/items",
            tenant=self._tenant(organization_id, project_id),
            params=dict(query),
        )
        return self.call_model(request, JobItemList)

    def iter_items(
        self,
        job_id: str,
        *,
        status: str | None,
        page_size: int,
        concurrency: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        query = ListItemsQuery.model_validate({"status": status, "limit": page_size})
        path = f"{BATCH_PATH}/{_segment('job_id', job_id)}/items"
        tenant = self._tenant(organization_id, project_id)

        def page(offset: int, limit: int) -> Request:
            params = {**dict(query), "limit": limit, "offset": offset}
            return self.request("GET", path, tenant=tenant, params=params)

        def item_key(item: JobItem) -> str:
            return item.item_id

        return self.offset_pages(
            page, JobItemList, page_size, self._concurrency(concurrency), item_key
        )

    def _concurrency(self, concurrency: int | None) -> int:
        if concurrency is None:
            return self.max_concurrency
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency: must be an integer >= 1, got {concurrency!r}")
        return concurrency

    def get_item_results(
        self,
        item_id: str,
        *,
        job_type: JobType | str | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[ItemProcessingResults]:
        request = self.request(
            "GET",
            f"{BATCH_PATH}/items/{_segment('item_id', item_id)}/processing-results",
            tenant=self._tenant(organization_id, project_id),
            params={"job_type": _enum("job_type", JobType, job_type)},
        )
        return self.call_model(request, ItemProcessingResults)

    # ---- directories ------------------------------------------------------------------

    def create_directory(
        self,
        name: str,
        *,
        description: str | None,
        type: str | None,
        system_metadata: Mapping[str, Any] | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[Directory]:
        fields: dict[str, Any] = {"name": name}
        for key, value in (
            ("description", description),
            ("type", type),
            ("system_metadata", system_metadata),
        ):
            if value is not None:
                fields[key] = value.value if isinstance(value, DirectoryType) else value
        body = DirectoryCreate.model_validate(fields)
        request = self.request(
            "POST",
            DIRECTORIES_PATH,
            tenant=self._tenant(organization_id, project_id),
            body=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        # A duplicate empty directory is harmless, so no reconciliation: the re-send's key
        # dedupes on the emulator; LlamaCloud documents no key and may create a second one.
        return self.create(request, lambda r: parse_model(request, r, Directory), None)

    def get_directory(
        self, directory_id: str, *, organization_id: str | None, project_id: str | None
    ) -> Op[Directory]:
        request = self.request(
            "GET",
            f"{DIRECTORIES_PATH}/{_segment('directory_id', directory_id)}",
            tenant=self._tenant(organization_id, project_id),
        )
        return self.call_model(request, Directory)

    def delete_directory(
        self, directory_id: str, *, organization_id: str | None, project_id: str | None
    ) -> Op[None]:
        request = self.request(
            "DELETE",
            f"{DIRECTORIES_PATH}/{_segment('directory_id', directory_id)}",
            tenant=self._tenant(organization_id, project_id),
        )

        def attempt(loop: RetryLoop[None]) -> Op[None]:
            try:
                yield from self.attempt(request, lambda _response: None)
            except NotFoundError:
                # Gone on a retry: the earlier, failed-looking attempt did delete it.
                if loop.attempt_number == 1:
                    raise

        return self.retrying(attempt)

    def list_directories(
        self,
        *,
        name: str | None,
        type: str | None,
        types: Sequence[str] | None,
        include_deleted: bool | None,
        page_size: int | None,
        page_token: str | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryList]:
        request = self._directories_request(
            name=name,
            type=type,
            types=types,
            include_deleted=include_deleted,
            page_size=page_size,
            page_token=page_token,
            tenant=self._tenant(organization_id, project_id),
        )
        return self.call_model(request, DirectoryList)

    def iter_directories(
        self,
        *,
        name: str | None,
        type: str | None,
        types: Sequence[str] | None,
        include_deleted: bool | None,
        page_size: int,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        tenant = self._tenant(organization_id, project_id)
        self._directories_request(
            name=name,
            type=type,
            types=types,
            include_deleted=include_deleted,
            page_size=page_size,
            page_token=None,
            tenant=tenant,
        )
        return self.cursor_pages(
            lambda token: self._directories_request(
                name=name,
                type=type,
                types=types,
                include_deleted=include_deleted,
                page_size=page_size,
                page_token=token,
                tenant=tenant,
            ),
            DirectoryList,
        )

    def _directories_request(
        self,
        *,
        name: str | None,
        type: str | None,
        types: Sequence[str] | None,
        include_deleted: bool | None,
        page_size: int | None,
        page_token: str | None,
        tenant: Mapping[str, str | None],
    ) -> Request:
        if isinstance(types, str):
            raise ValueError("types: pass a list of directory types, e.g. ['ephemeral', 'user']")
        return self.request(
            "GET",
            DIRECTORIES_PATH,
            tenant=tenant,
            params={
                "name": name,
                "type": _enum("type", DirectoryType, type),
                "types": None
                if types is None
                else [_enum("types", DirectoryType, t) for t in types],
                "include_deleted": include_deleted,
                "page_size": _page_size(page_size),
                "page_token": page_token,
            },
        )

    def upload_file(
        self,
        directory_id: str,
        file: FileInput,
        *,
        display_name: str | None,
        unique_id: str | None,
        external_file_id: str | None,
        metadata: Mapping[str, Any] | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryFile]:
        segment = _segment("directory_id", directory_id)
        for name, value in (
            ("display_name", display_name),
            ("unique_id", unique_id),
            ("external_file_id", external_file_id),
        ):
            if value is not None:
                _check_id(name, value)
        metadata_json = None
        if metadata is not None:
            try:
                checked = _METADATA.validate_python(dict(metadata))
            except ValidationError as exc:
                raise ValueError(f"metadata: {_format_validation_errors(exc)}") from None
            metadata_json = json.dumps(checked, separators=(",", ":"))
        upload = _Upload(file, display_name)
        if unique_id is None:
            # Without a unique_id an ambiguous failure could only be re-sent blindly, adding the
            # file (and so a batch item) twice; the default gives reconciliation a key to look up.
            unique_id = external_file_id or upload.identity()
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            f"{DIRECTORIES_PATH}/{segment}/files/upload",
            tenant=tenant,
            data={
                "display_name": display_name,
                "external_file_id": external_file_id,
                "metadata": metadata_json,
                "unique_id": unique_id,
            },
            upload=upload,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        return self.create(
            request,
            lambda r: parse_model(request, r, DirectoryFile),
            self._file_finder(segment, unique_id, tenant),
        )

    def add_file(
        self,
        directory_id: str,
        file_id: str,
        *,
        display_name: str | None,
        unique_id: str | None,
        metadata: Mapping[str, Any] | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryFile]:
        segment = _segment("directory_id", directory_id)
        fields: dict[str, Any] = {"file_id": file_id}
        for key, value in (
            ("display_name", display_name),
            # Defaulted for the same reason as in upload_file: reconciliation needs a key.
            ("unique_id", (display_name or file_id) if unique_id is None else unique_id),
            ("metadata", None if metadata is None else dict(metadata)),
        ):
            if value is not None:
                fields[key] = value
        body = DirectoryFileAdd.model_validate(fields)
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            f"{DIRECTORIES_PATH}/{segment}/files",
            tenant=tenant,
            body=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert body.unique_id is not None
        return self.create(
            request,
            lambda r: parse_model(request, r, DirectoryFile),
            self._file_finder(segment, body.unique_id, tenant, file_id=body.file_id),
        )

    def _file_finder(
        self,
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
            since = _utc(sent_at) - timedelta(seconds=self.policy.clock_skew)
            request = self.request(
                "GET",
                f"{DIRECTORIES_PATH}/{segment}/files",
                tenant=tenant,
                params={"unique_id": unique_id},
            )
            page = yield from self.attempt(
                request, lambda r: parse_model(request, r, DirectoryFileList)
            )
            found = [f for f in page.items if could_be_ours(f, since)]
            return found[0] if len(found) == 1 else None

        return find

    def list_directory_files(
        self,
        directory_id: str,
        *,
        page_size: int | None,
        page_token: str | None,
        unique_id: str | None,
        display_name: str | None,
        display_name_contains: str | None,
        file_id: str | None,
        include_deleted: bool | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryFileList]:
        request = self.request(
            "GET",
            f"{DIRECTORIES_PATH}/{_segment('directory_id', directory_id)}/files",
            tenant=self._tenant(organization_id, project_id),
            params={
                "display_name": display_name,
                "display_name_contains": display_name_contains,
                "file_id": file_id,
                "unique_id": unique_id,
                "include_deleted": include_deleted,
                "page_size": _page_size(page_size),
                "page_token": page_token,
            },
        )
        return self.call_model(request, DirectoryFileList)

    def iter_directory_files(
        self,
        directory_id: str,
        *,
        page_size: int,
        unique_id: str | None,
        display_name: str | None,
        display_name_contains: str | None,
        file_id: str | None,
        include_deleted: bool | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        path = f"{DIRECTORIES_PATH}/{_segment('directory_id', directory_id)}/files"
        tenant = self._tenant(organization_id, project_id)
        size = _page_size(page_size)

        def page(token: str | None) -> Request:
            return self.request(
                "GET",
                path,
                tenant=tenant,
                params={
                    "display_name": display_name,
                    "display_name_contains": display_name_contains,
                    "file_id": file_id,
                    "unique_id": unique_id,
                    "include_deleted": include_deleted,
                    "page_size": size,
                    "page_token": token,
                },
            )

        return self.cursor_pages(page, DirectoryFileList)


E = TypeVar("E", bound=Enum)


def _enum(name: str, cls: type[E], value: E | str | None) -> E | None:
    if value is None or isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{name}: {value!r} is not one of {valid}") from None


def _page_size(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"page_size: must be an integer >= 1, got {value!r}")
    return value
