"""What the clients retry, how long they wait, and when a create must be reconciled first.

The strategies are tenacity's (``stop_after_attempt``, ``stop_before_delay``,
``wait_random_exponential``, ``retry_if_exception``); :class:`RetryPolicy` configures them and
:class:`RetryLoop` drives tenacity's own state machine (``BaseRetrying.iter``) one step at a time,
so the sans-IO client core can yield "send"/"sleep" instructions instead of blocking.

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
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import tenacity
from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.errors import APIConnectionError, APIStatusError, LlamaCloudError

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
        from prefect_llamabatch.retries import parse_retry_after

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
    """How the clients retry failed requests (configures tenacity's strategies).

    Time sources are injectable (``clock``, ``utcnow``) so tests run the deadline logic without
    waiting; the clients take an injectable ``sleep`` for the same reason.

    Example:
        ```python
        from prefect_llamabatch.retries import RetryPolicy

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
        description="Allowance (s) between our clock and the server's when reconciling a create.",
    )
    reconcile_page_size: int = Field(default=100, gt=0, description="Page size of reconciliation.")
    reconcile_max_pages: int = Field(
        default=10, gt=0, description="Pages scanned when looking for a job we may have created."
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

    def retrying(self, *, max_retries: int | None = None) -> tenacity.Retrying:
        """A tenacity ``Retrying`` with this policy's stop, wait and retry strategies."""
        attempts = (self.max_retries if max_retries is None else max_retries) + 1
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(attempts)
        if self.deadline is not None:
            stop = stop | tenacity.stop_before_delay(self.deadline)
        return tenacity.Retrying(
            stop=stop,
            wait=_WaitRetryAfter(
                self,
                tenacity.wait_random_exponential(
                    multiplier=self.initial_delay,
                    exp_base=self.backoff_factor,
                    max=self.max_delay,
                ),
            ),
            retry=tenacity.retry_if_exception(self.is_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )

    def loop(self) -> RetryLoop[Any]:
        """A fresh retry state for one logical operation."""
        return RetryLoop(self)


class _WaitRetryAfter(tenacity.wait.wait_base):
    """The server's ``Retry-After`` when the failed response has one, else the fallback wait."""

    def __init__(self, policy: RetryPolicy, fallback: tenacity.wait.wait_base) -> None:
        self.policy = policy
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        delay = self.policy.server_delay(exc) if exc is not None else None
        return self.fallback(retry_state) if delay is None else delay


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    retrying = retry_state.retry_object
    limit = ""
    stop = getattr(retrying, "stop", None)
    for part in getattr(stop, "stops", (stop,)):
        if isinstance(part, tenacity.stop_after_attempt):
            limit = f" of {part.max_attempt_number - 1}"
    # Error messages are built from redacted text; they never carry credentials.
    logger.warning(
        "Retrying in %.2f s (retry %d%s) after: %s",
        retry_state.upcoming_sleep,
        retry_state.attempt_number,
        limit,
        exc,
    )


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
    """tenacity's state machine, stepped by hand so a sans-IO core can drive it.

    Call :meth:`next`; on :class:`Attempt` make one attempt and report it with
    :meth:`succeeded` or :meth:`failed`; on :class:`Wait` sleep; on :class:`Done` return its value.
    When retrying stops, :meth:`next` raises the last error.

    Example:
        ```python
        from prefect_llamabatch.retries import Attempt, Done, RetryLoop, RetryPolicy, Wait

        loop = RetryLoop(RetryPolicy())
        assert isinstance(loop.next(), Attempt)
        loop.succeeded("ok")
        step = loop.next()
        assert isinstance(step, Done) and step.value == "ok"
        ```
    """

    def __init__(self, policy: RetryPolicy, *, max_retries: int | None = None) -> None:
        self.policy = policy
        self._max_retries = max_retries
        # Our clock, not tenacity's time.monotonic(), so the deadline is testable.
        self._start_time = policy.clock()
        # Most calls succeed at once: tenacity's state is built on the first failure only
        # (building it costs about as much CPU as parsing the response).
        self._retrying: tenacity.Retrying | None = None
        self._state: tenacity.RetryCallState | None = None
        self._first_success: Done[T] | None = None
        self._pending_sleep = False

    def _tenacity(self) -> tuple[tenacity.Retrying, tenacity.RetryCallState]:
        if self._retrying is None or self._state is None:
            retrying = self.policy.retrying(max_retries=self._max_retries)
            retrying.begin()
            state = tenacity.RetryCallState(retrying, fn=None, args=(), kwargs={})
            state.start_time = self._start_time
            retrying.iter(state)  # tenacity's first step: the attempt already made
            self._retrying, self._state = retrying, state
        return self._retrying, self._state

    @property
    def attempt_number(self) -> int:
        """1 for the first attempt, 2 for the first retry, …"""
        return 1 if self._state is None else self._state.attempt_number

    @property
    def last_error(self) -> BaseException | None:
        """The error of the latest failed attempt, if the latest attempt failed."""
        outcome = None if self._state is None else self._state.outcome
        return outcome.exception() if outcome is not None and outcome.failed else None

    def next(self) -> Attempt | Wait | Done[T]:
        """The next step; raises the last error when the failure is final."""
        if self._state is None:
            return Attempt() if self._first_success is None else self._first_success
        retrying, state = self._tenacity()
        if self._pending_sleep:
            self._pending_sleep = False
            state.prepare_for_next_attempt()
        action = retrying.iter(state)
        if isinstance(action, tenacity.DoAttempt):
            return Attempt()
        if isinstance(action, tenacity.DoSleep):
            self._pending_sleep = True
            return Wait(float(action))
        return Done(action)

    def succeeded(self, value: T) -> None:
        """Record the current attempt's result."""
        if self._state is None:
            self._first_success = Done(value)
            return
        self._state.set_result(value)
        self._state.outcome_timestamp = self.policy.clock()

    def failed(self, exc: LlamaCloudError) -> None:
        """Record the current attempt's error."""
        _, state = self._tenacity()
        state.set_exception((type(exc), exc, exc.__traceback__))
        state.outcome_timestamp = self.policy.clock()
