"""``report_failed_items``: every failed item of a job, fetched in parallel, summarised in artifacts.

The failed (and skipped) items are listed page by page, the pages after the first split into at
most ``max_concurrency`` contiguous chunks, one Prefect task per chunk, so a 10,000-item report is a
couple of dozen task runs, not 10,000. Optionally each failed item's processing results are
fetched, again one task per chunk. Per-item work is constant (one model built, one counter bumped);
artifacts are capped. It runs under any task runner: the default thread pool, or Dask for users who
outgrow one machine (``pip install 'prefect-llamabatch[dask]'``, then
``report_failed_items.with_options(task_runner=DaskTaskRunner())``).
"""

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal, cast
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import BatchJob, ItemProcessingResults, JobItem
from prefect_llamabatch.orchestration.effects import Tenant
from prefect_llamabatch.orchestration.effects import tenant as tenant_of
from prefect_llamabatch.orchestration.results import (
    BatchRunResult,
    FailedItem,
    JobCounts,
    SkippedItem,
    top_errors,
)
from prefect_llamabatch.orchestration.results import verdict as describe_verdict
from prefect_llamabatch.orchestration.runtime import run_logger
from prefect_llamabatch.orchestration.v2_pipeline import merge_shard_runs, read_batch_outcomes
from prefect_llamabatch.orchestration.waiting import progress_artifact_key

__all__ = [
    "FailedItemsReport",
    "collect_report",
    "publish_retry_report",
    "publish_table",
    "render_retry_summary",
    "render_summary",
    "report_failed_items",
    "report_v2",
    "report_v2_batch",
    "write_export",
]

EXPORT_FORMATS = ("csv", "jsonl")
CSV_FIELDS = (
    "item_id",
    "item_name",
    "status",
    "error_message",
    "job_id",
    "batch_job_id",
    "started_at",
    "completed_at",
)


class FailedItemsReport(BaseModel):
    """What ``report_failed_items`` found and produced.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.orchestration.reporting import FailedItemsReport

        job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="completed", total_items=1)
        report = FailedItemsReport(job=job)
        assert report.failed == [] and report.counts.total == 1
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    job: BatchJob
    failed: list[FailedItem] = Field(default_factory=list)
    skipped: list[SkippedItem] = Field(default_factory=list)
    duration_seconds: float = 0.0
    api_calls: int = 0
    export_path: str | None = None
    table_artifact_id: UUID | None = None
    summary_artifact_id: UUID | None = None

    @property
    def counts(self) -> JobCounts:
        """The job's counters."""
        return JobCounts.from_job(self.job)

    @property
    def counts_by_status(self) -> dict[str, int]:
        """Items per status, from the job's counters."""
        c = self.counts
        return {
            "completed": c.succeeded,
            "failed": c.failed,
            "skipped": c.skipped,
            "not processed": c.pending,
        }

    def top_errors(self, limit: int = 10) -> list[tuple[str, int]]:
        """The most common error messages, most frequent first."""
        return top_errors(self.failed, limit)


@task(name="get-report-job", cache_policy=NO_CACHE, task_run_name="get-report-job/{job_id}")
def _get_job(
    credentials: LlamaCloudCredentials, job_id: str, tenant: Tenant
) -> tuple[BatchJob, int]:
    with credentials.get_client() as client:
        status = client.get_job(job_id, **tenant)
        return status.job, client.stats.requests


@task(
    name="list-items",
    cache_policy=NO_CACHE,
    task_run_name="list-items/{job_id}/{status}",
)
def _list_items(
    credentials: LlamaCloudCredentials,
    job_id: str,
    status: str,
    page_size: int,
    max_concurrency: int,
    tenant: Tenant,
) -> tuple[list[JobItem], int]:
    """Every item of the job in ``status``, through the client's trusted paging.

    One task run per status: the client fetches pages concurrently, never stops at a short page,
    never yields an item twice and raises ``ListingError`` when the listing contradicts itself
    (an ignored ``offset``, a repeated page) instead of returning a short or duplicated report.
    The job's counters are not trusted to bound it: the listing runs until the API says it ended.
    """
    with credentials.get_client() as client:
        items = list(
            client.iter_items(
                job_id, status=status, page_size=page_size, concurrency=max_concurrency, **tenant
            )
        )
        return items, client.stats.requests


@task(name="get-results-chunk", cache_policy=NO_CACHE, task_run_name="get-results-chunk/{first}")
def _results_chunk(
    credentials: LlamaCloudCredentials,
    item_ids: list[str],
    first: str,
    tenant: Tenant,
) -> tuple[dict[str, ItemProcessingResults], int]:
    found: dict[str, ItemProcessingResults] = {}
    with credentials.get_client() as client:
        for item_id in item_ids:
            found[item_id] = client.get_item_results(item_id, **tenant)
        return found, client.stats.requests


def _chunks_of(values: list[str], chunks: int) -> list[list[str]]:
    size = -(-len(values) // max(1, chunks)) if values else 0
    return [values[i : i + size] for i in range(0, len(values), size)] if size else []


def _slug(job_id: str) -> str:
    return progress_artifact_key(job_id).removeprefix("llamabatch-progress-")


def render_summary(
    report: FailedItemsReport,
    *,
    max_failed_fraction: float | None = 0.0,
    verdict: str | None = None,
    top: int = 10,
) -> str:
    """The markdown summary: counts by status, verdict, most common errors, skip reasons, timing.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.orchestration.reporting import FailedItemsReport, render_summary

        job = BatchJob(id="bj-1", job_type="parse", project_id="p", status="completed",
                       total_items=2, processed_items=2)
        assert "no item failed" in render_summary(FailedItemsReport(job=job))
        ```
    """
    job = report.job
    c = report.counts
    lines = [
        f"# LlamaCloud batch job `{job.id}`: {job.status_value}",
        "",
        f"Directory: `{job.directory_id or '-'}` · job type: `{job.job_type}` · project: `{job.project_id}`",
        "",
        "| status | items |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {n} |" for name, n in report.counts_by_status.items()]
    lines += [f"| **total** | **{c.total}** |", ""]
    stated = verdict or describe_verdict(
        job.status_value, c, max_failed_fraction, error_message=job.error_message
    )
    lines += [f"**{stated}**", ""]
    errors = report.top_errors(top)
    if errors:
        lines += ["## Most common errors", "", "| error | items |", "|---|---:|"]
        lines += [f"| {_cell(msg)} | {n} |" for msg, n in errors]
        lines.append("")
    if report.skipped:
        reasons = Counter(s.skip_reason or "(no reason given)" for s in report.skipped)
        lines += ["## Skipped", "", "| reason | items |", "|---|---:|"]
        lines += [f"| {_cell(reason)} | {n} |" for reason, n in reasons.most_common()]
        lines.append("")
    timing = []
    if job.started_at and job.completed_at:
        timing.append(f"processing took {(job.completed_at - job.started_at).total_seconds():.1f}s")
    timing.append(f"report took {report.duration_seconds:.1f}s ({report.api_calls} API calls)")
    lines.append("Timing: " + ", ".join(timing) + ".")
    if report.export_path:
        lines += ["", f"Every failed item: `{report.export_path}`"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def _table_rows(items: list[FailedItem], limit: int) -> list[dict[str, Any]]:
    return [
        {
            "item_id": i.item_id,
            "item_name": i.item_name,
            "error": i.error_message or "",
            "job_id": i.job_id or "",
            "started_at": i.started_at.isoformat() if i.started_at else "",
            "completed_at": i.completed_at.isoformat() if i.completed_at else "",
        }
        for i in items[:limit]
    ]


def publish_table(
    failed: list[FailedItem],
    *,
    key: str,
    title: str,
    max_rows: int,
    export_path: str | None,
) -> UUID | None:
    """The table artifact of failed items: the first ``max_rows``, the rest counted."""
    if not failed:
        return None
    shown = min(len(failed), max_rows)
    rest = len(failed) - shown
    description = f"{title}: {len(failed)}"
    if rest:
        description += f" (showing the first {shown}; {rest} more"
        description += f" in {export_path})" if export_path else " not shown)"
    return cast(
        UUID,
        create_table_artifact(
            _table_rows(failed, max_rows),
            key=key,
            description=description,
            _sync=True,  # type: ignore[call-arg]
        ),
    )


def render_retry_summary(
    result: BatchRunResult,
    *,
    original_job: BatchJob,
    originally_failed: int,
    max_failed_fraction: float | None,
) -> str:
    """The markdown summary of a retry chain: every round, what still fails, the verdict."""
    c = result.counts
    lines = [
        f"# Retry of LlamaCloud batch job `{original_job.id}`",
        "",
        f"{originally_failed} item(s) had failed out of {original_job.total_items}; "
        f"after {len(result.rounds)} round(s), {c.failed} still fail.",
        "",
        "| round | job | submitted | succeeded | failed | status |",
        "|---:|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.round} | `{r.job_id}` | {r.submitted} | {r.counts.succeeded} | {r.counts.failed} "
        f"| {r.status} |"
        for r in result.rounds
    ]
    stated = describe_verdict(result.status, c, max_failed_fraction)
    lines += ["", f"**{stated}**", ""]
    errors = top_errors(result.failed_items)
    if errors:
        lines += ["## Most common errors (still failing)", "", "| error | items |", "|---|---:|"]
        lines += [f"| {_cell(msg)} | {n} |" for msg, n in errors]
        lines.append("")
    if result.export_path:
        lines += [f"Every still-failing item: `{result.export_path}`", ""]
    return "\n".join(lines)


def publish_retry_report(
    result: BatchRunResult,
    *,
    original_job: BatchJob,
    originally_failed: int,
    max_failed_fraction: float | None,
    export_path: str | None,
    max_table_rows: int = 200,
) -> str | None:
    """Artifacts (and export) of a retry chain; returns the export path, if any."""
    written = None
    if export_path is not None:
        written = str(write_export(result.failed_items, export_path, job_id=original_job.id))
        result = result.model_copy(update={"export_path": written})
    slug = _slug(original_job.id)
    publish_table(
        result.failed_items,
        key=f"llamabatch-still-failing-{slug}",
        title=f"Items of batch job {original_job.id} still failing after retries",
        max_rows=max_table_rows,
        export_path=written,
    )
    create_markdown_artifact(
        render_retry_summary(
            result,
            original_job=original_job,
            originally_failed=originally_failed,
            max_failed_fraction=max_failed_fraction,
        ),
        key=f"llamabatch-retry-summary-{slug}",
        description=f"Retry rounds of LlamaCloud batch job {original_job.id}",
        _sync=True,  # type: ignore[call-arg]
    )
    return written


def write_export(
    items: list[FailedItem], path: str | Path, *, job_id: str, export_format: str | None = None
) -> Path:
    """Write every failed item to CSV or JSON Lines; returns the file written.

    ``path`` may be a folder (the file is then ``failed-items-<job_id>.<format>`` in it); the
    format comes from ``export_format`` or the file suffix (``.csv`` / ``.jsonl``).
    """
    target = Path(path).expanduser()
    fmt = export_format
    if target.is_dir() or str(path).endswith(("/", "\\")):
        fmt = fmt or "csv"
        target = target / f"failed-items-{_slug(job_id)}.{fmt}"
    fmt = fmt or target.suffix.lstrip(".").lower() or "csv"
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {', '.join(EXPORT_FORMATS)} (got {fmt!r})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for item in items:
                writer.writerow(item.model_dump(mode="json", include=set(CSV_FIELDS)))
        else:
            for item in items:
                handle.write(item.model_dump_json(exclude_none=True))
                handle.write("\n")
    return target


def _validate(
    job_id: str,
    page_size: int,
    max_concurrency: int,
    max_table_rows: int,
    export_format: str | None,
) -> None:
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValueError(f"job_id must be a non-empty string (got {job_id!r})")
    if not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be between 1 and 1000 (got {page_size})")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 (got {max_concurrency})")
    if max_table_rows < 0:
        raise ValueError(f"max_table_rows must be >= 0 (got {max_table_rows})")
    if export_format is not None and export_format not in EXPORT_FORMATS:
        raise ValueError(
            f"export_format must be one of {', '.join(EXPORT_FORMATS)} (got {export_format!r})"
        )


@flow(name="report-failed-items", flow_run_name="report-failed-items/{job_id}", log_prints=False)
def report_failed_items(
    credentials: LlamaCloudCredentials,
    job_id: str,
    *,
    include_skipped: bool = True,
    include_results: bool = False,
    page_size: int = 200,
    max_concurrency: int = 8,
    max_table_rows: int = 200,
    export_path: str | None = None,
    export_format: str | None = None,
    max_failed_fraction: float | None = 0.0,
    verdict: str | None = None,
    artifacts: bool = True,
    organization_id: str | None = None,
    project_id: str | None = None,
    api: Literal["v1", "v2"] = "v1",
) -> FailedItemsReport:
    """List every failed (and skipped) item of a job and report on them.

    Produces a table artifact (item id, name, error, underlying job id, timestamps; the first
    ``max_table_rows`` rows, with a count of the rest), a markdown summary artifact (counts by
    status, verdict, most common errors, skip reasons, timing), optionally a CSV/JSONL file of
    every failed item, and returns the full lists.

    Its fan-out tasks run under the flow's task runner: the thread pool by default (tested with
    other worker counts too), or Dask for larger jobs: ``pip install 'prefect-llamabatch[dask]'``
    (``prefect-dask``), then ``report_failed_items.with_options(task_runner=DaskTaskRunner())``
    (second example). The report is the same under any runner: the chunks are reassembled in
    order.

    Args:
        credentials: LlamaCloud credentials block.
        job_id: The batch job (normally finished).
        include_skipped: Also list the skipped items (with their reasons).
        include_results: Fetch each failed item's processing results (bounded concurrency).
        page_size: Items per list request.
        max_concurrency: Chunks fetched at once (each chunk is one task run).
        max_table_rows: Rows in the table artifact; the rest are counted in its description.
        export_path: File or folder to write every failed item to.
        export_format: ``csv`` or ``jsonl`` (default: from the file suffix, else csv).
        max_failed_fraction: Threshold the summary's verdict is stated against (None: any
            number of failed items is accepted).
        verdict: A verdict line to state instead (the calling flow's own judgement).
        artifacts: Create the table and summary artifacts.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.
        api: ``v2`` when ``job_id`` is a v2 batch: its failed files come from the referenced
            parse/extract jobs, read in batched lookups (v2 skips nothing).

    Returns:
        Every failed and skipped item, the artifacts' ids, the export path.

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.reporting import report_failed_items

        @flow
        def triage(job_id: str) -> int:
            report = report_failed_items(
                LlamaCloudCredentials.load("llamacloud"), job_id, export_path="failed.csv"
            )
            return len(report.failed)

        print(triage("bjb-123"))
        ```

        The same report under another task runner (Dask when the ``dask`` extra is installed):
        ```python
        from prefect.task_runners import ThreadPoolTaskRunner
        from prefect_llamabatch import LlamaCloudCredentials
        from prefect_llamabatch.orchestration.reporting import report_failed_items

        try:
            from prefect_dask import DaskTaskRunner  # pip install 'prefect-llamabatch[dask]'

            runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2})
        except ImportError:
            runner = ThreadPoolTaskRunner(max_workers=2)
        report = report_failed_items.with_options(task_runner=runner)(
            LlamaCloudCredentials.load("llamacloud"), "bjb-123"
        )
        print(len(report.failed), "failed")
        ```
    """
    _validate(job_id, page_size, max_concurrency, max_table_rows, export_format)
    if api == "v2":
        return report_v2_batch(
            credentials,
            job_id,
            export_path=export_path,
            max_failed_fraction=max_failed_fraction,
            verdict_line=verdict,
            artifacts=artifacts,
            max_table_rows=max_table_rows,
            organization_id=organization_id,
            project_id=project_id,
        )
    return collect_report(
        credentials,
        job_id,
        include_skipped=include_skipped,
        include_results=include_results,
        page_size=page_size,
        max_concurrency=max_concurrency,
        max_table_rows=max_table_rows,
        export_path=export_path,
        export_format=export_format,
        max_failed_fraction=max_failed_fraction,
        verdict=verdict,
        artifacts=artifacts,
        organization_id=organization_id,
        project_id=project_id,
    )


def collect_report(
    credentials: LlamaCloudCredentials,
    job_id: str,
    *,
    include_skipped: bool = True,
    include_results: bool = False,
    page_size: int = 200,
    max_concurrency: int = 8,
    max_table_rows: int = 200,
    export_path: str | None = None,
    export_format: str | None = None,
    max_failed_fraction: float | None = 0.0,
    verdict: str | None = None,
    artifacts: bool = True,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> FailedItemsReport:
    """The body of :func:`report_failed_items`, run inside the *calling* flow.

    Its tasks go to the caller's task runner, and the 10,000-item result is not handed through a
    subflow's return (Prefect walks every flow's return value looking for futures, which costs
    ~1.7 s per 10,000 items here). The package's flows call this; users call the flow.
    """
    _validate(job_id, page_size, max_concurrency, max_table_rows, export_format)
    start = time.monotonic()
    tenant = tenant_of(organization_id, project_id)
    job, requests = _get_job(credentials, job_id, tenant)
    failed: list[FailedItem] = []
    skipped: list[SkippedItem] = []
    # Listed even when the job's counters say none: a counter is a summary, the listing the truth.
    items, n = _list_items(credentials, job_id, "failed", page_size, max_concurrency, tenant)
    requests += n
    failed = [FailedItem.from_item(i, batch_job_id=job_id) for i in items]
    if include_skipped:
        items, n = _list_items(credentials, job_id, "skipped", page_size, max_concurrency, tenant)
        requests += n
        skipped = [SkippedItem.from_item(i, batch_job_id=job_id) for i in items]
    if (job.failed_items or 0) != len(failed):
        run_logger().warning(
            "job %s reports %s failed items but lists %d; the report follows the listing",
            job_id,
            job.failed_items,
            len(failed),
        )
    if include_results and failed:
        ids = [f.item_id for f in failed]
        futures = [
            _results_chunk.submit(credentials, chunk, chunk[0], tenant)
            for chunk in _chunks_of(ids, max_concurrency)
        ]
        wait(futures)
        found: dict[str, ItemProcessingResults] = {}
        for future in futures:
            part, n = future.result()
            found.update(part)
            requests += n
        failed = [f.model_copy(update={"processing_results": found.get(f.item_id)}) for f in failed]
    report = FailedItemsReport(job=job, failed=failed, skipped=skipped, api_calls=requests)
    if export_path is not None:
        written = write_export(failed, export_path, job_id=job_id, export_format=export_format)
        report.export_path = str(written)
    report.duration_seconds = time.monotonic() - start
    if artifacts:
        _publish_artifacts(
            report,
            job_id,
            f"LlamaCloud batch job {job_id}",
            max_table_rows=max_table_rows,
            max_failed_fraction=max_failed_fraction,
            verdict=verdict,
        )
    run_logger().info(
        "Report of batch job %s: %d failed, %d skipped item(s) listed in %.1fs (%d API calls)%s",
        job_id,
        len(failed),
        len(skipped),
        report.duration_seconds,
        requests,
        f"; exported to {report.export_path}" if report.export_path else "",
    )
    return report


def _publish_artifacts(
    report: FailedItemsReport,
    job_id: str,
    subject: str,
    *,
    max_table_rows: int,
    max_failed_fraction: float | None,
    verdict: str | None,
) -> None:
    """The failed-items table and the summary of a report (v1 and v2 alike), ids set on it."""
    slug = _slug(job_id)
    report.table_artifact_id = publish_table(
        report.failed,
        key=f"llamabatch-failed-items-{slug}",
        title=f"Failed items of {subject}",
        max_rows=max_table_rows,
        export_path=report.export_path,
    )
    report.summary_artifact_id = cast(
        UUID,
        create_markdown_artifact(
            render_summary(report, max_failed_fraction=max_failed_fraction, verdict=verdict),
            key=f"llamabatch-summary-{slug}",
            description=f"Summary of {subject}",
            _sync=True,  # type: ignore[call-arg]
        ),
    )


def report_v2(
    result: BatchRunResult,
    failed: list[FailedItem],
    *,
    export_path: str | None,
    max_failed_fraction: float | None,
    verdict: str | None,
    artifacts: bool = True,
    max_table_rows: int = 200,
) -> FailedItemsReport:
    """The v1 report's export, table and summary artifacts, for outcomes already in hand."""
    job_id = result.job.id
    report = FailedItemsReport(job=result.job, failed=failed, api_calls=0)
    if export_path is not None:
        report.export_path = str(write_export(failed, export_path, job_id=job_id))
    if artifacts:
        batches = ", ".join(s.job_id for s in result.shards) or job_id
        _publish_artifacts(
            report,
            job_id,
            f"LlamaCloud v2 batch(es) {batches}",
            max_table_rows=max_table_rows,
            max_failed_fraction=max_failed_fraction,
            verdict=verdict,
        )
    run_logger().info(
        "Report of v2 batch(es) %s: %d failed item(s)%s",
        job_id,
        len(failed),
        f"; exported to {report.export_path}" if report.export_path else "",
    )
    return report


def report_v2_batch(
    credentials: LlamaCloudCredentials,
    batch_id: str,
    *,
    export_path: str | None,
    max_failed_fraction: float | None,
    verdict_line: str | None,
    artifacts: bool,
    max_table_rows: int,
    organization_id: str | None,
    project_id: str | None,
) -> FailedItemsReport:
    """``report_failed_items`` of a v2 batch: its failed files, from batched job lookups."""
    start = time.monotonic()
    run = read_batch_outcomes(credentials, batch_id, tenant_of(organization_id, project_id))
    result, failed = merge_shard_runs([run], directory_id=None)
    findings = report_v2(
        result,
        failed,
        export_path=export_path,
        max_failed_fraction=max_failed_fraction,
        verdict=verdict_line,
        artifacts=artifacts,
        max_table_rows=max_table_rows,
    )
    findings.api_calls = run.api_calls
    findings.duration_seconds = time.monotonic() - start
    return findings
