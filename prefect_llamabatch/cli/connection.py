"""Where the CLI connects and the checks every command shares: options, the client, ids.

``Connection`` holds the options of every API command (``--block``, ``--base-url`` …, ``--json``);
:func:`connect` opens a sync client from ``--block`` or the environment, checked before any
request. :func:`api_of` says which API an id belongs to.

Example:
    ```python
    from prefect_llamabatch.cli.connection import api_of

    assert api_of("bat-1", "auto") == "v2" and api_of("bjb-1", "auto") == "v1"
    assert api_of("bat-1", "v1") == "v1"  # --api wins over the prefix
    ```
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from cyclopts import Parameter

from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.client import BatchClient
from prefect_llamabatch.client.config import API_KEY_ENV_VARS
from prefect_llamabatch.client.errors import APIConnectionError
from prefect_llamabatch.client.request import check_id
from prefect_llamabatch.client.retries import RetryPolicy
from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "V2_BATCH_PREFIX",
    "Api",
    "ApiChoice",
    "Connection",
    "api_of",
    "check_fraction",
    "checked_id",
    "connect",
    "non_empty",
    "open_client",
    "target_api",
]

ApiChoice = Literal["auto", "v1", "v2"]
Api = Literal["v1", "v2"]
# The v2 reference documents batch ids as `bat-…` (and v1 job ids as `bjb-…`). Only that
# documented prefix selects v2 by itself; any other id stays v1, the CLI's behaviour before v2.
V2_BATCH_PREFIX = "bat-"


@Parameter(name="*")
@dataclass
class Connection:
    """Where to connect and how to print; shared by every API command."""

    block: Annotated[str | None, Parameter(name="--block")] = None
    """Name of a saved LlamaCloudCredentials block to use instead of the environment."""

    base_url: Annotated[str | None, Parameter(name="--base-url")] = None
    """API base URL (default: $LLAMA_CLOUD_BASE_URL, then https://api.cloud.llamaindex.ai)."""

    project_id: Annotated[str | None, Parameter(name="--project-id")] = None
    """Project to act in (default: the key's default project)."""

    organization_id: Annotated[str | None, Parameter(name="--organization-id")] = None
    """Organization to act in (default: the key's organization)."""

    max_retries: Annotated[int | None, Parameter(name="--max-retries")] = None
    """Retries of a failed request (default: 5, or the block's setting); 0 fails fast."""

    json: Annotated[bool, Parameter(name="--json", negative=())] = False
    """Print machine-readable JSON on stdout instead of tables."""


def open_client(conn: Connection) -> BatchClient:
    """A sync client from ``--block`` or the environment, checked before any request."""
    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("base_url", conn.base_url),
            ("project_id", conn.project_id),
            ("organization_id", conn.organization_id),
        )
        if value is not None
    }
    if conn.max_retries is not None and conn.max_retries < 0:
        raise CliError(
            ExitCode.USAGE, f"--max-retries: must not be negative (got {conn.max_retries})"
        )
    if conn.block is not None:
        credentials = load_credentials_block(conn.block)
        if conn.max_retries is not None:
            # Only the count changes; the block's deadline and backoff stay.
            credentials = credentials.model_copy(update={"max_retries": conn.max_retries})
        return credentials.get_client(**overrides)
    if conn.max_retries is not None:
        overrides["retry"] = RetryPolicy(max_retries=conn.max_retries)
    # Checked here too, so the message can mention --block (the client's cannot).
    if not any(os.environ.get(name) for name in API_KEY_ENV_VARS):
        raise CliError(
            ExitCode.AUTH,
            "no API key: set LLAMA_CLOUD_API_KEY (or LLAMA_PARSE_API_KEY), "
            "or pass --block NAME to use a saved LlamaCloudCredentials block",
        )
    return BatchClient.from_env(**overrides)


def load_credentials_block(name: str) -> LlamaCloudCredentials:
    if not name.strip():
        raise CliError(ExitCode.USAGE, "--block: the block name is empty")
    try:
        # CLI commands are sync; `_sync=True` keeps async_dispatch from handing back a coroutine.
        return cast(LlamaCloudCredentials, LlamaCloudCredentials.load(name, _sync=True))  # type: ignore[call-arg]
    except ValueError as exc:
        # Prefect raises ValueError for a missing block document.
        if "Unable to find" in str(exc) or "not found" in str(exc).lower():
            raise CliError(
                ExitCode.NOT_FOUND,
                f"--block: no LlamaCloudCredentials block named {name!r} "
                "(list them with `prefect block ls`)",
            ) from None
        raise


@contextmanager
def connect(conn: Connection) -> Iterator[BatchClient]:
    client = open_client(conn)
    try:
        with client:
            yield client
    except APIConnectionError as exc:
        # The client's message names the path only; an operator needs the host too.
        raise CliError(ExitCode.UNAVAILABLE, f"{exc} (API at {client.base_url})") from None


def non_empty(name: str, value: str) -> str:
    if not value.strip():
        raise CliError(ExitCode.USAGE, f"{name}: must not be empty")
    return value


def check_fraction(max_failed_fraction: float) -> float:
    if not 0.0 <= max_failed_fraction <= 1.0:
        raise CliError(
            ExitCode.USAGE,
            f"--max-failed-fraction: must be between 0 and 1 (got {max_failed_fraction})",
        )
    return max_failed_fraction


def api_of(job_id: str, api: ApiChoice) -> Api:
    """The API of a job or batch id: ``--api`` when given, else v2 for ``bat-…`` ids."""
    if api != "auto":
        return api
    return "v2" if job_id.startswith(V2_BATCH_PREFIX) else "v1"


def checked_id(name: str, value: str) -> str:
    """``value`` if it can be sent as an id, else a usage error naming ``name`` (the flag)."""
    try:
        return check_id(name, value)
    except ValueError as exc:
        raise CliError(ExitCode.USAGE, str(exc)) from None


def target_api(job_id: str, api: ApiChoice) -> Api:
    """The API of JOB_ID, checked: never empty; a v2 id that could not be sent is refused.

    (A v1 id is checked by the client, as before v2.)
    """
    non_empty("JOB_ID", job_id)
    which = api_of(job_id, api)
    if which == "v2":
        checked_id("JOB_ID", job_id)
    return which
