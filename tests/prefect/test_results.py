"""Result models and the outcome policy (what makes a run fail)."""

from __future__ import annotations

import logging
import pickle

import cloudpickle
import pytest

from prefect_llamabatch.models import JobItem
from prefect_llamabatch.orchestration.results import (
    BatchApiUnavailable,
    BatchItemsFailed,
    BatchJobCancelled,
    BatchJobFailed,
    BatchJobTimeout,
    BatchRunResult,
    FailedItem,
    JobCounts,
    check_outcome,
    top_errors,
)
from tests.prefect.fakes import job_status


def result(
    status: str = "completed", *, total: int = 10, failed: int = 0, skipped: int = 0
) -> BatchRunResult:
    return BatchRunResult.from_job(
        job_status(status, total=total, processed=total, failed=failed, skipped=skipped).job,
        duration_seconds=2.0,
        api_calls=5,
    )


def failed_item(i: int, error: str) -> FailedItem:
    item = JobItem(item_id=f"dfl-{i}", item_name=f"f{i}.pdf", status="failed", error_message=error)
    return FailedItem.from_item(item, batch_job_id="bj-1")


def test_counts() -> None:
    c = JobCounts(total=10, processed=8, failed=2, skipped=1)
    assert (c.succeeded, c.pending) == (5, 2)
    assert c.as_payload()["succeeded"] == 5


def test_clean_run_passes_untouched() -> None:
    r = check_outcome(result(), max_failed_fraction=0.0)
    assert r.succeeded and not r.accepted_failures


def test_failed_items_fail_by_default_and_carry_the_result() -> None:
    r = result(failed=1).model_copy(update={"failed_items": [failed_item(1, "not a PDF")]})
    with pytest.raises(BatchItemsFailed) as info:
        check_outcome(r)
    assert info.value.result.failed_items[0].item_id == "dfl-1"
    assert "1 of 10" in str(info.value) and "not a PDF" in str(info.value)


def test_failures_within_threshold_are_accepted_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        r = check_outcome(result(failed=2), max_failed_fraction=0.2, logger=logging.getLogger("t"))
    assert r.accepted_failures and not r.succeeded
    assert "accepted" in r.summary()
    assert any("2 failed" in rec.getMessage() for rec in caplog.records)


def test_threshold_is_inclusive_and_exceeding_fails() -> None:
    assert check_outcome(result(failed=2), max_failed_fraction=0.2).accepted_failures
    with pytest.raises(BatchItemsFailed):
        check_outcome(result(failed=3), max_failed_fraction=0.2)


def test_none_threshold_accepts_any_number() -> None:
    assert check_outcome(result(failed=10), max_failed_fraction=None).accepted_failures


def test_failed_and_cancelled_jobs_raise() -> None:
    with pytest.raises(BatchJobFailed):
        check_outcome(result("failed"), max_failed_fraction=None)
    with pytest.raises(BatchJobCancelled):
        check_outcome(result("cancelled"), max_failed_fraction=None)


def test_bad_threshold_names_the_field() -> None:
    with pytest.raises(ValueError, match="max_failed_fraction"):
        check_outcome(result(), max_failed_fraction=1.5)


def test_top_errors() -> None:
    items = [failed_item(i, "a") for i in range(3)] + [failed_item(9, "b")]
    assert top_errors(items) == [("a", 3), ("b", 1)]


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_exceptions_pickle(dumps) -> None:  # type: ignore[no-untyped-def]
    errors = [
        BatchJobFailed(result("failed")),
        BatchItemsFailed(result(failed=4)),
        BatchJobCancelled(result("cancelled")),
        BatchJobTimeout(
            job_id="bj-1",
            timeout_seconds=5,
            last_status="running",
            progress_percentage=40,
            remote_cancelled=True,
        ),
        BatchApiUnavailable(
            api="http://x",
            job_id="bj-1",
            unreachable_seconds=300,
            budget_seconds=300,
            last_error="503",
        ),
    ]
    for err in errors:
        back = pickle.loads(dumps(err))
        assert type(back) is type(err)
        assert str(back) == str(err)
        assert back.job_id == "bj-1"
        if hasattr(err, "result"):
            assert back.result == err.result
