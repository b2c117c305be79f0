"""``llamabatch``: the operator's command line for LlamaCloud batch jobs.

Commands: ``jobs``, ``submit``, ``status``, ``wait``, ``cancel``, ``items``, ``results``, ``emulator``
and ``demo``. Credentials come from the environment (``LLAMA_CLOUD_API_KEY``, then
``LLAMA_PARSE_API_KEY``; ``LLAMA_CLOUD_BASE_URL``) or from a saved ``LlamaCloudCredentials`` block
(``--block NAME``). There is deliberately no ``--api-key`` option: a key on the command line ends up
in shell history and in ``ps`` output.

Exit codes (see :class:`ExitCode`) are stable so scripts can rely on them::

    0   success
    1   the job failed or was cancelled, or items failed beyond --max-failed-fraction
    2   usage error or bad input (nothing was sent to the API)
    3   authentication or permission problem (no key, or the API refused it)
    4   not found (job, item or credentials block)
    5   the API is unreachable or unavailable (connection errors, timeouts, 5xx/429 after retries)
    6   gave up waiting (``wait --timeout``); the job is still running
    130 interrupted (Ctrl-C); a job being waited on keeps running

Example:
    ```bash
    export LLAMA_CLOUD_API_KEY=llx-...
    llamabatch submit --directory-id dir-123 --config '{"parameters": {"fast_mode": true}}' --wait
    llamabatch items bjb-456 --status failed --json | jq -r '.[].item_name'
    ```
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from cyclopts import App, Parameter
from cyclopts.exceptions import CycloptsError
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from prefect_llamabatch._config import API_KEY_ENV_VARS
from prefect_llamabatch._dispatch import Call, SyncPort, drive
from prefect_llamabatch._version import __version__
from prefect_llamabatch.client import BatchClient
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    LlamaCloudError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from prefect_llamabatch.models import (
    BatchJob,
    BatchJobCreate,
    BatchJobStatus,
    ItemStatus,
    JobItem,
    JobStatus,
    JobType,
)
from prefect_llamabatch.results import (
    BatchApiUnavailable,
    BatchItemsFailed,
    BatchJobTimeout,
    BatchRunError,
    BatchRunResult,
    check_outcome,
)
from prefect_llamabatch.retries import RetryPolicy
from prefect_llamabatch.waiting import WaitSettings, wait_steps

__all__ = ["ExitCode", "app", "exit_code_for", "main", "run"]

_LOGGER = logging.getLogger("prefect_llamabatch.cli")


class ExitCode(IntEnum):
    """Process exit codes of ``llamabatch``; part of its public interface."""

    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    UNAVAILABLE = 5
    TIMEOUT = 6
    INTERRUPTED = 130


class CliError(Exception):
    """An error the CLI reports as one line on stderr, with a chosen exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an exception escaping a command.

    Example:
        ```python
        from prefect_llamabatch.cli import ExitCode, exit_code_for
        from prefect_llamabatch.errors import error_for_status

        assert exit_code_for(error_for_status(404, method="GET", path="/x")) is ExitCode.NOT_FOUND
        assert exit_code_for(KeyboardInterrupt()) is ExitCode.INTERRUPTED
        ```
    """
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, BatchJobTimeout):
        return ExitCode.TIMEOUT
    if isinstance(exc, BatchApiUnavailable):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, BatchRunError):
        return ExitCode.FAILED
    if isinstance(exc, (CycloptsError, ValidationError, ValueError)):
        return ExitCode.USAGE
    if isinstance(exc, (BadRequestError, UnprocessableEntityError)):
        return ExitCode.USAGE
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return ExitCode.AUTH
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, (APIConnectionError, ServerError, RateLimitError)):
        return ExitCode.UNAVAILABLE
    return ExitCode.FAILED


_UNION_TAGS = frozenset({"parse", "classify"})


def _describe_validation_error(
    exc: ValidationError, flags: dict[str, str] | None = None, whole: str | None = None
) -> str:
    """One line per problem, naming the CLI flag when ``flags`` maps the field to one.

    Built from locations and messages only: pydantic's own text may echo the input, which can
    hold a secret parse option.
    """
    flags = flags or {}
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        if loc and loc[0] in flags:
            rest = loc[1:]
            if rest and rest[0] in _UNION_TAGS:  # the job_config union's member, not a field
                rest = rest[1:]
            where = flags[loc[0]] + (f" ({'.'.join(rest)})" if rest else "")
        else:
            where = ".".join(loc) or whole or exc.title
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def _stdout() -> Console:
    # Resolved per call so a redirected sys.stdout (tests, pipes) is honoured.
    return Console(soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


# --------------------------------------------------------------------------------------------
# Shared options and the client
# --------------------------------------------------------------------------------------------


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


def _open_client(conn: Connection) -> BatchClient:
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
        credentials = _load_credentials_block(conn.block)
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


def _load_credentials_block(name: str) -> LlamaCloudCredentials:
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
def _client(conn: Connection) -> Iterator[BatchClient]:
    client = _open_client(conn)
    try:
        with client:
            yield client
    except APIConnectionError as exc:
        # The client's message names the path only; an operator needs the host too.
        raise CliError(ExitCode.UNAVAILABLE, f"{exc} (API at {client.base_url})") from None


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _print_json(value: Any) -> None:
    # Plain print, not rich: rich would wrap and highlight, breaking `| jq`.
    print(json.dumps(_dump(value), indent=2, default=str))


def _enum_text(value: object) -> str:
    return str(getattr(value, "value", value))


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _job_table(jobs: Sequence[BatchJob], title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("job id", "type", "status", "items", "done", "failed", "skipped", "created"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            job.id,
            _enum_text(job.job_type),
            _enum_text(job.status),
            str(job.total_items),
            str(job.processed_items or 0),
            str(job.failed_items or 0),
            str(job.skipped_items or 0),
            _when(job.created_at),
        )
    return table


def _print_status(status: BatchJobStatus) -> None:
    job = status.job
    console = _stdout()
    console.print(_job_table([job], title=f"{job.id}: {_enum_text(job.status)}"))
    console.print(f"progress: {status.progress_percentage:.0f}%")
    if job.directory_id:
        console.print(f"directory: {job.directory_id}")
    if job.error_message:
        console.print(f"error: {job.error_message}")


# --------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------

app = App(
    name="llamabatch",
    help="Submit, watch and inspect LlamaCloud batch jobs (see exit codes in the README).",
    version=__version__,
    # run() maps Ctrl-C to exit 130 itself, after the command printed what it left running.
    suppress_keyboard_interrupt=False,
)

JobStatusChoice = Literal["pending", "running", "dispatched", "completed", "failed", "cancelled"]
ItemStatusChoice = Literal["pending", "processing", "completed", "failed", "skipped", "cancelled"]
JobTypeChoice = Literal["parse", "extract", "classify"]


def _non_empty(name: str, value: str) -> str:
    if not value.strip():
        raise CliError(ExitCode.USAGE, f"{name}: must not be empty")
    return value


@app.command
def jobs(
    *,
    directory_id: str | None = None,
    job_type: JobTypeChoice | None = None,
    status: JobStatusChoice | None = None,
    limit: int = 20,
    offset: int = 0,
    conn: Connection | None = None,
) -> int:
    """List batch jobs, newest first, with optional filters.

    Parameters
    ----------
    directory_id
        Only jobs of this directory.
    job_type
        Only jobs of this type.
    status
        Only jobs in this status.
    limit
        At most this many jobs (one page).
    offset
        Skip this many jobs first.
    """
    conn = conn or Connection()
    if limit < 1:
        raise CliError(ExitCode.USAGE, f"--limit: must be at least 1 (got {limit})")
    if offset < 0:
        raise CliError(ExitCode.USAGE, f"--offset: must not be negative (got {offset})")
    with _client(conn) as client:
        page = client.list_jobs(
            directory_id=directory_id,
            job_type=JobType(job_type) if job_type else None,
            status=JobStatus(status) if status else None,
            limit=limit,
            offset=offset,
        )
    if conn.json:
        _print_json(page.items)
    else:
        total = f" of {page.total_size}" if page.total_size is not None else ""
        _stdout().print(_job_table(page.items, title=f"{len(page.items)}{total} jobs"))
    return ExitCode.OK


def _read_job_config(config: str | None, config_file: Path | None) -> Any:
    if config is not None and config_file is not None:
        raise CliError(ExitCode.USAGE, "give --config or --config-file, not both")
    if config_file is not None:
        if str(config_file) == "-":
            text, source = sys.stdin.read(), "--config-file -"
        else:
            try:
                text = config_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise CliError(
                    ExitCode.USAGE, f"--config-file: cannot read {config_file}: {exc.strerror}"
                ) from None
            source = f"--config-file {config_file}"
    elif config is not None:
        text, source = config, "--config"
    else:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            ExitCode.USAGE,
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
        ) from None
    if not isinstance(value, dict):
        raise CliError(ExitCode.USAGE, f"{source}: the job config must be a JSON object")
    return value


_SUBMIT_FLAGS = {
    "job_config": "--config",
    "directory_id": "--directory-id",
    "item_ids": "--item-id",
}


@app.command
def submit(
    *,
    directory_id: str | None = None,
    item_id: Annotated[list[str] | None, Parameter(consume_multiple=True)] = None,
    config: str | None = None,
    config_file: Annotated[Path | None, Parameter(allow_leading_hyphen=True)] = None,
    idempotency_key: str | None = None,
    wait: bool = False,
    timeout: float | None = None,
    poll_interval: float = 2.0,
    max_failed_fraction: float = 0.0,
    conn: Connection | None = None,
) -> int:
    """Submit a batch job over a directory or a list of items.

    The body is validated before anything is sent: an unknown or misspelt config field is an
    error naming it.

    Parameters
    ----------
    directory_id
        Process every file of this directory (dir-...).
    item_id
        Process these items (directory file ids, dfl-...); repeat or list several.
    config
        The job config as JSON: a parse config ('{"parameters": {...}}', '{}' for defaults) or
        a classify config ('{"rules": [{"type": ..., "description": ...}]}').
    config_file
        Read the job config from this JSON file ('-' for stdin).
    idempotency_key
        Key that makes re-submitting the same job safe.
    wait
        Wait for the job to finish, with a progress bar; the exit code then reflects the outcome.
    timeout
        With --wait: give up waiting after this many seconds (exit 6).
    poll_interval
        With --wait: seconds between status polls at first.
    max_failed_fraction
        With --wait: fraction of failed items (0..1) still counted as success.
    """
    conn = conn or Connection()
    job_config = _read_job_config(config, config_file)
    if idempotency_key is not None:
        _non_empty("--idempotency-key", idempotency_key)
    settings = _wait_settings(timeout, poll_interval) if wait else None
    _check_fraction(max_failed_fraction)
    try:
        body = BatchJobCreate.model_validate(
            {
                "job_config": job_config,
                **({"directory_id": directory_id} if directory_id is not None else {}),
                **({"item_ids": item_id} if item_id is not None else {}),
            }
        )
    except ValidationError as exc:
        raise CliError(
            ExitCode.USAGE,
            _describe_validation_error(exc, _SUBMIT_FLAGS, whole="--directory-id/--item-id"),
        ) from None
    with _client(conn) as client:
        job = client.create_job(body, idempotency_key=idempotency_key)
        if settings is None:
            if conn.json:
                _print_json(job)
            else:
                _stdout().print(
                    f"submitted {job.id} ({_enum_text(job.job_type)}, "
                    f"{job.total_items} items, {_enum_text(job.status)})"
                )
            return ExitCode.OK
        assert settings is not None
        _stderr().print(f"submitted {job.id}")
        return _wait_and_report(client, job.id, conn, settings, max_failed_fraction)


@app.command
def status(job_id: str, *, conn: Connection | None = None) -> int:
    """Show a job's status, counts and progress (exit 0 whenever the job could be read).

    Parameters
    ----------
    job_id
        The batch job id (bjb-...).
    """
    conn = conn or Connection()
    _non_empty("JOB_ID", job_id)
    with _client(conn) as client:
        result = client.get_job(job_id)
    if conn.json:
        _print_json(result)
    else:
        _print_status(result)
    return ExitCode.OK


class _ProgressPort(SyncPort):
    """A sync port that also draws each polled status on a progress bar."""

    def __init__(self, client: BatchClient, progress: Progress, bar: TaskID) -> None:
        super().__init__(client)
        self._progress = progress
        self._bar = bar

    def run(self, call: Call) -> Any:
        value = super().run(call)
        if call.op == "get_job" and isinstance(value, BatchJobStatus):
            job = value.job
            self._progress.update(
                self._bar,
                description=f"{job.id} {job.status_value}",
                total=job.total_items or None,
                # processed_items counts every item in a final status (failed and skipped too).
                completed=job.processed_items or 0,
            )
        return value


def _wait_and_report(
    client: BatchClient,
    job_id: str,
    conn: Connection,
    settings: WaitSettings,
    max_failed_fraction: float,
) -> int:
    """Wait with the package's wait loop (no artifacts, no events), then judge the outcome."""
    err = _stderr()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    try:
        with progress:
            bar = progress.add_task(f"{job_id} waiting", total=None)
            outcome = drive(
                wait_steps(job_id, settings, logger=_LOGGER, api=client.base_url),
                _ProgressPort(client, progress, bar),
            )
    except KeyboardInterrupt:
        err.print(
            f"interrupted; {job_id} keeps running (stop it with `llamabatch cancel {job_id}`)"
        )
        raise
    final = outcome.status
    if conn.json:
        _print_json(final)
    else:
        _print_status(final)
    result = BatchRunResult.from_job(
        final.job,
        progress_percentage=final.progress_percentage,
        duration_seconds=outcome.elapsed_seconds,
    )
    try:
        judged = check_outcome(result, max_failed_fraction=max_failed_fraction)
    except BatchItemsFailed as exc:
        raise CliError(
            ExitCode.FAILED, f"{exc}; list them with `llamabatch items {job_id} --status failed`"
        ) from None
    err.print(judged.summary(), markup=False, highlight=False)
    return ExitCode.OK


def _wait_settings(timeout: float | None, poll_interval: float) -> WaitSettings:
    try:
        return WaitSettings(
            poll_interval=poll_interval,
            max_poll_interval=max(poll_interval, 30.0),
            timeout_seconds=timeout,
            cancel_on_timeout=False,
            progress_artifact=False,
            emit_events=False,
        )
    except ValidationError as exc:
        names = {"poll_interval": "--poll-interval", "timeout_seconds": "--timeout"}
        problems = "; ".join(
            f"{names.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'wait'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise CliError(ExitCode.USAGE, problems) from None


def _check_fraction(max_failed_fraction: float) -> float:
    if not 0.0 <= max_failed_fraction <= 1.0:
        raise CliError(
            ExitCode.USAGE,
            f"--max-failed-fraction: must be between 0 and 1 (got {max_failed_fraction})",
        )
    return max_failed_fraction


@app.command(name="wait")
def wait_command(
    job_id: str,
    *,
    timeout: float | None = None,
    poll_interval: float = 2.0,
    max_failed_fraction: float = 0.0,
    conn: Connection | None = None,
) -> int:
    """Wait for a job to finish with a live progress bar; the exit code is the outcome.

    Exit 0 when the job completed with no more failed items than allowed, 1 when it failed, was
    cancelled or too many items failed, 6 when --timeout ran out first.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...).
    timeout
        Give up waiting after this many seconds (the job keeps running).
    poll_interval
        Seconds between status polls at first (polling backs off from there).
    max_failed_fraction
        Fraction of failed items (0..1) still counted as success.
    """
    conn = conn or Connection()
    _non_empty("JOB_ID", job_id)
    settings = _wait_settings(timeout, poll_interval)
    _check_fraction(max_failed_fraction)
    with _client(conn) as client:
        return _wait_and_report(client, job_id, conn, settings, max_failed_fraction)


@app.command
def cancel(job_id: str, *, reason: str | None = None, conn: Connection | None = None) -> int:
    """Cancel a job. Cancelling a job that already finished is not an error.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...).
    reason
        Why, recorded with the cancellation.
    """
    conn = conn or Connection()
    _non_empty("JOB_ID", job_id)
    with _client(conn) as client:
        result = client.cancel_job(job_id, reason=reason)
    if conn.json:
        _print_json(result)
    else:
        message = f": {result.message}" if result.message else ""
        _stdout().print(f"{result.job_id} {_enum_text(result.status)}{message}")
    return ExitCode.OK


def _items_table(items: Sequence[JobItem], title: str) -> Table:
    table = Table(title=title)
    for column in ("item id", "name", "status", "error / skip reason", "item job id", "finished"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            item.item_id,
            item.item_name,
            _enum_text(item.status),
            item.error_message or item.skip_reason or "",
            item.job_id or "",
            _when(item.completed_at),
        )
    return table


@app.command
def items(
    job_id: str,
    *,
    status: ItemStatusChoice | None = None,
    limit: int | None = None,
    conn: Connection | None = None,
) -> int:
    """List a job's items, e.g. the failed ones with their errors.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...).
    status
        Only items in this status.
    limit
        At most this many items (default: all, fetched page by page).
    """
    conn = conn or Connection()
    _non_empty("JOB_ID", job_id)
    if limit is not None and limit < 1:
        raise CliError(ExitCode.USAGE, f"--limit: must be at least 1 (got {limit})")
    found: list[JobItem] = []
    with _client(conn) as client:
        for item in client.iter_items(job_id, status=ItemStatus(status) if status else None):
            found.append(item)
            if limit is not None and len(found) >= limit:
                break
    if conn.json:
        _print_json(found)
    else:
        which = f"{status} " if status else ""
        _stdout().print(_items_table(found, title=f"{len(found)} {which}items of {job_id}"))
    return ExitCode.OK


@app.command
def results(
    item_id: str,
    *,
    job_type: JobTypeChoice | None = None,
    conn: Connection | None = None,
) -> int:
    """Show every processing result of one item (config hash, output location).

    Parameters
    ----------
    item_id
        The item id (a directory file id, dfl-...).
    job_type
        Only results of this job type.
    """
    conn = conn or Connection()
    _non_empty("ITEM_ID", item_id)
    with _client(conn) as client:
        found = client.get_item_results(item_id, job_type=JobType(job_type) if job_type else None)
    if conn.json:
        _print_json(found)
        return ExitCode.OK
    table = Table(title=f"results of {found.item_name} ({found.item_id})")
    for column in ("result id", "type", "processed", "parameters hash", "output"):
        table.add_column(column, overflow="fold")
    for result in found.processing_results or []:
        table.add_row(
            result.result_id,
            _enum_text(result.job_type),
            _when(result.processed_at),
            result.parameters_hash,
            result.output_s3_path,
        )
    _stdout().print(table)
    return ExitCode.OK


@app.command
def emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    db: Path | None = None,
    data_dir: Path | None = None,
    api_key: Annotated[list[str] | None, Parameter(name="--api-key")] = None,
    admin_token: str | None = None,
    time_scale: float = 1.0,
    item_duration: float = 0.1,
    concurrency: int = 4,
    failure_pattern: list[str] | None = None,
    transient_failure_pattern: list[str] | None = None,
    failure_rate: float = 0.0,
    seed: int = 0,
    fault: list[str] | None = None,
    max_file_size: int | None = None,
    response_latency: float = 0.0,
    dispatched_status: bool = False,
    allow_remote: bool = False,
) -> int:
    """Run the local LlamaCloud emulator in the foreground until Ctrl-C (see docs/emulator.md).

    It prints the `export LLAMA_CLOUD_BASE_URL=... LLAMA_CLOUD_API_KEY=...` line to paste into
    another shell, so every other command (and your flows) talk to it.

    Parameters
    ----------
    host
        Address to listen on (loopback only, unless --allow-remote).
    port
        Port (0: a free one).
    db
        SQLite file keeping state across restarts (default: in memory).
    data_dir
        Folder for uploads and outputs.
    api_key
        An accepted key, KEY:[ORG:]PROJECT[,PROJECT] (repeatable; default: llx-emulator-local-key).
    admin_token
        Token of the /_emulator admin API (default: random).
    time_scale
        Multiplies simulated durations (0.01 runs 100x faster).
    item_duration
        Simulated seconds per item.
    concurrency
        Items in flight per job.
    failure_pattern
        Glob of file names that always fail (repeatable).
    transient_failure_pattern
        Glob of file names that fail on their first processing only (repeatable).
    failure_rate
        Fraction of other items that fail (seeded, reproducible).
    seed
        Seed of the failure rate and of random faults.
    fault
        Injected fault ROUTE:KIND[=VALUE][:RATE[:COUNT]], e.g. get_job:503:0.1 (repeatable).
    max_file_size
        Bytes; larger files are skipped (size_limit_exceeded).
    response_latency
        Seconds added to every response.
    dispatched_status
        Report 'dispatched' once every item was handed out.
    allow_remote
        Allow a non-loopback --host (the emulator has no real security).
    """
    from prefect_llamabatch.emulator.cli import serve_from_cli

    serve_from_cli(
        host=host,
        port=port,
        db=db,
        data_dir=data_dir,
        api_key=api_key or (),
        admin_token=admin_token,
        time_scale=time_scale,
        item_duration=item_duration,
        concurrency=concurrency,
        failure_pattern=failure_pattern or (),
        transient_failure_pattern=transient_failure_pattern or (),
        failure_rate=failure_rate,
        seed=seed,
        fault=fault or (),
        max_file_size=max_file_size,
        response_latency=response_latency,
        dispatched_status=dispatched_status,
        allow_remote=allow_remote,
    )
    return ExitCode.OK


@app.command
def demo(
    *,
    emulator: bool = False,
    docs: Path | None = None,
    time_scale: float = 1.0,
    workdir: Path | None = None,
) -> int:
    """Run the end-to-end demo: upload, parse, report, retry the failed items.

    Parameters
    ----------
    emulator
        Run against an in-process LlamaCloud emulator (no key needed). Without it the demo
        needs LLAMA_CLOUD_API_KEY and runs against LlamaCloud.
    docs
        Folder of documents to process (default: the packaged sample documents).
    time_scale
        Emulator speed: simulated processing times are multiplied by this.
    workdir
        Where the demo keeps the emulator's state and outputs
        (default: $PREFECT_HOME/llamabatch-demo).
    """
    from prefect_llamabatch.demo import run_demo

    return run_demo(emulator=emulator, docs=docs, time_scale=time_scale, workdir=workdir).exit_code


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def run(argv: Sequence[str] | None = None) -> int:
    """Run one ``llamabatch`` command and return its exit code (never raises for user errors).

    Example:
        ```python
        from prefect_llamabatch.cli import ExitCode, run

        assert run(["jobs", "--limit", "0"]) == ExitCode.USAGE
        ```
    """
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(tokens, exit_on_error=False, result_action="return_value")
    except CycloptsError:
        return ExitCode.USAGE  # cyclopts already printed the problem
    except ValidationError as exc:
        _stderr().print(
            f"error: invalid {exc.title}\n{_describe_validation_error(exc)}",
            markup=False,
            highlight=False,
        )
        return ExitCode.USAGE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except (CliError, LlamaCloudError, BatchRunError, ValueError) as exc:
        _stderr().print(f"error: {exc}", markup=False, highlight=False)
        return exit_code_for(exc)
    return int(result) if isinstance(result, int) else ExitCode.OK


def main() -> None:
    """Console-script entry point (``llamabatch``)."""
    sys.exit(run())
