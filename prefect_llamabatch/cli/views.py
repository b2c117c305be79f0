"""Tables and status blocks of jobs, batches and items (v1 and v2), as the commands print them.

Example:
    ```python
    from prefect_llamabatch.cli.views import job_table
    from prefect_llamabatch.models import BatchJob

    job = BatchJob(id="bjb-1", job_type="parse", project_id="p", status="running", total_items=3)
    assert job_table([job], title="1 job").row_count == 1
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from prefect_llamabatch.cli.console import (
    enum_text,
    instant,
    new_table,
    print_json,
    print_table,
    say,
    stdout,
    when,
)
from prefect_llamabatch.cli.inert import cell
from prefect_llamabatch.models import BatchJob, BatchJobStatus, JobItem

__all__ = ["item_recency", "items_table", "job_table", "print_items", "print_status"]


def job_table(jobs: Sequence[BatchJob], title: str) -> Table:
    table = new_table(
        title,
        ("job id", "type", "status", "items", "done", "failed", "skipped", "created"),
        ids=("job id",),
    )
    for job in jobs:
        table.add_row(
            cell(job.id),
            cell(enum_text(job.job_type)),
            cell(enum_text(job.status)),
            str(job.total_items),
            str(job.processed_items or 0),
            str(job.failed_items or 0),
            str(job.skipped_items or 0),
            when(job.created_at),
        )
    return table


def print_status(status: BatchJobStatus) -> None:
    job = status.job
    print_table(job_table([job], title=f"{job.id}: {enum_text(job.status)}"))
    console = stdout()
    say(console, f"progress: {status.progress_percentage:.0f}%")
    if job.directory_id:
        say(console, f"directory: {job.directory_id}")
    if job.error_message:
        say(console, f"error: {job.error_message}")


def items_table(items: Sequence[JobItem], title: str) -> Table:
    table = new_table(
        title,
        ("item id", "name", "status", "error / skip reason", "item job id", "finished"),
        ids=("item id", "item job id"),
    )
    for item in items:
        table.add_row(
            cell(item.item_id),
            cell(item.item_name),
            cell(enum_text(item.status)),
            cell(item.error_message or item.skip_reason or ""),
            cell(item.job_id or ""),
            when(item.completed_at),
        )
    return table


def item_recency(item: JobItem) -> float:
    """When an item last moved: finished, else started, else became effective."""
    return max(instant(item.completed_at), instant(item.started_at), instant(item.effective_at))


def print_items(
    found: Sequence[Any],
    *,
    limit: int | None,
    as_json: bool,
    what: str,
    table: Callable[[Sequence[Any], str], Table],
) -> None:
    """The first ``limit`` of ``found`` as JSON, or as a table titled "N of M <what>"."""
    shown = found if limit is None else found[:limit]
    if as_json:
        print_json(shown)
    else:
        print_table(table(shown, f"{len(shown)} of {len(found)} {what}"))
