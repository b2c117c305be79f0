"""Responses: mapping failures to :mod:`prefect_llamabatch.client.errors`, parsing successes.

Error details are short and readable (JSON ``detail``/``message``/``error``, or the body's text
with HTML removed) and never carry the API key or a secret of the request.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from prefect_llamabatch.client.effects import Outcome
from prefect_llamabatch.client.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    error_for_status,
)
from prefect_llamabatch.client.redaction import quote, redact, safe_headers
from prefect_llamabatch.client.request import Request

P = TypeVar("P", bound=BaseModel)
_DROP_BLOCKS = re.compile(r"<(head|script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


def readable_text(text: str, limit: int = 200) -> str:
    """Plain text from an HTML or text body: tags stripped, whitespace collapsed, shortened."""
    text = _DROP_BLOCKS.sub(" ", text)
    text = html.unescape(_TAGS.sub(" ", text))
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_validation_errors(exc: ValidationError, limit: int = 5) -> str:
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


def transport_error(request: Request, exc: httpx.TransportError) -> APIConnectionError:
    # Only failures before the request left (no connection, no pooled slot) are provably unsent.
    sent = not isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
    )
    reason = redact(f"{type(exc).__name__}: {exc}".rstrip(": "), request.secrets)
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(reason, method=request.method, path=request.path, sent=sent, url=request.url)


def check_response(request: Request, outcome: Outcome) -> httpx.Response:
    """The response if it is a success; otherwise raise the mapped :class:`LlamaCloudError`."""
    if isinstance(outcome, httpx.TransportError):
        raise transport_error(request, outcome)
    if outcome.is_success:
        return outcome
    request_id = outcome.headers.get("x-request-id")
    raise error_for_status(
        outcome.status_code,
        method=request.method,
        path=request.path,
        url=request.url,
        detail=redact(error_detail(outcome), request.secrets),
        # A header may echo the Authorization header: redacted and capped like any quoted value.
        request_id=None if request_id is None else quote(request_id, request.secrets),
        headers=safe_headers(outcome.headers, request.secrets),
    )


def invalid_response(
    request: Request, response: httpx.Response, reason: str
) -> APIResponseValidationError:
    """The error for a success response that is not what the API documents (reason redacted)."""
    return APIResponseValidationError(
        redact(reason, request.secrets),
        method=request.method,
        path=request.path,
        status_code=response.status_code,
        url=request.url,
    )


def parse_model(
    request: Request,
    response: httpx.Response,
    model: type[P],
    *,
    context: dict[str, Any] | None = None,
) -> P:
    """Parse a success body into ``model``; a mismatch is an :class:`APIResponseValidationError`.

    ``context`` is the validation context (``{"lenient": True}`` for responses that echo strict
    request models, such as a saved configuration's ``parameters``).
    """

    try:
        body = response.json()
    except (ValueError, RecursionError):  # too deeply nested JSON raises RecursionError
        reason = f"body is not JSON: {readable_text(response.text) or '(empty)'}"
        raise invalid_response(request, response, reason) from None
    try:
        return model.model_validate(body, context=context)
    except ValidationError as exc:
        raise invalid_response(request, response, format_validation_errors(exc)) from None
