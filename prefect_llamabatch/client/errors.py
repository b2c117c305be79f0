"""Errors raised by the LlamaCloud clients.

Every error carries what a user needs to act on it (status, method, the full URL it went to, the
server's detail, the request id) and never the API key or a secret request value: messages are built
from redacted text (:func:`prefect_llamabatch.client.redaction.redact`, applied again here to whatever
an error is given), quoted header values are capped, and no error keeps a reference to an ``httpx``
request (whose headers carry the key).

The tree (what to catch)::

    LlamaCloudError                   every error of the client
    ├── APIConnectionError            the request did not get an answer (connect, send, read)
    │   └── APITimeoutError           ... within its timeout or its total deadline
    ├── APIStatusError                an answer with an error status (4xx, 5xx, a 3xx redirect)
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429
    │   └── ServerError               5xx
    ├── APIResponseValidationError    a 2xx body that does not parse, or is over the size cap
    ├── ListingError                  a listing contradicted itself (client/paging.py)
    └── CreateOwnershipError          a lost create's job cannot be told apart (client/reconcile.py)

Example:
    ```python
    from prefect_llamabatch.client.errors import APIStatusError, NotFoundError, error_for_status

    exc = error_for_status(404, method="GET", path="/api/v1/beta/batch-processing/bjb-1",
                           url="https://api.cloud.llamaindex.ai/api/v1/beta/batch-processing/bjb-1",
                           detail="Job not found")
    assert isinstance(exc, NotFoundError) and isinstance(exc, APIStatusError)
    assert str(exc) == (
        "404 Not Found from GET https://api.cloud.llamaindex.ai/api/v1/beta/batch-processing/bjb-1: "
        "Job not found"
    )
    ```
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from prefect_llamabatch.client.redaction import quote, redact, safe_headers

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "LlamaCloudError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnprocessableEntityError",
    "error_for_status",
]


def _reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Unknown Status"


class LlamaCloudError(Exception):
    """Base of every error this package raises for a LlamaCloud API call.

    Example:
        ```python
        from prefect_llamabatch.client.errors import LlamaCloudError

        try:
            raise LlamaCloudError("something went wrong")
        except LlamaCloudError as exc:
            assert exc.message == "something went wrong"
        ```
    """

    def __init__(self, message: str) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class APIStatusError(LlamaCloudError):
    """The API answered with a non-success HTTP status.

    Attributes:
        status_code: The HTTP status.
        method: The request method.
        path: The request path (no query string, no host).
        url: The full URL (scheme, host, path; no query string), or ``path`` when not given.
        detail: The server's explanation, already redacted and shortened.
        request_id: The ``x-request-id`` response header, if any (redacted, capped).
        headers: The response headers, each value redacted and capped, credential headers
            (``set-cookie`` …) dropped; the retry logic reads ``Retry-After``,
            ``retry-after-ms`` and ``x-should-retry`` from them.

    Example:
        ```python
        from prefect_llamabatch.client.errors import APIStatusError

        exc = APIStatusError(418, method="GET", path="/x", detail="short and stout")
        assert exc.status_code == 418 and "418 I'm a Teapot from GET /x" in str(exc)
        ```
    """

    def __init__(
        self,
        status_code: int,
        *,
        method: str,
        path: str,
        detail: str = "",
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        self.url = url or path
        self.detail = redact(detail)
        self.request_id = None if request_id is None else quote(request_id)
        self.headers: dict[str, str] = safe_headers(headers or {})
        message = f"{status_code} {_reason(status_code)} from {method} {self.url}"
        if self.detail:
            message += f": {self.detail}"
        if self.request_id:
            message += f" (request id {self.request_id})"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: default exception pickling would call cls(message) and fail;
        # Prefect pickles exceptions into failed states.
        return (
            _rebuild_status_error,
            (
                type(self),
                self.status_code,
                self.method,
                self.path,
                self.detail,
                self.request_id,
                self.headers,
                self.url,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, method={self.method!r}, "
            f"url={self.url!r}, detail={self.detail!r}, request_id={self.request_id!r})"
        )


def _rebuild_status_error(
    cls: type[APIStatusError],
    status_code: int,
    method: str,
    path: str,
    detail: str,
    request_id: str | None,
    headers: dict[str, str],
    url: str | None = None,
) -> APIStatusError:
    return cls(
        status_code,
        method=method,
        path=path,
        detail=detail,
        request_id=request_id,
        headers=headers,
        url=url,
    )


class BadRequestError(APIStatusError):
    """HTTP 400: the request was malformed or not allowed in the job's current state."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing, wrong, or for another region."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not access this organization or project."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such job, item or directory (in this project)."""


class ConflictError(APIStatusError):
    """HTTP 409: the request conflicts with the resource's current state."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the server rejected the request body or parameters."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests; retried after the server's ``Retry-After``."""


class ServerError(APIStatusError):
    """HTTP 5xx: the server or a proxy in front of it failed."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(
    status_code: int,
    *,
    method: str,
    path: str,
    detail: str = "",
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
) -> APIStatusError:
    """Build the most specific :class:`APIStatusError` subclass for a status code.

    Args:
        status_code: The HTTP status of the response.
        method: The request method.
        path: The request path.
        url: The full request URL without query string (shown in the message).
        detail: The (redacted) explanation from the response body.
        request_id: The request id header of the response, if any.
        headers: The response headers.

    Returns:
        The error, not raised.
    """
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    return cls(
        status_code,
        method=method,
        path=path,
        detail=detail,
        request_id=request_id,
        headers=headers,
        url=url,
    )


class APIConnectionError(LlamaCloudError):
    """The request failed below HTTP: connection refused or reset, DNS, TLS, protocol error.

    Attributes:
        method: The request method.
        path: The request path.
        url: The full URL (scheme, host, path), or ``path`` when not given.
        sent: Whether the request may have reached the server (``False`` only when it provably
            did not, e.g. the connection could not be opened).

    Example:
        ```python
        from prefect_llamabatch.client.errors import APIConnectionError

        exc = APIConnectionError("connection refused", method="GET", path="/x", sent=False)
        assert str(exc) == "Connection error on GET /x: connection refused"
        ```
    """

    _label = "Connection error"

    def __init__(
        self, reason: str, *, method: str, path: str, sent: bool = True, url: str | None = None
    ) -> None:
        self.reason = redact(reason)
        self.method = method
        self.path = path
        self.url = url or path
        self.sent = sent
        super().__init__(f"{self._label} on {method} {self.url}: {self.reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_connection_error,
            (type(self), self.reason, self.method, self.path, self.sent, self.url),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason!r}, method={self.method!r}, "
            f"url={self.url!r}, sent={self.sent!r})"
        )


def _rebuild_connection_error(
    cls: type[APIConnectionError],
    reason: str,
    method: str,
    path: str,
    sent: bool,
    url: str | None = None,
) -> APIConnectionError:
    return cls(reason, method=method, path=path, sent=sent, url=url)


class APITimeoutError(APIConnectionError):
    """The request timed out (connecting, writing, reading, or waiting for a pooled connection)."""

    _label = "Timeout"


class APIResponseValidationError(LlamaCloudError):
    """A success response whose body is not what the API documents (not JSON, wrong shape).

    Example:
        ```python
        from prefect_llamabatch.client.errors import APIResponseValidationError

        exc = APIResponseValidationError("job.id: Field required", method="GET", path="/x",
                                         status_code=200)
        assert "200 response from GET /x does not match" in str(exc)
        ```
    """

    def __init__(
        self, reason: str, *, method: str, path: str, status_code: int, url: str | None = None
    ) -> None:
        self.reason = redact(reason)
        self.method = method
        self.path = path
        self.url = url or path
        self.status_code = status_code
        super().__init__(
            f"{status_code} response from {method} {self.url} does not match the documented "
            f"schema: {self.reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_validation_error,
            (type(self), self.reason, self.method, self.path, self.status_code, self.url),
        )


def _rebuild_validation_error(
    cls: type[APIResponseValidationError],
    reason: str,
    method: str,
    path: str,
    status_code: int,
    url: str | None = None,
) -> APIResponseValidationError:
    return cls(reason, method=method, path=path, status_code=status_code, url=url)
