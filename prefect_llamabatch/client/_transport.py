"""What both drivers share about one HTTP exchange: its limits and the responses refused.

httpx's ``timeout`` bounds each read, not a whole response, and reads a body of any size; a
server that drip-feeds a byte every 0.4 s or sends 500 MB would hang or swamp the client. So the
drivers stream every response and refuse, before the core sees it:

* a request still running at its deadline (connect + send + whole body): an
  ``httpx.ReadTimeout`` outcome naming method and URL, which the core maps to
  :class:`~prefect_llamabatch.client.errors.APITimeoutError` (and retries like any timeout);
* a body larger than ``max_response_bytes`` (decoded size, so a gzip bomb is caught too):
  :class:`~prefect_llamabatch.client.errors.APIResponseValidationError`;
* a redirect: an :class:`~prefect_llamabatch.client.errors.APIStatusError` naming the
  ``Location`` (API calls are never redirected; a redirect means a wrong ``base_url`` or a proxy
  in the way, and following it would send the API key elsewhere).

The two refusals are handed back as values; the drivers raise them inside the op at its
``yield Send`` so the core's retry policy treats them like any API error.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from prefect_llamabatch.client.errors import (
    APIResponseValidationError,
    LlamaCloudError,
    error_for_status,
)
from prefect_llamabatch.client.redaction import quote
from prefect_llamabatch.client.request import Request

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds of every request of one client."""

    deadline: float
    """Seconds one request may take, from connecting to the last byte of the body."""
    max_response_bytes: int
    """Largest (decoded) response body accepted."""

    @classmethod
    def of(cls, timeout: httpx.Timeout, deadline: float | None, max_response_bytes: int) -> Limits:
        """Checked limits; without ``deadline``, the largest phase of ``timeout`` (else 60 s)."""
        if deadline is None:
            phases = (timeout.connect, timeout.read, timeout.write, timeout.pool)
            deadline = max((p for p in phases if p is not None), default=60.0)
        if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0:
            raise ValueError(f"request_deadline: must be a number of seconds > 0, got {deadline!r}")
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise ValueError(
                f"max_response_bytes: must be an integer >= 1, got {max_response_bytes!r}"
            )
        return cls(float(deadline), max_response_bytes)


def deadline_exceeded(request: Request, limits: Limits) -> httpx.ReadTimeout:
    """The outcome of a request still running at its deadline."""
    return httpx.ReadTimeout(
        f"{request.method} {request.url} did not complete within its {limits.deadline:g} s "
        "deadline (connect, send and the whole response)"
    )


def _quoted(request: Request, value: str) -> str:
    return quote(value, request.secrets)


class Body:
    """A response body being streamed, refused as soon as it passes the cap."""

    def __init__(self, request: Request, response: httpx.Response, limits: Limits) -> None:
        self._request = request
        self._response = response
        self._cap = limits.max_response_bytes
        self._chunks: list[bytes] = []
        self._size = 0

    def refusal(self) -> LlamaCloudError | None:
        """Why the response is refused before its body is read (a redirect, a declared size)."""
        response, request = self._response, self._request
        if response.is_redirect:
            location = _quoted(request, response.headers.get("location", ""))
            return error_for_status(
                response.status_code,
                method=request.method,
                path=request.path,
                detail=f"redirected to {location!r}; not followed (check base_url)",
                request_id=response.headers.get("x-request-id"),
                headers=dict(response.headers),
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._cap:
            return self._too_large(f"declares {int(declared)} bytes")
        return None

    def add(self, chunk: bytes) -> LlamaCloudError | None:
        """Keep ``chunk``; the refusal once the body is over the cap."""
        self._size += len(chunk)
        if self._size > self._cap:
            return self._too_large(f"passed {self._size} bytes")
        self._chunks.append(chunk)
        return None

    def _too_large(self, seen: str) -> LlamaCloudError:
        return APIResponseValidationError(
            f"the body {seen}, over the client's max_response_bytes ({self._cap}); not read further",
            method=self._request.method,
            path=self._request.path,
            status_code=self._response.status_code,
        )

    def response(self) -> httpx.Response:
        """The complete response, its body in memory (already decoded)."""
        source = self._response
        headers = [
            (k, v) for k, v in source.headers.multi_items() if k.lower() != "content-encoding"
        ]
        return httpx.Response(
            source.status_code,
            headers=headers,
            content=b"".join(self._chunks),
            request=source.request,
            extensions={k: v for k, v in source.extensions.items() if k != "network_stream"},
        )
