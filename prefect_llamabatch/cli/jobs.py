"""The job commands: ``jobs``, ``status``, ``wait``, ``cancel``, ``items``, ``results``.

``status``, ``wait``, ``cancel`` and ``items`` serve v1 jobs (``bjb-…``) and v2
batches (``bat-…``, see :mod:`prefect_llamabatch.cli.batches`): ``--api auto`` (the default)
picks v2 for the documented ``bat-`` prefix only, ``--api v1``/``--api v2`` says it outright.

Example:
    ```python
    from prefect_llamabatch.cli import ExitCode, run

    assert run(["status", "bat-1", "--api", "v3"]) == ExitCode.USAGE
    ```
"""

from __future__ import annotations

from typing import Literal

from prefect_llamabatch.cli import batches
from prefect_llamabatch.cli.connection import (
    ApiChoice,
    Connection,
    check_fraction,
    connect,
    non_empty,
    target_api,
)
from prefect_llamabatch.cli.console import (
    enum_text,
    instant,
    new_table,
    newest_first,
    print_json,
    print_table,
    say,
    stdout,
    when,
)
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.cli.inert import cell, clean
from prefect_llamabatch.cli.views import (
    item_recency,
    items_table,
    job_table,
    print_items,
    print_status,
)
from prefect_llamabatch.cli.waiting import wait_and_report, wait_settings
from prefect_llamabatch.models import ItemStatus, JobItem, JobStatus, JobType

__all__ = ["cancel", "items", "jobs", "results", "status", "wait_command"]

JobStatusChoice = Literal["pending", "running", "dispatched", "completed", "failed", "cancelled"]
ItemStatusChoice = Literal["pending", "processing", "completed", "failed", "skipped", "cancelled"]
JobTypeChoice = Literal["parse", "extract", "classify"]


def jobs(
    *,
    directory_id: str | None = None,
    job_type: JobTypeChoice | None = None,
    status: JobStatusChoice | None = None,
    limit: int = 20,
    offset: int = 0,
    conn: Connection | None = None,
) -> int:
    """List batch jobs, newest first (by creation time), with optional filters.

    The API documents no list order, so every matching job is read (page by page) and sorted
    here; --offset and --limit then apply to that order.

    Parameters
    ----------
    directory_id
        Only jobs of this directory.
    job_type
        Only jobs of this type.
    status
        Only jobs in this status.
    limit
        Show at most this many jobs.
    offset
        Skip this many of the newest jobs first.
    """
    conn = conn or Connection()
    if limit < 1:
        raise CliError(ExitCode.USAGE, f"--limit: must be at least 1 (got {limit})")
    if offset < 0:
        raise CliError(ExitCode.USAGE, f"--offset: must not be negative (got {offset})")
    with connect(conn) as client:
        found = client.iter_jobs(
            directory_id=directory_id,
            job_type=JobType(job_type) if job_type else None,
            status=JobStatus(status) if status else None,
        )
        every = newest_first(found, lambda job: instant(job.created_at))
    shown = every[offset : offset + limit]
    if conn.json:
        print_json(shown)
    else:
        title = f"{len(shown)} of {len(every)} jobs, newest first"
        print_table(job_table(shown, title=title))
    return ExitCode.OK


def status(job_id: str, *, api: ApiChoice = "auto", conn: Connection | None = None) -> int:
    """Show a job's status, counts and progress (exit 0 whenever the job could be read).

    For a v2 batch: its status and its files' outcomes (completed, failed, pending).

    Parameters
    ----------
    job_id
        The batch job id (bjb-...) or v2 batch id (bat-...).
    api
        v1 or v2; auto: v2 for a bat- id, else v1.
    """
    conn = conn or Connection()
    if target_api(job_id, api) == "v2":
        with connect(conn) as client:
            return batches.batch_status(client, conn, job_id)
    with connect(conn) as client:
        result = client.get_job(job_id)
    if conn.json:
        print_json(result)
    else:
        print_status(result)
    return ExitCode.OK


def wait_command(
    job_id: str,
    *,
    timeout: float | None = None,
    poll_interval: float = 2.0,
    max_failed_fraction: float = 0.0,
    api: ApiChoice = "auto",
    conn: Connection | None = None,
) -> int:
    """Wait for a job to finish with a live progress bar; the exit code is the outcome.

    The bar (on stderr) shows percent, counts, rate and ETA; when stderr is not a terminal the
    same is printed as one plain line per change. Exit 0 when the job completed with no more
    failed items than allowed, 1 when it failed, was cancelled or too many items failed, 6 when
    --timeout ran out first (the job keeps running: the CLI never cancels it). A v2 batch
    (no counters) prints each status change, then its files' outcomes are judged the same way.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...) or v2 batch id (bat-...).
    timeout
        Give up waiting after this many seconds (the job keeps running).
    poll_interval
        Seconds between status polls at first (polling backs off from there).
    max_failed_fraction
        Fraction of failed items (0..1) still counted as success.
    api
        v1 or v2; auto: v2 for a bat- id, else v1.
    """
    conn = conn or Connection()
    which = target_api(job_id, api)
    settings = wait_settings(timeout, poll_interval)
    check_fraction(max_failed_fraction)
    with connect(conn) as client:
        if which == "v2":
            return batches.wait_for_batch(client, job_id, conn, settings, max_failed_fraction)
        return wait_and_report(client, job_id, conn, settings, max_failed_fraction)


def cancel(
    job_id: str,
    *,
    reason: str | None = None,
    api: ApiChoice = "auto",
    conn: Connection | None = None,
) -> int:
    """Cancel a job. Cancelling a job that already finished is not an error.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...) or v2 batch id (bat-...).
    reason
        Why, recorded with the cancellation (v1 only: a v2 cancel carries no reason).
    api
        v1 or v2; auto: v2 for a bat- id, else v1.
    """
    conn = conn or Connection()
    if target_api(job_id, api) == "v2":
        if reason is not None:
            raise CliError(ExitCode.USAGE, "--reason: a v2 batch cancel carries no reason")
        with connect(conn) as client:
            return batches.cancel_batch(client, conn, job_id)
    with connect(conn) as client:
        result = client.cancel_job(job_id, reason=reason)
    if conn.json:
        print_json(result)
    else:
        message = f": {result.message}" if result.message else ""
        say(stdout(), f"{result.job_id} {enum_text(result.status)}{message}")
    return ExitCode.OK


def items(
    job_id: str,
    *,
    status: ItemStatusChoice | None = None,
    limit: int | None = None,
    api: ApiChoice = "auto",
    conn: Connection | None = None,
) -> int:
    """List a job's items, newest first (by when each last moved), e.g. the failed ones.

    "Newest" is the latest of an item's finish, start and effective times; items with none of
    them (not started) come last. The API documents no list order, so every item is read (page
    by page) and sorted here; --limit applies to that order. A v2 batch's files (completed,
    failed, cancelled or pending: the status of each file's job) are listed by name.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...) or v2 batch id (bat-...).
    status
        Only items in this status.
    limit
        Show at most this many items (default: all).
    api
        v1 or v2; auto: v2 for a bat- id, else v1.
    """
    conn = conn or Connection()
    v2 = target_api(job_id, api) == "v2"
    if limit is not None and limit < 1:
        raise CliError(ExitCode.USAGE, f"--limit: must be at least 1 (got {limit})")
    if v2:
        with connect(conn) as client:
            return batches.batch_items(client, conn, job_id, status=status, limit=limit)
    with connect(conn) as client:
        every = client.iter_items(job_id, status=ItemStatus(status) if status else None)
        found: list[JobItem] = sorted(
            every, key=lambda item: (item_recency(item), clean(item.item_id)), reverse=True
        )
    which = f"{status} " if status else ""
    what = f"{which}items of {job_id}, newest first"
    print_items(found, limit=limit, as_json=conn.json, what=what, table=items_table)
    return ExitCode.OK


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
    non_empty("ITEM_ID", item_id)
    with connect(conn) as client:
        found = client.get_item_results(item_id, job_type=JobType(job_type) if job_type else None)
    if conn.json:
        print_json(found)
        return ExitCode.OK
    table = new_table(
        f"results of {found.item_name} ({found.item_id})",
        ("result id", "type", "processed", "parameters hash", "output"),
        ids=("result id", "output"),
    )
    for result in found.processing_results or []:
        table.add_row(
            cell(result.result_id),
            cell(enum_text(result.job_type)),
            when(result.processed_at),
            cell(result.parameters_hash),
            cell(result.output_s3_path),
        )
    print_table(table)
    return ExitCode.OK
