"""``wait`` for a v1 job: the package's wait loop, a live progress bar, and the judged outcome.

The loop is :func:`~prefect_llamabatch.orchestration.waiting.wait_steps` (no artifacts, no events)
driven by the sync driver; :class:`WaitDisplay` shows each polled status.

Example:
    ```python
    from prefect_llamabatch.cli.waiting import wait_settings

    settings = wait_settings(timeout=60, poll_interval=1.0)
    assert settings.cancel_on_timeout is False  # the CLI never cancels on a timeout
    ```
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from prefect_llamabatch.cli.connection import Connection
from prefect_llamabatch.cli.console import print_json, say, stderr
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.cli.inert import clean
from prefect_llamabatch.cli.views import print_status
from prefect_llamabatch.client import BatchClient
from prefect_llamabatch.models import BatchJobStatus
from prefect_llamabatch.orchestration.drivers import SyncDriver, drive
from prefect_llamabatch.orchestration.effects import Effect, GetJob
from prefect_llamabatch.orchestration.results import (
    BatchItemsFailed,
    BatchJobTimeout,
    BatchRunResult,
    check_outcome,
)
from prefect_llamabatch.orchestration.waiting import WaitSettings, wait_steps

__all__ = ["LOGGER", "WaitDisplay", "wait_and_report", "wait_settings"]

LOGGER = logging.getLogger("prefect_llamabatch.cli")


class WaitDisplay:
    """What ``wait`` shows of each polled status: percent, counts, rate and ETA.

    On a terminal, a live progress bar; otherwise (a pipe, a log file, CI) one plain line per
    change, so a log shows the progress without the bar's control sequences.
    """

    def __init__(self, console: Console, job_id: str) -> None:
        self._console = console
        self._live = console.is_terminal
        self._progress = Progress(
            # markup=False: the description holds the server's status text.
            TextColumn("{task.description}", markup=False, style="bold"),
            BarColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._bar: TaskID | None = None
        self._job_id = job_id
        self._first: tuple[float, int] | None = (
            None  # (monotonic time, processed) of the first poll
        )
        self._last_line: str | None = None

    def __enter__(self) -> WaitDisplay:
        if self._live:
            self._progress.start()
            self._bar = self._progress.add_task(
                clean(f"{self._job_id} waiting"), total=None, detail=""
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._progress.stop()

    def detail(self, status: BatchJobStatus, now: float) -> str:
        """``42% · 21/50 done (3 failed, 1 skipped) · 4.2 items/s · ETA 0:00:07``."""
        done, total = status.processed_items, status.total_items
        parts = [
            f"{status.progress_percentage:.0f}%",
            f"{done}/{total} done ({status.failed_items} failed, {status.skipped_items} skipped)",
        ]
        if self._first is None:
            self._first = (now, done)
        started, done_then = self._first
        if now > started and done > done_then:
            rate = (done - done_then) / (now - started)
            parts.append(f"{rate:.1f} items/s")
            if not status.is_terminal and total > done:
                eta = round((total - done) / rate)
                parts.append(f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}")
        return " · ".join(parts)

    def show(self, status: BatchJobStatus) -> None:
        detail = self.detail(status, time.monotonic())
        description = clean(f"{status.id} {status.status_value}")
        if self._live and self._bar is not None:
            self._progress.update(
                self._bar,
                description=description,
                total=status.total_items or None,
                # processed_items counts every item in a final status (failed and skipped too).
                completed=status.processed_items,
                detail=clean(detail),
            )
            return
        line = f"{description} {detail}"
        if line != self._last_line:  # only changes: a long wait is not a wall of equal lines
            self._last_line = line
            say(self._console, line)


class _ProgressDriver(SyncDriver):
    """The sync driver, also showing each polled status (see :class:`WaitDisplay`)."""

    def __init__(self, client: BatchClient, display: WaitDisplay) -> None:
        super().__init__(client)
        self._display = display

    def perform(self, effect: Effect[Any]) -> Any:
        value = super().perform(effect)
        if isinstance(effect, GetJob) and isinstance(value, BatchJobStatus):
            self._display.show(value)
        return value


def wait_and_report(
    client: BatchClient,
    job_id: str,
    conn: Connection,
    settings: WaitSettings,
    max_failed_fraction: float,
) -> int:
    """Wait with the package's wait loop (no artifacts, no events), then judge the outcome."""
    err = stderr()
    try:
        with WaitDisplay(err, job_id) as display:
            outcome = drive(
                wait_steps(job_id, settings, logger=LOGGER, api=client.base_url),
                _ProgressDriver(client, display),
            )
    except KeyboardInterrupt:
        say(err, f"interrupted; {job_id} keeps running (stop it with `llamabatch cancel {job_id}`)")
        raise
    except BatchJobTimeout as exc:
        # The CLI never cancels on a timeout (its documented behaviour): say so, and what next.
        raise CliError(
            ExitCode.TIMEOUT,
            f"batch job {job_id} did not finish within {exc.timeout_seconds:g}s "
            f"(last status {exc.last_status or 'unknown'}, {exc.progress_percentage:.0f}% done); "
            f"it keeps running: `llamabatch wait {job_id}` to wait again, "
            f"`llamabatch cancel {job_id}` to stop it",
        ) from None
    final = outcome.status
    if conn.json:
        print_json(final)
    else:
        print_status(final)
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
    say(err, judged.summary())
    return ExitCode.OK


def wait_settings(timeout: float | None, poll_interval: float) -> WaitSettings:
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
