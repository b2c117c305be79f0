"""What the clients retry, how long they wait, and when a create must be reconciled first.

:class:`RetryPolicy` holds the rules; :class:`RetryLoop` applies them to one operation with
tenacity's public API (a ``Retrying`` iterated attempt by attempt, its strategies, a ``sleep`` hook
that records instead of blocking), so the sans-IO client core can yield "send"/"sleep"
instructions. It works on every tenacity the package admits (8.2 has no ``stop_before_delay``
and no ``RetryCallState.upcoming_sleep``: the deadline is our own stop strategy).

Rules:

* Retried: HTTP 408, 429, 500, 502, 503, 504, connection errors, timeouts, protocol errors.
  Never: 400, 401, 403, 404, 409, 422 and other 4xx. A response header ``x-should-retry: true|false``
  overrides the status.
* Delay: ``retry-after-ms`` (milliseconds) or ``Retry-After`` (seconds or an HTTP date) when the
  response has one, capped at ``max_retry_after``; otherwise exponential backoff with full jitter,
  ``uniform(0, min(initial_delay * backoff_factor ** (attempt - 1), max_delay))``.
* Stop: after ``max_retries`` retries, or when the next attempt would start later than
  ``deadline`` seconds after the first one.
* A create is blindly retried only when the request provably did not reach the server (connection
  could not be opened, pool timeout, or 429); after any other retryable failure the client first
  looks for the object it may have created (see ``docs/architecture.md``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.client.errors import APIConnectionError, APIStatusError, LlamaCloudError

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "RetryLoop",
    "RetryPolicy",
    "parse_retry_after",
]

logger = logging.getLogger("prefect_llamabatch.client")

DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's requested delay in seconds, from ``retry-after-ms`` or ``Retry-After``.

    Args:
        headers: Response headers (any case).
        now: The current time, for ``Retry-After`` given as an HTTP date.

    Returns:
        The delay (never negative), or ``None`` when there is no usable header.

    Example:
        ```python
        from prefect_llamabatch.client.retries import parse_retry_after

        assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
        assert parse_retry_after({"Retry-After": "7"}) == 7.0
        assert parse_retry_after({"Retry-After": "soon"}) is None
        ```
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms):
            return max(ms / 1000.0, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or _utcnow())).total_seconds(), 0.0)


def _should_retry_header(exc: BaseException) -> bool | None:
    if not isinstance(exc, APIStatusError):
        return None
    value = exc.headers.get("x-should-retry", "").strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    return None


class RetryPolicy(BaseModel):
    """How the clients retry failed requests (the rules :class:`RetryLoop` gives tenacity).

    Time sources are injectable (``clock``, ``utcnow``) so tests run the deadline logic without
    waiting; the clients take an injectable ``sleep`` for the same reason.

    Example:
        ```python
        from prefect_llamabatch.client.retries import RetryPolicy

        policy = RetryPolicy(max_retries=3, deadline=60.0)
        assert policy.is_retryable_status(503) and not policy.is_retryable_status(404)
        ```
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    max_retries: int = Field(default=5, ge=0, description="Retries after the first attempt.")
    deadline: float | None = Field(
        default=300.0,
        gt=0,
        description="Seconds after the first attempt after which no new attempt starts.",
    )
    initial_delay: float = Field(default=0.5, gt=0, description="First backoff window (s).")
    backoff_factor: float = Field(default=2.0, ge=1.0, description="Backoff window growth.")
    max_delay: float = Field(default=30.0, gt=0, description="Largest backoff window (s).")
    max_retry_after: float = Field(
        default=60.0, ge=0, description="Cap on a server-requested delay (s)."
    )
    retry_statuses: frozenset[int] = Field(
        default=DEFAULT_RETRY_STATUSES, description="HTTP statuses that are retried."
    )
    clock_skew: float = Field(
        default=120.0,
        ge=0,
        description="Allowance (s) between our clock and the server's when reconciling a create "
        "against a server that sends no Date header (with one, the server's clock is used).",
    )
    reconcile_page_size: int = Field(default=100, gt=0, description="Page size of reconciliation.")
    reconcile_max_pages: int = Field(
        default=10,
        gt=0,
        description="Deprecated and ignored: reconciliation reads every page of the listing.",
    )
    clock: Callable[[], float] = Field(default=time.monotonic, exclude=True, repr=False)
    utcnow: Callable[[], datetime] = Field(default=_utcnow, exclude=True, repr=False)

    def is_retryable_status(self, status_code: int) -> bool:
        """Whether a response with this status is retried (absent ``x-should-retry``)."""
        return status_code in self.retry_statuses

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether a failed attempt is retried; ``x-should-retry`` wins over the status."""
        override = _should_retry_header(exc)
        if override is not None:
            return override
        if isinstance(exc, APIStatusError):
            return self.is_retryable_status(exc.status_code)
        return isinstance(exc, APIConnectionError)

    @staticmethod
    def reached_server(exc: BaseException) -> bool:
        """Whether a failed request may have been acted on by the server.

        ``False`` only when it provably was not: the connection could not be opened (or no pooled
        connection became free), or the server rate-limited it (429).
        """
        if isinstance(exc, APIConnectionError):
            return exc.sent
        if isinstance(exc, APIStatusError):
            return exc.status_code != 429
        return True

    def server_delay(self, exc: BaseException) -> float | None:
        """The delay the server asked for in the failed response, capped; ``None`` if none."""
        if not isinstance(exc, APIStatusError):
            return None
        delay = parse_retry_after(exc.headers, now=self.utcnow())
        return None if delay is None else min(delay, self.max_retry_after)

    def loop(self, *, retry_on: Callable[[BaseException], bool] | None = None) -> RetryLoop[Any]:
        """A fresh retry state for one logical operation (``retry_on``: its own retry rule)."""
        return RetryLoop(self, retry_on=retry_on)


class Attempt:
    """Instruction from :meth:`RetryLoop.next`: make one attempt now."""

    __slots__ = ()


class Wait(float):
    """Instruction from :meth:`RetryLoop.next`: sleep this many seconds, then ask again."""


class Done(Generic[T]):
    """Instruction from :meth:`RetryLoop.next`: the operation succeeded with ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


class RetryLoop(Generic[T]):
    """One operation's retries, decided by tenacity and driven one step at a time.

    Call :meth:`next`; on :class:`Attempt` make one attempt and report it with
    :meth:`succeeded` or :meth:`failed`; on :class:`Wait` sleep; on :class:`Done` return its value.
    When retrying stops, :meth:`next` raises the last error.

    tenacity is used through its public API only: a ``Retrying`` iterated as documented
    (``for attempt in Retrying(...): with attempt: ...``), with strategies passed to it
    (``stop_after_attempt``, ``wait_random_exponential``, ``retry_if_exception``, and our own
    stop and wait callables). Its ``sleep`` hook does not block: it records the delay, which
    :meth:`next` hands to the caller as :class:`Wait`, so a sans-IO core can yield "sleep".

    Example:
        ```python
        from prefect_llamabatch.client.retries import Attempt, Done, RetryLoop, RetryPolicy, Wait

        loop = RetryLoop(RetryPolicy())
        assert isinstance(loop.next(), Attempt)
        loop.succeeded("ok")
        step = loop.next()
        assert isinstance(step, Done) and step.value == "ok"
        ```
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        max_retries: int | None = None,
        retry_on: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.policy = policy
        self.max_retries = policy.max_retries if max_retries is None else max_retries
        # Which failures are retried: the policy's rule unless an operation has its own.
        self.retry_on = policy.is_retryable if retry_on is None else retry_on
        # Our clock, not tenacity's time.monotonic(), so the deadline is testable.
        self._start_time = policy.clock()
        self._failed_at = self._start_time
        # Most calls succeed at once: tenacity is set up on the first failure only
        # (setting it up costs about as much CPU as parsing the response).
        self._attempts: Iterator[tenacity.AttemptManager] | None = None
        self._current: tenacity.AttemptManager | None = None
        self._done: Done[T] | None = None
        self._last_error: BaseException | None = None
        self._attempt_due = False
        self._slept: float | None = None
        self._delay_of: tuple[int, float] = (0, 0.0)

    def _start_tenacity(self) -> tenacity.AttemptManager:
        # Imported on the first failure: a process whose calls all succeed never loads it.
        import tenacity

        policy = self.policy
        self._backoff = tenacity.wait_random_exponential(
            multiplier=policy.initial_delay, exp_base=policy.backoff_factor, max=policy.max_delay
        )
        retrying = tenacity.Retrying(
            # stop_any calls each stop with the retry state; a plain callable is one at runtime
            # (its annotations ask for a stop_base).
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(self.max_retries + 1),
                cast("tenacity.stop.stop_base", self._past_deadline),
            ),
            wait=self._delay,
            retry=tenacity.retry_if_exception(self.retry_on),
            sleep=self._record_sleep,
            reraise=True,
        )
        self._attempts = iter(retrying)
        return next(self._attempts)  # the first attempt: the one already made

    # ---- strategies and hooks handed to tenacity --------------------------------------

    def _delay(self, retry_state: tenacity.RetryCallState) -> float:
        """The wait before the next attempt: the server's ``Retry-After``, else jittered backoff.

        Computed once per failed attempt: tenacity asks the stop (deadline) and the wait in an
        order that differs between its versions, and the jitter must be the same for both.
        """
        number = retry_state.attempt_number
        if self._delay_of[0] != number:
            server = (
                None if self._last_error is None else self.policy.server_delay(self._last_error)
            )
            delay = self._backoff(retry_state) if server is None else server
            self._delay_of = (number, delay)
        return self._delay_of[1]

    def _past_deadline(self, retry_state: tenacity.RetryCallState) -> bool:
        """Whether the next attempt would start at or past the deadline (after the wait)."""
        deadline = self.policy.deadline
        if deadline is None:
            return False
        return self._failed_at - self._start_time + self._delay(retry_state) >= deadline

    def _record_sleep(self, seconds: float) -> None:
        self._slept = float(seconds)

    # ---- the interface of the client core --------------------------------------------

    @property
    def attempt_number(self) -> int:
        """1 for the first attempt, 2 for the first retry, …"""
        return 1 if self._current is None else self._current.retry_state.attempt_number

    @property
    def last_error(self) -> BaseException | None:
        """The error of the latest failed attempt, if the latest attempt failed."""
        return self._last_error

    def next(self) -> Attempt | Wait | Done[T]:
        """The next step; raises the last error when the failure is final."""
        if self._done is not None:
            return self._done
        if self._attempts is None or self._attempt_due:
            self._attempt_due = False
            return Attempt()
        # tenacity decides: re-raise (not retryable, or stopped), or sleep and attempt again.
        self._slept = None
        self._current = next(self._attempts)
        delay = 0.0 if self._slept is None else self._slept
        self._attempt_due = True
        # Error messages are built from redacted text; they never carry credentials.
        logger.warning(
            "Retrying in %.2f s (retry %d of %d) after: %s",
            delay,
            self._current.retry_state.attempt_number - 1,
            self.max_retries,
            self._last_error,
        )
        return Wait(delay)

    def succeeded(self, value: T) -> None:
        """Record the current attempt's result."""
        self._last_error = None
        self._done = Done(value)

    def failed(self, exc: LlamaCloudError) -> None:
        """Record the current attempt's error."""
        if self._current is None:
            self._current = self._start_tenacity()
        self._failed_at = self.policy.clock()
        self._last_error = exc
        with self._current:  # tenacity's attempt context records the error (and swallows it)
            raise exc
