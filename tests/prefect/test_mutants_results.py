"""Failure thresholds and run results: what the mutation run of ``results.py`` found unpinned.

Each test names the behaviour a user relies on (counters read from a job record, the items of a
report, the verdict and summary they read, the threshold the run was judged against); see
``docs/mutation.md``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from prefect_llamabatch.models import BatchJob, JobItem
from prefect_llamabatch.orchestration.results import (
    BatchItemsFailed,
    BatchRunResult,
    FailedItem,
    JobCounts,
    SkippedItem,
    check_max_failed_fraction,
    check_outcome,
    top_errors,
    verdict,
)

STARTED = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)
DONE = datetime(2026, 12, 2, 3, 5, tzinfo=timezone.utc)


def _job(
    *,
    status: str = "completed",
    total: int = 10,
    processed: int | None = 10,
    failed: int | None = 0,
    skipped: int | None = 0,
) -> BatchJob:
    return BatchJob(
        id="bj-7",
        job_type="parse",
        project_id="p",
        status=status,
        total_items=total,
        processed_items=processed,
        failed_items=failed,
        skipped_items=skipped,
    )


def _failed(i: int, error: str | None) -> FailedItem:
    item = JobItem(item_id=f"dfl-{i}", item_name=f"f{i}.pdf", status="failed", error_message=error)
    return FailedItem.from_item(item, batch_job_id="bj-7")


# ------------------------------------------------------------------------------------------------
# Counters of a job record
# ------------------------------------------------------------------------------------------------


def test_every_counter_of_the_record_is_carried() -> None:
    counts = JobCounts.from_job(_job(total=10, processed=9, failed=2, skipped=3))
    assert (counts.total, counts.processed, counts.failed, counts.skipped) == (10, 9, 2, 3)


@pytest.mark.parametrize("absent", [None, 0, -4])
def test_absent_zero_or_negative_counters_count_as_zero(absent: int | None) -> None:
    counts = JobCounts.from_job(_job(total=5, processed=absent, failed=absent, skipped=absent))
    assert (counts.processed, counts.failed, counts.skipped) == (0, 0, 0)
    assert counts.pending == 5


@pytest.mark.parametrize("total", [0, -3])
def test_an_empty_job_has_no_items_and_no_failed_fraction(total: int) -> None:
    result = BatchRunResult.from_job(_job(total=total, processed=0))
    assert result.counts.total == 0
    assert result.failed_fraction == 0.0


def test_the_payload_names_each_counter() -> None:
    payload = JobCounts(total=10, processed=9, failed=2, skipped=3).as_payload()
    assert payload == {"total": 10, "processed": 9, "succeeded": 4, "failed": 2, "skipped": 3}


# ------------------------------------------------------------------------------------------------
# Items of a report
# ------------------------------------------------------------------------------------------------


def test_a_failed_item_keeps_everything_the_api_said_of_it() -> None:
    item = JobItem(
        item_id="dfl-1",
        item_name="a.pdf",
        status="failed",
        error_message="bad PDF",
        job_id="job-a",
        started_at=STARTED,
        completed_at=DONE,
    )
    failed = FailedItem.from_item(item, batch_job_id="bj-7")
    assert failed.model_dump(exclude={"processing_results"}) == {
        "item_id": "dfl-1",
        "item_name": "a.pdf",
        "status": "failed",
        "error_message": "bad PDF",
        "job_id": "job-a",
        "batch_job_id": "bj-7",
        "started_at": STARTED,
        "completed_at": DONE,
    }


def test_a_skipped_item_keeps_its_id_name_reason_and_job() -> None:
    item = JobItem(
        item_id="dfl-2", item_name="b.txt", status="skipped", skip_reason="size_limit_exceeded"
    )
    skipped = SkippedItem.from_item(item, batch_job_id="bj-7")
    assert skipped.model_dump() == {
        "item_id": "dfl-2",
        "item_name": "b.txt",
        "skip_reason": "size_limit_exceeded",
        "batch_job_id": "bj-7",
    }


def test_a_result_starts_at_zero_and_keeps_what_it_is_given() -> None:
    job = _job()
    fresh = BatchRunResult.from_job(job)
    assert (fresh.progress_percentage, fresh.duration_seconds, fresh.api_calls) == (0.0, 0.0, 0)
    given = BatchRunResult.from_job(
        job, progress_percentage=87.5, duration_seconds=12.25, api_calls=9
    )
    assert (given.progress_percentage, given.duration_seconds, given.api_calls) == (87.5, 12.25, 9)


def test_top_errors_lists_ten_by_default_and_names_items_without_a_message() -> None:
    items = [_failed(i, f"error {i}") for i in range(11)] + [_failed(20, None), _failed(21, None)]
    assert top_errors(items)[0] == ("(no error message)", 2)
    assert len(top_errors(items)) == 10
    assert len(top_errors(items, limit=3)) == 3
    result = BatchRunResult.from_job(_job(failed=13)).model_copy(update={"failed_items": items})
    assert len(result.top_errors()) == 10
    assert result.top_errors(limit=2) == [("(no error message)", 2), ("error 0", 1)]


# ------------------------------------------------------------------------------------------------
# What a user reads: the summary line and the verdict
# ------------------------------------------------------------------------------------------------


def _accepted(max_failed_fraction: float | None) -> BatchRunResult:
    result = BatchRunResult.from_job(_job(failed=2), duration_seconds=3.0, api_calls=4)
    return check_outcome(result, max_failed_fraction=max_failed_fraction)


def test_the_summary_says_which_limit_accepted_the_failures() -> None:
    start = "batch job bj-7 completed: 8/10 succeeded, 2 failed, 0 skipped in 3.0s (4 API calls)"
    assert _accepted(0.25).summary() == (
        f"{start}; 2 failed item(s) accepted (max_failed_fraction=0.25)"
    )
    assert _accepted(None).summary() == f"{start}; 2 failed item(s) accepted (any number accepted)"


def test_an_accepted_failure_is_logged_with_why_the_run_did_not_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = BatchRunResult.from_job(_job(failed=1))
    with caplog.at_level(logging.WARNING, logger="t-results"):
        judged = check_outcome(
            result, max_failed_fraction=0.5, logger=logging.getLogger("t-results")
        )
    assert [r.getMessage() for r in caplog.records] == [
        f"{judged.summary()}. The run is not failed because the failures are within the "
        "accepted limit."
    ]


def test_the_verdict_of_each_ending() -> None:
    clean = JobCounts(total=10, processed=10)
    two = JobCounts(total=10, processed=10, failed=2)
    assert verdict("failed", two, 0.5, error_message="quota") == (
        "Failed: the batch job failed (quota)."
    )
    assert verdict("failed", clean, 0.0) == "Failed: the batch job failed."
    assert verdict("cancelled", JobCounts(total=10, processed=4), 0.0) == (
        "Cancelled: the batch job was cancelled after 4 of 10 items were processed."
    )
    assert verdict("completed", clean, 0.0) == "OK: no item failed."
    assert verdict("completed", JobCounts(total=1, processed=1, failed=1), 0.0) == (
        "Failed: 1 of 1 items failed (100.0% > 0.0% allowed)."
    )
    assert verdict("completed", two, None) == (
        "Accepted failures: 2 of 10 items failed (20.0%); any number of failed items is "
        "accepted (max_failed_fraction=None)."
    )
    assert verdict("completed", two, 0.2) == (
        "Accepted failures: 2 of 10 items failed (20.0%), within max_failed_fraction=0.2."
    )
    assert verdict("completed", two, 0.1) == "Failed: 2 of 10 items failed (20.0% > 10.0% allowed)."


def test_a_verdict_on_failures_without_a_total_reads_zero_percent() -> None:
    # A server that counted failed items but no total: no division by zero, 0% failed.
    assert verdict("completed", JobCounts(total=0, failed=1), None) == (
        "Accepted failures: 1 of 0 items failed (0.0%); any number of failed items is "
        "accepted (max_failed_fraction=None)."
    )


# ------------------------------------------------------------------------------------------------
# The threshold
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", [0.0, 1.0])
def test_both_ends_of_the_threshold_are_allowed(bound: float) -> None:
    check_max_failed_fraction(bound)
    all_failed = BatchRunResult.from_job(_job(failed=10))
    if bound == 1.0:
        assert check_outcome(all_failed, max_failed_fraction=bound).accepted_failures
    else:
        with pytest.raises(BatchItemsFailed):
            check_outcome(all_failed, max_failed_fraction=bound)


def test_a_bad_threshold_says_what_none_means() -> None:
    with pytest.raises(ValueError) as info:
        check_max_failed_fraction(-0.1)
    assert str(info.value) == (
        "max_failed_fraction must be between 0 and 1 (got -0.1); "
        "None accepts any number of failed items"
    )


@pytest.mark.parametrize("threshold", [0.3, None])
def test_the_result_records_the_threshold_it_was_judged_against(threshold: float | None) -> None:
    judged = check_outcome(BatchRunResult.from_job(_job(failed=2)), max_failed_fraction=threshold)
    assert judged.max_failed_fraction == threshold
    assert (
        check_outcome(BatchRunResult.from_job(_job()), max_failed_fraction=0.3).max_failed_fraction
        == 0.3
    )
    with pytest.raises(BatchItemsFailed) as info:
        check_outcome(BatchRunResult.from_job(_job(failed=5)), max_failed_fraction=0.1)
    assert info.value.result.max_failed_fraction == 0.1
