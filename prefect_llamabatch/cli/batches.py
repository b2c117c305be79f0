"""v2 batches (``bat-…``) behind ``submit``, ``status``, ``wait``, ``cancel`` and ``items``.

A v2 batch has no counters: each file's outcome is the status of the parse/extract job its
result references. Those are read with the package's own helper
(:func:`~prefect_llamabatch.orchestration.v2_pipeline.item_outcomes`: batched lookups, never one
request per file) and judged like a v1 job (``merge_shard_runs`` then ``check_outcome``), so the
exit codes mean the same for both APIs.

Example:
    ```python
    from prefect_llamabatch.cli.batches import v2_parameters

    params = v2_parameters({"product_type": "parse_v2", "tier": "fast", "version": "latest"})
    assert params.tier == "fast"
    ```
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from prefect_llamabatch.cli.connection import Connection
from prefect_llamabatch.cli.console import (
    describe_validation_error,
    new_table,
    print_json,
    print_table,
    say,
    stderr,
    stdout,
    when,
)
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.cli.inert import cell
from prefect_llamabatch.cli.views import print_items
from prefect_llamabatch.client import BatchClient
from prefect_llamabatch.client.core_v2 import BatchParameters, batch_parameters
from prefect_llamabatch.models.v2 import TERMINAL_BATCH_STATUSES, Batch
from prefect_llamabatch.orchestration.effects import tenant
from prefect_llamabatch.orchestration.exceptions import BatchApiUnavailable
from prefect_llamabatch.orchestration.results import BatchItemsFailed, check_outcome
from prefect_llamabatch.orchestration.v2_pipeline import (
    ItemOutcome,
    ShardRun,
    batch_outcomes,
    merge_shard_runs,
)
from prefect_llamabatch.orchestration.waiting import OutageBudget, WaitSettings, is_transient_error

__all__ = [
    "batch_items",
    "batch_status",
    "cancel_batch",
    "read_outcomes",
    "submit_batch",
    "v2_parameters",
    "wait_for_batch",
]

_OUTCOMES = ("completed", "failed", "cancelled", "pending")


def v2_parameters(value: dict[str, Any], source: str = "--config") -> BatchParameters:
    """``parse_v2``/``extract_v2`` parameters, validated before anything is sent."""
    try:
        return batch_parameters(value)
    except ValidationError as exc:
        lines = describe_validation_error(exc).splitlines()
        raise CliError(ExitCode.USAGE, "\n".join(f"{source}: {line}" for line in lines)) from None
    except ValueError as exc:
        raise CliError(ExitCode.USAGE, f"{source}: {exc}") from None


def read_outcomes(client: BatchClient, batch: Batch) -> ShardRun:
    """Every file's outcome of a batch read with ``expand=results`` (item ids are the ids of
    the batch's source directory files)."""
    return batch_outcomes(client, batch, tenant())


def _counts(outcomes: Sequence[ItemOutcome]) -> dict[str, int]:
    counts = {"total": len(outcomes)}
    counts.update({name: sum(o.status == name for o in outcomes) for name in _OUTCOMES})
    return counts


def _batch_json(run: ShardRun) -> dict[str, Any]:
    # The batch as the API returned it, without its per-file results (`items` lists those).
    batch = run.batch.model_dump(mode="json", exclude={"results"})
    return {"batch": batch, "counts": _counts(run.outcomes)}


def _print_batch(run: ShardRun) -> None:
    batch, counts = run.batch, _counts(run.outcomes)
    table = new_table(
        f"{batch.id}: {batch.status}",
        ("batch id", "type", "configuration", "status", "files", "done", "failed", "created"),
        ids=("batch id", "configuration"),
    )
    table.add_row(
        cell(batch.id),
        cell(batch.config.job.type),
        cell(batch.config.job.configuration_id),
        cell(batch.status),
        str(counts["total"]),
        str(counts["completed"] + counts["failed"]),
        str(counts["failed"]),
        when(batch.created_at),
    )
    print_table(table)
    console = stdout()
    say(console, f"directory: {batch.source_directory_id}")
    if counts["pending"]:
        say(console, f"pending: {counts['pending']} file(s) not finished")


def _show(run: ShardRun, conn: Connection) -> None:
    if conn.json:
        print_json(_batch_json(run))
    else:
        _print_batch(run)


def submit_batch(
    client: BatchClient,
    conn: Connection,
    *,
    directory_id: str,
    configuration_id: str | None,
    parameters: BatchParameters | None,
    settings: WaitSettings | None,
    max_failed_fraction: float,
) -> int:
    """Create a v2 batch over a directory (never a duplicate: the client reconciles), and wait
    for it when ``settings`` are given."""
    batch = client.create_batch(directory_id, configuration_id, parameters=parameters)
    if settings is None:
        if conn.json:
            print_json(batch)
        else:
            say(
                stdout(),
                f"submitted {batch.id} ({batch.config.job.type}, configuration "
                f"{batch.config.job.configuration_id}, {batch.status})",
            )
        return ExitCode.OK
    say(stderr(), f"submitted {batch.id}")
    return wait_for_batch(client, batch.id, conn, settings, max_failed_fraction)


def batch_status(client: BatchClient, conn: Connection, batch_id: str) -> int:
    """Show a batch's status and its files' outcome counts (exit 0 whenever it could be read)."""
    _show(read_outcomes(client, client.get_batch(batch_id, expand_results=True)), conn)
    return ExitCode.OK


def _poll(client: BatchClient, batch_id: str, settings: WaitSettings) -> Batch:
    """``get_batch`` until the batch is final: one line on stderr per status change.

    Transient errors (after the client's own retries) are ridden out for
    ``outage_budget_seconds``, as the v1 wait loop does.
    """
    err = stderr()
    started = time.monotonic()
    schedule = settings.schedule()
    outage = OutageBudget(settings.outage_budget_seconds)
    last: str | None = None
    while True:
        asked_at = time.monotonic()
        try:
            batch = client.get_batch(batch_id)
        except Exception as exc:
            if not is_transient_error(exc):
                raise
            if outage.failed(at=asked_at, error=str(exc)):
                say(
                    err,
                    f"API unreachable ({exc}); riding it out for up to {outage.budget_seconds:g}s",
                )
            now = time.monotonic()
            if outage.exhausted(at=now):
                raise BatchApiUnavailable(
                    api=client.base_url,
                    job_id=batch_id,
                    unreachable_seconds=outage.elapsed(at=now),
                    budget_seconds=outage.budget_seconds,
                    last_error=outage.last_error,
                ) from exc
        else:
            outage.recovered()
            if batch.status != last:
                say(err, f"{batch.id} {batch.status}")
                last = batch.status
            if batch.status in TERMINAL_BATCH_STATUSES:
                return batch
        pause = schedule.next()
        if settings.timeout_seconds is not None:
            left = settings.timeout_seconds - (time.monotonic() - started)
            if left <= 0:
                # The CLI never cancels on a timeout (as for v1): say so, and what next.
                raise CliError(
                    ExitCode.TIMEOUT,
                    f"v2 batch {batch_id} did not finish within {settings.timeout_seconds:g}s "
                    f"(last status {last or 'unknown'}); it keeps running: "
                    f"`llamabatch wait {batch_id}` to wait again, "
                    f"`llamabatch cancel {batch_id}` to stop it",
                )
            pause = min(pause, left)
        time.sleep(pause)


def wait_for_batch(
    client: BatchClient,
    batch_id: str,
    conn: Connection,
    settings: WaitSettings,
    max_failed_fraction: float,
) -> int:
    """Wait for a batch, then judge its files' outcomes as a v1 job's items are judged."""
    try:
        _poll(client, batch_id, settings)
    except KeyboardInterrupt:
        say(
            stderr(),
            f"interrupted; {batch_id} keeps running (stop it with `llamabatch cancel {batch_id}`)",
        )
        raise
    run = read_outcomes(client, client.get_batch(batch_id, expand_results=True))
    _show(run, conn)
    result, _ = merge_shard_runs([run], directory_id=run.batch.source_directory_id)
    try:
        judged = check_outcome(result, max_failed_fraction=max_failed_fraction)
    except BatchItemsFailed as exc:
        raise CliError(
            ExitCode.FAILED,
            f"{exc}; list them with `llamabatch items {batch_id} --status failed`",
        ) from None
    say(stderr(), judged.summary())
    return ExitCode.OK


def cancel_batch(client: BatchClient, conn: Connection, batch_id: str) -> int:
    """Cancel a batch; one already finished is returned as it is (not an error)."""
    batch = client.cancel_batch(batch_id)
    if conn.json:
        print_json(batch)
    else:
        say(stdout(), f"{batch.id} {batch.status}")
    return ExitCode.OK


def _outcomes_table(outcomes: Sequence[ItemOutcome], title: str) -> Table:
    table = new_table(
        title, ("item id", "name", "status", "error", "job id"), ids=("item id", "job id")
    )
    for o in outcomes:
        table.add_row(
            cell(o.item_id),
            cell(o.item_name),
            cell(o.status),
            cell(o.error_message or ""),
            cell(o.job_id or ""),
        )
    return table


def batch_items(
    client: BatchClient,
    conn: Connection,
    batch_id: str,
    *,
    status: str | None,
    limit: int | None,
) -> int:
    """List a batch's files with their outcomes, by name (v2 results carry no times)."""
    run = read_outcomes(client, client.get_batch(batch_id, expand_results=True))
    found = sorted(
        (o for o in run.outcomes if status is None or o.status == status),
        key=lambda o: (o.item_name, o.item_id),
    )
    which = f"{status} " if status else ""
    what = f"{which}items of {batch_id}, by name"
    print_items(found, limit=limit, as_json=conn.json, what=what, table=_outcomes_table)
    return ExitCode.OK
