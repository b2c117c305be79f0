"""The ``make demo`` main job: a folder of documents through LlamaCloud batch parsing, end to end.

What it does, in order:

1. starts the local LlamaCloud emulator in-process (``--emulator``), or uses LlamaCloud itself
   when ``LLAMA_CLOUD_API_KEY`` is set;
2. starts Prefect's ephemeral API (unless ``PREFECT_API_URL`` points at a server);
3. runs :func:`~prefect_llamabatch.flows.process_directory` on the sample documents through the
   v2 Batches API (``parse_v2`` parameters, saved once as a named configuration), with the
   wait's progress logged live;
4. writes the parsed markdown of every completed document with
   :func:`~prefect_llamabatch.orchestration.outputs.download_outputs`, named after the
   documents, under ``<workdir>/outputs/v2`` (``quarterly-report-q1.md`` …), and prints the
   report: per document, what happened, why it failed, where its markdown is;
5. runs :func:`~prefect_llamabatch.flows.retry_failed_items` once, which recovers the "flaky"
   document (its markdown is written too), and prints what still fails;
6. does 3-5 again through the v1 batch-processing API (``job_config``), into
   ``<workdir>/outputs/v1``;
7. says where the outputs and the Prefect artifacts are and how to browse them.

Some sample documents fail on purpose, for reasons documented in :data:`SAMPLE_DOCUMENTS`
(the emulator's outcome rules, ``docs/emulator.md``).

Example:
    ```python
    from prefect_llamabatch.cli.demo import run_demo

    report = run_demo(emulator=True, time_scale=0.05)
    assert report.exit_code == 0
    print(report.v2.first.summary(), report.v2.outputs)
    ```
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from prefect_llamabatch.cli.inert import cell, clean

__all__ = [
    "FLAKY_PATTERN",
    "SAMPLE_DOCS",
    "SAMPLE_DOCUMENTS",
    "DemoReport",
    "SampleDocument",
    "quiet_prefect_environment",
    "run_demo",
]

SAMPLE_DOCS = Path(__file__).with_name("sample_docs")
"""The packaged sample documents."""

FLAKY_PATTERN = "flaky-*"
"""The emulator's ``transient_failure_patterns`` in the demo: such files fail only once."""

_MARKER = ".llamabatch-demo"


@dataclass(frozen=True)
class SampleDocument:
    """One packaged sample document and what the demo expects of it on the emulator."""

    name: str
    expected: Literal["completed", "failed", "recovered"]
    why: str


SAMPLE_DOCUMENTS: tuple[SampleDocument, ...] = (
    SampleDocument("annual-summary-2023.pdf", "completed", "a real PDF with a text layer"),
    SampleDocument("invoice-2024-0042.txt", "completed", "plain UTF-8 text"),
    SampleDocument("meeting-notes-2024-05-14.md", "completed", "markdown"),
    SampleDocument("quarterly-report-q1.md", "completed", "markdown with a table"),
    SampleDocument("supplier-contract.html", "completed", "HTML: tags dropped, headings kept"),
    SampleDocument("shipments-may.csv", "completed", "CSV: rendered as a markdown table"),
    SampleDocument("product-catalog.json", "completed", "JSON: pretty-printed"),
    SampleDocument(
        "flaky-network-share-memo.md",
        "recovered",
        f"matches the emulator's transient failure pattern {FLAKY_PATTERN!r}: it fails on its "
        "first processing only, so the retry round recovers it",
    ),
    SampleDocument("empty-upload.txt", "failed", "the file is empty (0 bytes)"),
    SampleDocument(
        "scanned-receipt.pdf", "failed", "a JPEG saved as .pdf: no %PDF- header, not a PDF"
    ),
    SampleDocument(
        "legacy-letter-latin1.txt", "failed", "saved as Latin-1 by an old system: invalid UTF-8"
    ),
)

_QUIET_ENV = {
    # The ephemeral server would otherwise try to send telemetry and log errors without network.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # A loaded 2-core laptop can take longer than the default 20 s to start the ephemeral API.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def quiet_prefect_environment() -> None:
    """Turn off Prefect's telemetry (without overriding what the user set)."""
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)


class DemoRun(BaseModel):
    """One API's part of the demo: its two flow runs and the markdown they produced.

    Attributes:
        api: ``v2`` (the Batches API, ``parse_v2`` parameters) or ``v1`` (batch processing).
        first: The result of ``process_directory`` (also when the flow failed on failed items).
        retries: Whether this part runs ``retry_failed_items`` on its failed documents.
        retry: The merged result of ``retry_failed_items``, if it ran.
        output_folder: Where the parsed markdown of the completed documents was written.
        outputs: Document name to its markdown file (read back from the folder's manifest).
        flow_run_ids: The flow runs of this part (for their artifacts).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    api: Literal["v1", "v2"]
    retries: bool
    first: Any = None
    retry: Any = None
    output_folder: str
    outputs: dict[str, str] = {}
    flow_run_ids: list[str] = []


class DemoReport(BaseModel):
    """What a demo run found, for callers (and tests) that want more than the printout.

    Attributes:
        exit_code: The CLI exit code (0: the demo ran and behaved as documented).
        backend: ``emulator`` or the LlamaCloud base URL.
        v2: The v2 Batches API part (it runs first: what new users meet).
        v1: The v1 batch-processing API part.
        artifacts: ``(key, description)`` of the artifacts the flow runs created.
        prefect_api: ``ephemeral`` or the configured PREFECT_API_URL.
        prefect_database: The ephemeral API's database, when it was used.
        workdir: Where the demo kept the emulator's state, the outputs (``outputs/v2``,
            ``outputs/v1``) and the failed-items exports.
        duration_seconds: Wall-clock time of the whole demo.
        mismatches: Documents whose outcome (or markdown file) differed from
            :data:`SAMPLE_DOCUMENTS`, prefixed with the API.
    """

    exit_code: int
    backend: str
    v2: DemoRun | None = None
    v1: DemoRun | None = None
    artifacts: list[tuple[str, str]] = []
    prefect_api: str = "ephemeral"
    prefect_database: str | None = None
    workdir: str
    duration_seconds: float = 0.0
    mismatches: list[str] = []


def _default_workdir() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home) / "llamabatch-demo"


def _fresh_dir(path: Path) -> Path:
    # Only ever delete a folder this demo created (it carries the marker file).
    if path.exists() and (path / _MARKER).exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / _MARKER).touch()
    return path


@contextmanager
def _child_stderr_to(log: Path) -> Iterator[None]:
    """Point fd 2 at a file while a child process starts, so the child keeps writing there.

    The ephemeral Prefect server is a subprocess sharing our stderr; at interpreter exit its
    services log ``CancelledError`` tracebacks that are noise. Its output goes to a log file.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with log.open("ab") as handle:
            os.dup2(handle.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _start_prefect_api(workdir: Path) -> tuple[str, str | None]:
    """The configured Prefect API, or the ephemeral one started now (quietly)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return str(settings.api.url), None
    server = SubprocessASGIServer()  # the same instance Prefect's clients use
    if not server.running:
        with _child_stderr_to(workdir / "prefect-server.log"):
            # Explicitly: Prefect reads its settings at import, before the demo set the variable.
            name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
            server.start(timeout=int(os.environ.get(name, _QUIET_ENV[name])))
    url = settings.server.database.connection_url
    database = url.get_secret_value() if url is not None else None
    if database and "sqlite" in database:
        database = database.split("///", 1)[-1]
    return "ephemeral", database


def _run_result(state: Any, flow_name: str) -> tuple[Any, BaseException | None]:
    """The BatchRunResult of a finished flow run, and the error it failed with, if any.

    Raises:
        CliError: The run ended without a result (not even one carried by its error).
    """
    from prefect_llamabatch.cli.exit_codes import CliError, ExitCode, exit_code_for
    from prefect_llamabatch.orchestration.results import BatchRunResult

    value = state.result(raise_on_failure=False)
    if isinstance(value, BatchRunResult):
        return value, None
    if isinstance(value, BaseException):
        result = getattr(value, "result", None)
        if isinstance(result, BatchRunResult):
            return result, value
        raise CliError(exit_code_for(value), f"{flow_name} failed: {value}")
    raise CliError(ExitCode.FAILED, f"{flow_name} ended {state.type.value}: {state.message}")


def _write_outputs(credentials: Any, folder: Path, api: str, job_id: str) -> None:
    """Write the parsed markdown of the job's (v1) or batch's (v2) completed documents."""
    from prefect_llamabatch.orchestration.outputs import download_outputs

    if api == "v2":
        with credentials.get_client() as client:
            batch = client.get_batch(job_id, expand_results=True)
        download_outputs.sync(credentials, str(folder), batch=batch)
    else:
        download_outputs.sync(credentials, str(folder), job_id=job_id)


def _written(folder: Path) -> dict[str, str]:
    """Document name to its markdown file, from the manifest ``download_outputs`` keeps."""
    from prefect_llamabatch.orchestration.outputs import MANIFEST_NAME, ManifestEntry

    manifest = folder / MANIFEST_NAME
    if not manifest.exists():
        return {}
    entries = (ManifestEntry.model_validate_json(line) for line in manifest.open() if line.strip())
    return {entry.document: str(folder / entry.output_path) for entry in entries}


def _artifacts(flow_run_ids: list[str]) -> list[tuple[str, str]]:
    """``(key, description)`` of the artifacts of these flow runs and of their subflows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    with get_client(sync_client=True) as client:
        # report_failed_items runs as a subflow: its artifacts belong to its own flow run.
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=flow_run_ids)
            )
        )
        ids = [*flow_run_ids, *(run.id for run in children)]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
    found = {a.key: a.description or a.type or "" for a in artifacts if a.key}
    return sorted(found.items())


class _NoTracebackForExpectedFailures(logging.Filter):
    """Keep the log line of a run that failed on failed items, drop its traceback.

    Items failing is what the demo shows; a traceback would read as a crash.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect_llamabatch.orchestration.results import BatchRunError

        if record.exc_info and isinstance(record.exc_info[1], BatchRunError):
            record.exc_info = None
            record.exc_text = None
        return True


@contextmanager
def _expected_failures_without_tracebacks() -> Iterator[None]:
    quiet = _NoTracebackForExpectedFailures()
    handlers = {
        handler
        for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.engine")
        for handler in logging.getLogger(name).handlers
    }
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _short(where: str, root: Path | None) -> str:
    if root is not None:
        try:
            return str(Path(where).relative_to(root))
        except ValueError:
            pass
    return where


def _print_first(console: Console, run: DemoRun, why: dict[str, str], workdir: Path) -> None:
    result, outputs = run.first, run.outputs
    failed = {f.item_name: f for f in result.failed_items}
    skipped = {s.item_name: s for s in result.skipped_items}
    kind = "v2 batch" if run.api == "v2" else "v1 batch job"
    # The outputs share the demo's folder: print it once, paths under it in the table.
    console.print(
        f"Parsed markdown of the completed documents, named after them: {run.output_folder}",
        markup=False,
    )
    table = Table(title=cell(f"Report of {kind} {result.job_id}"), show_lines=False)
    for column in ("document", "status", "error, or its markdown", "why"):
        table.add_column(column, overflow="fold")
    names = sorted(set(outputs) | set(failed) | set(skipped))
    for name in names:
        if name in failed:
            status, detail = "[red]failed[/red]", failed[name].error_message or ""
        elif name in skipped:
            status, detail = "[yellow]skipped[/yellow]", skipped[name].skip_reason or ""
        else:
            status, detail = "[green]completed[/green]", _short(outputs[name], workdir)
        # Names and errors are the server's text: inert (the status markup is ours).
        table.add_row(cell(name), status, cell(detail), cell(why.get(name, "")))
    console.print(table)
    console.print(result.summary(), markup=False, highlight=False)
    if result.export_path:
        console.print(f"Every failed item, as a file: {result.export_path}", markup=False)


def _print_retry(
    console: Console, run: DemoRun, originally_failed: set[str], workdir: Path
) -> None:
    result = run.retry
    still = {f.item_name for f in result.failed_items}
    recovered = sorted(originally_failed - still)
    console.print(
        f"Retry: {len(originally_failed)} failed document(s) resubmitted in "
        f"{len(result.rounds)} round(s); recovered: {', '.join(recovered) or 'none'}; "
        f"still failing: {', '.join(sorted(still)) or 'none'}",
        markup=False,
        highlight=False,
    )
    for failed in sorted(result.failed_items, key=lambda f: f.item_name):
        console.print(
            clean(f"  {failed.item_name}: {failed.error_message}"), markup=False, highlight=False
        )
    for name in recovered:
        if name in run.outputs:
            where = _short(run.outputs[name], workdir)
            console.print(clean(f"  markdown of {name}: {where}"), markup=False, highlight=False)


def _check_expectations(run: DemoRun) -> list[str]:
    """Documents whose outcome on the emulator, or whose markdown file, differs from
    :data:`SAMPLE_DOCUMENTS`: a completed or recovered document has a non-empty
    ``<name without suffix>.md`` in the run's output folder, a failed one has none."""
    failed_first = {f.item_name for f in run.first.failed_items}
    failed_after = (
        {f.item_name for f in run.retry.failed_items} if run.retry is not None else failed_first
    )
    problems = []
    for doc in SAMPLE_DOCUMENTS:
        # A part without a retry round (v2) leaves the flaky document failed.
        expected = "failed" if doc.expected == "recovered" and not run.retries else doc.expected
        actual_first = doc.name in failed_first
        actual_after = doc.name in failed_after
        ok = {
            "completed": not actual_first,
            "failed": actual_first and actual_after,
            "recovered": actual_first and not actual_after,
        }[expected]
        if not ok:
            problems.append(f"{run.api} {doc.name}: expected {expected}")
        markdown = Path(run.output_folder) / Path(doc.name).with_suffix(".md")
        has_markdown = markdown.is_file() and markdown.stat().st_size > 0
        if has_markdown != (expected != "failed"):
            problems.append(
                f"{run.api} {doc.name}: "
                + (f"no markdown at {markdown}" if not has_markdown else "markdown of a failure")
            )
    return problems


def _run_api(
    api: Literal["v1", "v2"],
    *,
    retries: bool,
    credentials: Any,
    folder: Path,
    base: Path,
    poll: Any,
    why: dict[str, str],
    console: Console,
) -> DemoRun:
    """One API's part: process_directory and its markdown, then (``retries``)
    retry_failed_items once and the recovered documents' markdown."""
    from prefect_llamabatch.flows import process_directory, retry_failed_items

    outputs = _fresh_dir(base / "outputs" / api)
    # v2: parse_v2 parameters, saved once as a named configuration; v1: LlamaParse's defaults.
    config: dict[str, Any] = (
        {"parse_v2": {"tier": "fast", "version": "latest"}} if api == "v2" else {"job_config": {}}
    )
    label = "v2 Batches API" if api == "v2" else "v1 batch-processing API"
    console.rule(f"{api}: process_directory through the {label} (live progress below)")
    first_state = process_directory(
        credentials,
        local_path=str(folder),
        wait=poll,
        export_path=str(base / f"failed-items-{api}.csv"),
        directory_name=f"llamabatch-demo-{api}-{folder.name}",
        return_state=True,
        **config,
    )
    first, first_error = _run_result(first_state, "process_directory")
    # Also when items failed: the completed documents' markdown is what a user wants.
    _write_outputs(credentials, outputs, api, first.job_id)
    run = DemoRun(
        api=api,
        retries=retries,
        first=first,
        output_folder=str(outputs),
        flow_run_ids=[str(first_state.state_details.flow_run_id)],
    )
    run.outputs = _written(outputs)
    console.rule(f"{api}: report")
    if first_error is not None:
        console.print(
            f"The flow run ended [bold]{first_state.type.value}[/bold], as it should when "
            "items fail (max_failed_fraction=0):"
        )
        console.print(clean(f"  {first_error}"), markup=False, highlight=False)
    _print_first(console, run, why, base)

    if retries and first.failed_items:
        console.rule(f"{api}: retry_failed_items: resubmit only the failed documents, once")
        retry_state = retry_failed_items(
            credentials,
            first.job_id,
            max_rounds=1,
            wait=poll,
            export_path=str(base / f"still-failing-{api}.csv"),
            api=api,
            return_state=True,
        )
        run.flow_run_ids.append(str(retry_state.state_details.flow_run_id))
        run.retry, _ = _run_result(retry_state, "retry_failed_items")
        for retry_round in run.retry.rounds:  # each round is its own batch (job)
            _write_outputs(credentials, outputs, api, retry_round.job_id)
        run.outputs = _written(outputs)
        _print_retry(console, run, {f.item_name for f in first.failed_items}, base)
    return run


def run_demo(
    *,
    emulator: bool = False,
    docs: Path | None = None,
    time_scale: float = 1.0,
    workdir: Path | None = None,
    console: Console | None = None,
) -> DemoReport:
    """Run the demo and print its report.

    Args:
        emulator: Use an in-process LlamaCloud emulator. Without it, LlamaCloud itself is used
            (``LLAMA_CLOUD_API_KEY`` / ``LLAMA_PARSE_API_KEY``, ``LLAMA_CLOUD_BASE_URL``).
        docs: Folder of documents (default: :data:`SAMPLE_DOCS`).
        time_scale: Emulator speed factor (simulated durations are multiplied by it).
        workdir: Where the emulator's state, the parsed markdown (``outputs/v2``,
            ``outputs/v1``) and the failed-items exports go
            (default: ``$PREFECT_HOME/llamabatch-demo``).
        console: Where to print (default: stdout).

    Returns:
        What happened; ``exit_code`` is what ``llamabatch demo`` exits with.

    Raises:
        ValueError: Bad arguments (no such folder, a negative time scale).
        CliError: No API key and no ``--emulator`` (exit code 3).
    """
    from prefect_llamabatch.cli.exit_codes import CliError, ExitCode

    quiet_prefect_environment()
    started = time.monotonic()
    console = console or Console()
    folder = (docs or SAMPLE_DOCS).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"--docs: {folder} is not a folder")
    if not any(p.is_file() for p in folder.iterdir()):
        raise ValueError(f"--docs: {folder} has no files")
    if not time_scale >= 0:
        raise ValueError(f"--time-scale: must be >= 0 (got {time_scale})")
    from prefect_llamabatch.client.config import API_KEY_ENV_VARS

    if not emulator and not any(os.environ.get(v) for v in API_KEY_ENV_VARS):
        raise CliError(
            ExitCode.AUTH,
            "the demo runs against LlamaCloud unless told otherwise: set LLAMA_CLOUD_API_KEY, "
            "or pass --emulator (what `make demo` does) to run it locally",
        )

    from prefect_llamabatch.credentials import LlamaCloudCredentials
    from prefect_llamabatch.orchestration.outputs import MANIFEST_NAME
    from prefect_llamabatch.orchestration.waiting import WaitSettings

    base = (workdir or _default_workdir()).expanduser().resolve()
    base.mkdir(parents=True, exist_ok=True)
    why = {doc.name: doc.why for doc in SAMPLE_DOCUMENTS} if docs is None else {}

    with ExitStack() as stack:
        if emulator:
            from prefect_llamabatch.emulator import EmulatorConfig, run_emulator

            state = _fresh_dir(base / "emulator")
            emu = stack.enter_context(
                run_emulator(
                    EmulatorConfig(
                        db_path=state / "emulator.db",
                        data_dir=state / "data",
                        item_duration_seconds=0.8,
                        concurrency=2,
                        time_scale=time_scale,
                        transient_failure_patterns=[FLAKY_PATTERN],
                    )
                )
            )
            credentials = LlamaCloudCredentials(
                api_key=emu.api_key, base_url=emu.base_url, project_id=emu.project_id
            )
            backend = "emulator"
            poll = WaitSettings(poll_interval=max(0.5 * time_scale, 0.05), max_poll_interval=2.0)
        else:
            credentials = LlamaCloudCredentials.from_env()
            backend = credentials.base_url
            poll = WaitSettings(poll_interval=2.0, max_poll_interval=10.0)

        n_docs = sum(1 for p in folder.iterdir() if p.is_file())
        console.print(
            Panel.fit(
                cell(
                    f"prefect-llamabatch demo: {n_docs} documents from {folder}\n"
                    f"LlamaCloud: "
                    f"{'local emulator at ' + credentials.base_url if emulator else backend}"
                ),
                title="llamabatch demo",
            )
        )
        with console.status("Starting Prefect's API (the first start takes 10-20 s)…"):
            prefect_api, database = _start_prefect_api(base)

        stack.enter_context(_expected_failures_without_tracebacks())
        # v2 first: what new users of LlamaCloud meet; then the same documents through v1,
        # whose part also shows the retry round.
        runs = [
            _run_api(
                api,
                retries=api == "v1",
                credentials=credentials,
                folder=folder,
                base=base,
                poll=poll,
                why=why,
                console=console,
            )
            for api in ("v2", "v1")
        ]
        artifacts = _artifacts([i for run in runs for i in run.flow_run_ids])

    checked = emulator and docs is None
    mismatches = [m for run in runs for m in _check_expectations(run)] if checked else []
    console.rule("Where to look")
    for run in runs:
        console.print(
            f"{run.api} outputs (markdown per document, and {MANIFEST_NAME}): {run.output_folder}",
            markup=False,
        )
    console.print("Prefect artifacts of these runs:")
    for key, description in artifacts:
        console.print(f"  {key}: {description}", markup=False, highlight=False)
    if database:
        console.print(
            f"They are in Prefect's ephemeral database {database}. To browse them, run\n"
            "  prefect server start\n"
            "and open http://127.0.0.1:4200/artifacts (same PREFECT_HOME).",
            markup=False,
        )
    else:
        console.print(f"They are on the Prefect server at {prefect_api}.", markup=False)
    duration = time.monotonic() - started
    if mismatches:
        console.print("[red]The demo did not behave as documented:[/red] " + "; ".join(mismatches))
    console.print(f"Demo finished in {duration:.1f} s.")
    return DemoReport(
        exit_code=ExitCode.FAILED if mismatches else ExitCode.OK,
        backend=backend,
        v2=runs[0],
        v1=runs[1],
        artifacts=artifacts,
        prefect_api=prefect_api,
        prefect_database=database,
        workdir=str(base),
        duration_seconds=duration,
        mismatches=mismatches,
    )
