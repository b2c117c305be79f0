"""What both clients share by hand: configuration, the core, stats, construction helpers."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import SecretStr

from prefect_llamabatch.client._transport import DEFAULT_MAX_RESPONSE_BYTES, Limits
from prefect_llamabatch.client.core import ClientCore
from prefect_llamabatch.client.effects import Effect, Op
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.client.retries import RetryPolicy
from prefect_llamabatch.client.stats import ClientStats

C = TypeVar("C", bound="ClientBase")


class Credentials(Protocol):
    """What :meth:`ClientBase.from_credentials` reads (a ``LlamaCloudCredentials`` block has it).

    A protocol, so that the client never imports the Prefect block above it.
    """

    @property
    def api_key(self) -> SecretStr: ...
    @property
    def base_url(self) -> str: ...
    @property
    def organization_id(self) -> str | None: ...
    @property
    def project_id(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def retry_deadline(self) -> float | None: ...
    @property
    def retry_initial_delay(self) -> float: ...
    @property
    def retry_max_delay(self) -> float: ...


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout: must be a number of seconds > 0, got {timeout!r}")
    return httpx.Timeout(float(timeout))


def _within(timeout: httpx.Timeout, deadline: float) -> httpx.Timeout:
    # No single phase may outlast the deadline (the sync client cannot cut a stalled connect).
    def cap(phase: float | None) -> float:
        return deadline if phase is None else min(phase, deadline)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


class LazyModule:
    """A module imported on its first attribute access, not when the importing module loads.

    The clients reach the v2 endpoints (``core_v2``, ``jobs_v2``) through it, so a v1 user's
    ``import prefect_llamabatch.client`` does not build the v2 models (bench B5). Bind the real
    module under ``TYPE_CHECKING`` so mypy checks every use.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            # import_module holds the import lock: two threads racing here get the same module.
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"


def resume(op: Op[Any], outcome: Any) -> Effect[Any]:
    """Resume ``op`` with the outcome of its instruction; a refusal is raised inside it, at its
    ``yield``, so that the core handles it like any error of the request."""
    if isinstance(outcome, LlamaCloudError):
        return op.throw(outcome)
    return op.send(outcome)


class ClientBase:
    """Configuration, the core, stats and construction helpers of both clients."""

    def __init__(
        self,
        api_key: str | SecretStr | None,
        *,
        base_url: str | None,
        organization_id: str | None,
        project_id: str | None,
        timeout: float | httpx.Timeout,
        request_deadline: float | None,
        max_response_bytes: int,
        retry: RetryPolicy | None,
        max_concurrency: int,
    ) -> None:
        self._core = ClientCore(
            api_key=api_key,
            base_url=base_url,
            organization_id=organization_id,
            project_id=project_id,
            retry=retry,
            max_concurrency=max_concurrency,
        )
        self._limits = Limits.of(_timeout(timeout), request_deadline, max_response_bytes)
        self._timeout = _within(_timeout(timeout), self._limits.deadline)

    @classmethod
    def from_env(cls: type[C], **overrides: Any) -> C:
        """A client configured from ``LLAMA_CLOUD_API_KEY`` (or ``LLAMA_PARSE_API_KEY``) and
        ``LLAMA_CLOUD_BASE_URL``; keyword arguments override."""
        return cls(**overrides)

    @classmethod
    def from_credentials(cls: type[C], credentials: Credentials, **overrides: Any) -> C:
        """A client configured from a ``LlamaCloudCredentials`` block; keyword arguments override."""
        settings: dict[str, Any] = {
            "api_key": credentials.api_key,
            "base_url": credentials.base_url,
            "organization_id": credentials.organization_id,
            "project_id": credentials.project_id,
            "timeout": credentials.timeout,
            "retry": RetryPolicy(
                max_retries=credentials.max_retries,
                deadline=credentials.retry_deadline,
                initial_delay=credentials.retry_initial_delay,
                max_delay=credentials.retry_max_delay,
            ),
        }
        settings.update(overrides)
        return cls(**settings)

    @property
    def base_url(self) -> str:
        """The API host this client talks to."""
        return self._core.base_url

    @property
    def organization_id(self) -> str | None:
        """The default ``organization_id`` query parameter."""
        return self._core.organization_id

    @property
    def project_id(self) -> str | None:
        """The default ``project_id`` query parameter."""
        return self._core.project_id

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy of this client."""
        return self._core.policy

    @property
    def request_deadline(self) -> float:
        """Seconds one request may take, from connecting to the last byte of the response."""
        return self._limits.deadline

    @property
    def max_response_bytes(self) -> int:
        """The largest response body this client reads."""
        return self._limits.max_response_bytes

    @property
    def stats(self) -> ClientStats:
        """Requests, retries and create reconciliations performed by this client so far."""
        return self._core.counters.snapshot()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "ClientBase", "Credentials", "LazyModule", "resume"]
