"""The wait loop: what the mutation run of ``waiting.py`` found unpinned (``docs/mutation.md``).

Driven by an in-memory port (a fake clock and scripted answers, no Prefect API): the tenant every
request carries, the polls around a deadline, the counts of an outage, what the run log says, the
progress artifact, and the result ``wait_result_steps`` builds (items, job record forgotten,
events).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from prefect_llamabatch.client.errors import error_for_status
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import BatchJob, BatchJobStatus, JobItem
from prefect_llamabatch.orchestration import waiting
from prefect_llamabatch.orchestration.drivers import drive
from prefect_llamabatch.orchestration.effects import (
    AllItems,
    CancelJob,
    CreateProgressArtifact,
    Effect,
    ForgetJob,
    GetJob,
    Tenant,
    UpdateProgressArtifact,
    tenant,
)
from prefect_llamabatch.orchestration.results import BatchApiUnavailable, BatchJobTimeout
from prefect_llamabatch.orchestration.waiting import (
    CompletionEstimate,
    OutageBudget,
    ProgressTracker,
    WaitSettings,
    is_transient_error,
    progress_artifact_key,
    wait_credentials,
    wait_result_steps,
    wait_steps,
)
from tests.prefect.fakes import FakePort, job_status

LOG = "t-mutants-wait"
API = "http://127.0.0.1:1"
QUIET = {"progress_artifact": False}


def down(code: int = 503) -> Exception:
    return error_for_status(code, method="GET", path="/x", detail="down")


@dataclass
class Port(FakePort):
    """A :class:`FakePort` that also records each request's tenant, the artifact calls, the items
    listed and the job records forgotten."""

    tenants: list[tuple[str, Tenant]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    artifact_calls: list[tuple[Any, ...]] = field(default_factory=list)
    items: dict[str, list[JobItem]] = field(default_factory=dict)
    listed: list[tuple[str, str | None, Tenant]] = field(default_factory=list)
    forgotten: list[tuple[str, str]] = field(default_factory=list)

    def perform(self, effect: Effect[Any]) -> Any:
        match effect:
            case GetJob(job_id=job_id, tenant=options):
                self.tenants.append(("get", options))
                self.asked.append(job_id)
            case CancelJob(job_id=job_id, tenant=options):
                self.tenants.append(("cancel", options))
            case CreateProgressArtifact(progress=progress, key=key, description=description):
                self.artifact_calls.append(("create", progress, key, description))
            case UpdateProgressArtifact(artifact_id=artifact_id, progress=progress):
                self.artifact_calls.append(("update", artifact_id, progress))
            case AllItems(job_id=job_id, status=status, tenant=options):
                self.listed.append((job_id, status, options))
                return self.items.get(status or "", [])
            case ForgetJob(flow_run_id=run_id, job_id=job_id):
                self.forgotten.append((run_id, job_id))
                return None
        return super().perform(effect)

    def create_progress_artifact(self, progress: float, key: str | None, description: str) -> UUID:
        created = super().create_progress_artifact(progress, key, description)
        self.created_id = created
        return created


def run_wait(port: Port, settings: WaitSettings, **kw: Any) -> waiting.WaitOutcome:
    steps = wait_steps("bj-1", settings, logger=logging.getLogger(LOG), api=API, **kw)
    outcome: waiting.WaitOutcome = drive(steps, port)
    return outcome


def messages(caplog: pytest.LogCaptureFixture, logger: str = LOG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


# ------------------------------------------------------------------------------------------------
# The pure pieces
# ------------------------------------------------------------------------------------------------


def test_no_estimate_without_time_passing_or_once_the_job_is_done() -> None:
    estimate = CompletionEstimate()
    estimate.observe(at=0.0, percent=0.0)
    estimate.observe(at=2.0, percent=10.0)  # first movement
    assert estimate.observe(at=2.0, percent=20.0) is None  # no time since: no rate
    assert estimate.observe(at=4.0, percent=100.0) is None  # done: nothing left to estimate


def test_a_poll_is_timed_a_little_after_the_predicted_end() -> None:
    # 10 %/s from the second poll on: at 20 % there are 8 s left; the poll lands at 8*1.02+0.5.
    port = Port(
        [
            job_status("running", progress=0.0),
            job_status("running", progress=10.0),
            job_status("running", progress=20.0),
            job_status("completed", processed=10),
        ]
    )
    run_wait(port, WaitSettings(poll_interval=1, backoff_factor=1, max_poll_interval=100, **QUIET))
    assert port.sleeps == [1.0, 1.0, pytest.approx(8.66)]


def test_the_outage_budget_counts_each_failure_and_forgets_them_on_recovery() -> None:
    budget = OutageBudget(60)
    assert budget.elapsed(at=500.0) == 0.0  # no outage yet
    for at in (100.0, 110.0, 120.0):
        budget.failed(at=at, error=f"503 at {at:g}")
    assert (budget.failures, budget.last_error, budget.elapsed(at=130.0)) == (3, "503 at 120", 30.0)
    budget.recovered()
    assert (budget.failures, budget.last_error, budget.elapsed(at=500.0)) == (0, "", 0.0)


def _status(processed: int | None, failed: int | None, skipped: int | None, pct: float) -> Any:
    job = BatchJob(
        id="bj-1",
        job_type="parse",
        project_id="p",
        status="running",
        total_items=10,
        processed_items=processed,
        failed_items=failed,
        skipped_items=skipped,
    )
    return BatchJobStatus(job=job, progress_percentage=pct)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((0, 0, 0, 10.0), (0, 0, 0, 55.0)),  # the percent moved
        ((5, 0, 0, 10.0), (7, 0, 0, 10.0)),  # one more processed, same percent
        ((0, 0, 0, 10.0), (1, 0, 0, 10.0)),
        ((0, 5, 0, 10.0), (0, 7, 0, 10.0)),  # one more failed
        ((0, 0, 0, 10.0), (0, 1, 0, 10.0)),
        ((0, 0, 5, 10.0), (0, 0, 7, 10.0)),  # one more skipped
        ((0, 0, 0, 10.0), (0, 0, 1, 10.0)),
    ],
)
def test_progress_changes_when_the_percent_or_any_counter_moves(
    before: tuple[int, int, int, float], after: tuple[int, int, int, float]
) -> None:
    tracker = ProgressTracker()
    tracker.observe(_status(*before))
    assert tracker.observe(_status(*after)).progress_changed
    assert not tracker.observe(_status(*after)).progress_changed


def test_absent_counters_are_zeros_for_the_tracker() -> None:
    tracker = ProgressTracker()
    tracker.observe(_status(None, None, None, 10.0))
    assert not tracker.observe(_status(0, 0, 0, 10.0)).progress_changed


def test_a_request_timeout_is_ridden_out() -> None:
    assert is_transient_error(down(408))
    assert not is_transient_error(down(409))


def test_the_artifact_key_has_no_leading_or_trailing_dash() -> None:
    assert progress_artifact_key("--BJ 1--") == "llamabatch-progress-bj-1"


@pytest.mark.parametrize(("deadline", "capped"), [(None, 30.0), (5.0, 5.0), (300.0, 30.0)])
def test_a_poll_retries_for_at_most_thirty_seconds(deadline: float | None, capped: float) -> None:
    creds = LlamaCloudCredentials(api_key="llx-test", retry_deadline=deadline)
    assert wait_credentials(creds).retry_deadline == capped
    assert wait_credentials(creds).api_key.get_secret_value() == "llx-test"


# ------------------------------------------------------------------------------------------------
# The loop: tenant, deadline, outages, log
# ------------------------------------------------------------------------------------------------


def test_every_request_carries_the_tenant() -> None:
    port = Port([job_status("running"), down(), job_status("running")])
    options = tenant("org-9", "proj-9")
    settings = WaitSettings(poll_interval=1, max_poll_interval=1, timeout_seconds=3, **QUIET)
    with pytest.raises(BatchJobTimeout):
        run_wait(port, settings, request_options=options)
    assert [kind for kind, _ in port.tenants] == ["get", "get", "get", "get", "cancel"]
    assert all(t == options for _, t in port.tenants)
    assert {job_id for job_id, _ in port.cancels} == {"bj-1"}
    assert port.asked == ["bj-1"] * 4


def test_without_a_tenant_requests_carry_the_default_one() -> None:
    port = Port([job_status("completed", processed=10)])
    run_wait(port, WaitSettings(**QUIET))
    assert port.tenants == [("get", tenant())]


def test_no_deadline_waits_until_the_job_ends() -> None:
    port = Port([job_status("running")] * 40 + [job_status("completed", processed=10)])
    outcome = run_wait(port, WaitSettings(timeout_seconds=None, **QUIET))
    assert outcome.polls == 41 and not port.cancels


def test_a_poll_due_exactly_at_the_deadline_is_the_last_one() -> None:
    port = Port([job_status("running")])
    settings = WaitSettings(
        poll_interval=5, backoff_factor=1, max_poll_interval=5, timeout_seconds=10, **QUIET
    )
    with pytest.raises(BatchJobTimeout):
        run_wait(port, settings)
    assert [t - 1000.0 for t in port.polls_at] == [0.0, 5.0, 10.0]


def test_the_last_check_is_at_the_deadline_even_when_it_is_under_a_second_away() -> None:
    port = Port([job_status("running")])
    settings = WaitSettings(
        poll_interval=4, backoff_factor=1, max_poll_interval=4, timeout_seconds=8.5, **QUIET
    )
    with pytest.raises(BatchJobTimeout) as info:
        run_wait(port, settings)
    assert [t - 1000.0 for t in port.polls_at] == [0.0, 4.0, 8.0, 8.5]
    assert port.cancels == [("bj-1", "prefect-llamabatch: wait timed out after 8.5s")]
    assert info.value.remote_cancelled is True


def test_each_outage_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = Port(
        [
            job_status("running", processed=5, failed=2, skipped=1),
            down(503),
            down(502),
            job_status("running", processed=5, failed=2, skipped=1),
            down(503),
            job_status("completed", processed=10),
        ]
    )
    settings = WaitSettings(
        poll_interval=10, max_poll_interval=10, outage_budget_seconds=60, **QUIET
    )
    with caplog.at_level(logging.INFO, logger=LOG):
        outcome = run_wait(port, settings)
    assert outcome.outages == 2
    unreachable = (
        "LlamaCloud API unreachable while waiting for batch job bj-1 (ServerError: {}); riding "
        "it out for up to 60s"
    )
    assert messages(caplog) == [
        "Batch job bj-1 is running: 5/10 processed, 2 failed, 1 skipped (50%)",
        unreachable.format(down(503)),
        "LlamaCloud API reachable again after 20s (2 failed poll(s))",
        unreachable.format(down(503)),
        "LlamaCloud API reachable again after 10s (1 failed poll(s))",
        "Batch job bj-1 is completed: 10/10 processed, 0 failed, 0 skipped (100%)",
    ]


def test_an_outage_error_names_the_job() -> None:
    port = Port([down(503)])
    with pytest.raises(BatchApiUnavailable) as info:
        run_wait(
            port,
            WaitSettings(poll_interval=5, max_poll_interval=5, outage_budget_seconds=10, **QUIET),
        )
    assert info.value.job_id == "bj-1"


def test_what_the_log_says_of_each_status_and_progress(caplog: pytest.LogCaptureFixture) -> None:
    port = Port(
        [
            job_status("paused_by_operator", processed=0, progress=0.0),
            job_status("running", processed=0, progress=0.0),
            job_status("running", processed=4, failed=1, skipped=2, progress=70.0),
            job_status("completed", processed=10, failed=0, skipped=0),
        ]
    )
    with caplog.at_level(logging.INFO, logger=LOG):
        run_wait(
            port,
            WaitSettings(poll_interval=1, max_poll_interval=1, estimate_completion=False, **QUIET),
        )
    assert messages(caplog) == [
        "Batch job bj-1 is paused_by_operator (not final; waiting): 0/10 processed, 0 failed, "
        "0 skipped (0%)",
        "Batch job bj-1 is running: 0/10 processed, 0 failed, 0 skipped (0%)",
        "Batch job bj-1: 4/10 processed, 1 failed, 2 skipped (70%)",
        "Batch job bj-1 is completed: 10/10 processed, 0 failed, 0 skipped (100%)",
    ]


def test_the_log_reads_absent_counters_as_zero(caplog: pytest.LogCaptureFixture) -> None:
    port = Port(
        [
            _status(None, None, None, 0.0),
            _status(None, None, None, 30.0),
            job_status("completed", processed=10),
        ]
    )
    with caplog.at_level(logging.INFO, logger=LOG):
        run_wait(port, WaitSettings(poll_interval=1, max_poll_interval=1, **QUIET))
    assert messages(caplog)[:2] == [
        "Batch job bj-1 is running: 0/10 processed, 0 failed, 0 skipped (0%)",
        "Batch job bj-1: 0/10 processed, 0 failed, 0 skipped (30%)",
    ]


# ------------------------------------------------------------------------------------------------
# The timeout
# ------------------------------------------------------------------------------------------------


def test_a_timeout_says_what_was_last_seen_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = Port([job_status("running", processed=4)])
    settings = WaitSettings(poll_interval=1, max_poll_interval=1, timeout_seconds=2, **QUIET)
    with caplog.at_level(logging.INFO, logger=LOG), pytest.raises(BatchJobTimeout) as info:
        run_wait(port, settings)
    assert info.value.progress_percentage == 40.0
    assert str(info.value) == (
        "batch job bj-1 did not finish within 2s (last status running, 40% done); it was cancelled"
    )
    assert messages(caplog)[-1] == str(info.value)
    assert [r.levelname for r in caplog.records if r.name == LOG][-1] == "ERROR"


def test_a_timeout_left_running_says_so(caplog: pytest.LogCaptureFixture) -> None:
    port = Port([job_status("running")])
    settings = WaitSettings(
        poll_interval=1, max_poll_interval=1, timeout_seconds=2, cancel_on_timeout=False, **QUIET
    )
    with pytest.raises(BatchJobTimeout) as info:
        run_wait(port, settings)
    assert info.value.remote_cancelled is False
    assert str(info.value).endswith("(cancel_on_timeout=False or the cancel failed)")


def test_a_cancel_that_fails_after_the_timeout_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = Port([job_status("running")], cancel_error=down(502))
    settings = WaitSettings(poll_interval=1, max_poll_interval=1, timeout_seconds=2, **QUIET)
    with caplog.at_level(logging.INFO, logger=LOG), pytest.raises(BatchJobTimeout):
        run_wait(port, settings)
    assert f"Could not cancel batch job bj-1 after the timeout: ServerError: {down(502)}" in (
        messages(caplog)
    )


def test_a_deadline_with_no_answer_at_all_reads_zero_progress() -> None:
    port = Port([down(503)])
    settings = WaitSettings(poll_interval=1, max_poll_interval=1, timeout_seconds=2, **QUIET)
    with pytest.raises(BatchJobTimeout) as info:
        run_wait(port, settings)
    assert (info.value.last_status, info.value.progress_percentage) == (None, 0.0)
    assert str(info.value).endswith(
        f"; it was cancelled; the API was unreachable at the deadline (ServerError: {down(503)})"
    )


# ------------------------------------------------------------------------------------------------
# The progress artifact
# ------------------------------------------------------------------------------------------------


def test_the_artifact_is_created_once_then_updated_capped_at_100() -> None:
    port = Port(
        [
            job_status("running", progress=10.0),
            job_status("running", progress=60.0),
            job_status("completed", processed=10, progress=150.0),
        ]
    )
    run_wait(port, WaitSettings(poll_interval=1, max_poll_interval=1))
    assert port.artifact_calls == [
        ("create", 10.0, "llamabatch-progress-bj-1", "Progress of LlamaCloud batch job bj-1"),
        ("update", port.created_id, 60.0),
        ("update", port.created_id, 100.0),
    ]


def test_an_artifact_failure_is_logged_once_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = Port(
        [
            job_status("running", progress=10.0),
            job_status("running", progress=60.0),
            job_status("completed", processed=10),
        ],
        artifact_error=RuntimeError("artifact API down"),
    )
    with caplog.at_level(logging.INFO, logger=LOG):
        run_wait(port, WaitSettings(poll_interval=1, max_poll_interval=1))
    assert [c[0] for c in port.artifact_calls] == ["create"]
    warnings = [
        r.getMessage() for r in caplog.records if r.name == LOG and r.levelname == "WARNING"
    ]
    assert warnings == ["Progress artifact disabled for this wait: RuntimeError: artifact API down"]


# ------------------------------------------------------------------------------------------------
# wait_result_steps: the result, the items, the job record, the events
# ------------------------------------------------------------------------------------------------


CREDS = LlamaCloudCredentials(api_key="llx-test", base_url="http://127.0.0.1:9")


@dataclass
class Events:
    """The batch events emitted, and what the create had announced (``last_emitted_status``)."""

    seen: list[tuple[str, str, float, str | None]] = field(default_factory=list)
    announced: dict[str, str] = field(default_factory=dict)

    def emit(
        self, job: BatchJob, *, progress_percentage: float, previous_status: str | None
    ) -> None:
        self.seen.append((job.id, job.status_value, progress_percentage, previous_status))


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    recorded = Events()
    monkeypatch.setattr(waiting, "emit_batch_event", recorded.emit)
    monkeypatch.setattr(waiting, "last_emitted_status", recorded.announced.get)
    return recorded


def _in_run(monkeypatch: pytest.MonkeyPatch, run_id: str | None) -> None:
    monkeypatch.setattr(waiting, "current_flow_run_id", lambda: run_id)


def run_result(port: Port, settings: WaitSettings, *, fetch_items: bool = False) -> Any:
    steps = wait_result_steps(
        CREDS,
        "bj-1",
        settings,
        fetch_items=fetch_items,
        organization_id="org-1",
        project_id="proj-1",
    )
    return drive(steps, port)


def _item(i: int, status: str, **kw: Any) -> JobItem:
    return JobItem(item_id=f"dfl-{i}", item_name=f"f{i}.pdf", status=status, **kw)


def test_the_result_has_the_job_its_progress_duration_and_requests(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, "run-1")
    port = Port(
        [job_status("running", progress=30.0), job_status("completed", processed=10, failed=0)]
    )
    result = run_result(
        port, WaitSettings(poll_interval=2, max_poll_interval=2, progress_artifact=False)
    )
    assert (result.job_id, result.status, result.progress_percentage) == (
        "bj-1",
        "completed",
        100.0,
    )
    assert result.duration_seconds == 2.0
    assert result.api_calls == 2  # the port counts its polls
    assert port.forgotten == [("run-1", "bj-1")]
    assert port.tenants == [("get", tenant("org-1", "proj-1"))] * 2
    assert port.listed == [] and result.failed_items == [] and result.skipped_items == []


def test_outside_a_flow_run_nothing_is_forgotten(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    port = Port([job_status("completed", processed=10)])
    run_result(port, WaitSettings(progress_artifact=False))
    assert port.forgotten == []


def test_the_items_of_a_finished_job_are_listed_when_asked(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    port = Port([job_status("completed", processed=10, failed=2, skipped=1)])
    port.items = {
        "failed": [
            _item(1, "failed", error_message="bad"),
            _item(2, "failed", error_message="worse"),
        ],
        "skipped": [_item(3, "skipped", skip_reason="already_processed")],
    }
    result = run_result(port, WaitSettings(progress_artifact=False), fetch_items=True)
    options = tenant("org-1", "proj-1")
    assert port.listed == [("bj-1", "failed", options), ("bj-1", "skipped", options)]
    assert [(f.item_id, f.error_message, f.batch_job_id) for f in result.failed_items] == [
        ("dfl-1", "bad", "bj-1"),
        ("dfl-2", "worse", "bj-1"),
    ]
    assert [(s.item_id, s.skip_reason, s.batch_job_id) for s in result.skipped_items] == [
        ("dfl-3", "already_processed", "bj-1")
    ]


def test_only_the_kinds_of_items_the_job_has_are_listed(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    port = Port([job_status("completed", processed=10, failed=0, skipped=1)])
    port.items = {"skipped": [_item(3, "skipped")]}
    result = run_result(port, WaitSettings(progress_artifact=False), fetch_items=True)
    assert [status for _, status, _ in port.listed] == ["skipped"]
    assert result.failed_items == []
    port = Port([job_status("completed", processed=10, failed=1, skipped=0)])
    result = run_result(port, WaitSettings(progress_artifact=False), fetch_items=True)
    assert [status for _, status, _ in port.listed] == ["failed"]
    assert result.skipped_items == []
    port = Port([job_status("completed", processed=10, failed=1, skipped=1)])
    run_result(port, WaitSettings(progress_artifact=False), fetch_items=False)
    assert port.listed == []


@pytest.mark.parametrize(
    ("cancel_on_timeout", "cancel_fails", "forgotten"),
    [(True, False, True), (False, False, True), (True, True, False)],
)
def test_a_timed_out_job_is_forgotten_unless_its_cancel_failed(
    monkeypatch: pytest.MonkeyPatch,
    events: Events,
    cancel_on_timeout: bool,
    cancel_fails: bool,
    forgotten: bool,
) -> None:
    _in_run(monkeypatch, "run-1")
    port = Port([job_status("running")], cancel_error=down(502) if cancel_fails else None)
    settings = WaitSettings(
        poll_interval=1,
        max_poll_interval=1,
        timeout_seconds=2,
        cancel_on_timeout=cancel_on_timeout,
        progress_artifact=False,
    )
    with pytest.raises(BatchJobTimeout):
        run_result(port, settings)
    assert port.forgotten == ([("run-1", "bj-1")] if forgotten else [])


def test_a_timeout_outside_a_flow_run_forgets_nothing(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    port = Port([job_status("running")])
    with pytest.raises(BatchJobTimeout):
        run_result(
            port,
            WaitSettings(
                poll_interval=1, max_poll_interval=1, timeout_seconds=2, progress_artifact=False
            ),
        )
    assert port.forgotten == []


def test_an_outage_error_names_the_credentials_api(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    port = Port([down(503)])
    settings = WaitSettings(
        poll_interval=5, max_poll_interval=5, outage_budget_seconds=10, progress_artifact=False
    )
    with pytest.raises(BatchApiUnavailable) as info:
        run_result(port, settings)
    assert "http://127.0.0.1:9" in str(info.value)


def test_each_status_change_is_announced_once_with_the_previous_status(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    port = Port(
        [
            job_status("pending"),
            job_status("running", progress=40.0),
            job_status("completed", processed=10),
        ]
    )
    run_result(port, WaitSettings(poll_interval=1, max_poll_interval=1, progress_artifact=False))
    assert events.seen == [
        ("bj-1", "pending", 0.0, None),
        ("bj-1", "running", 40.0, "pending"),
        ("bj-1", "completed", 100.0, "running"),
    ]


def test_the_first_poll_continues_from_what_the_create_announced(
    monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    _in_run(monkeypatch, None)
    events.announced["bj-1"] = "pending"
    port = Port([job_status("pending"), job_status("completed", processed=10)])
    run_result(port, WaitSettings(poll_interval=1, max_poll_interval=1, progress_artifact=False))
    assert events.seen == [("bj-1", "completed", 100.0, "pending")]
    events.announced["bj-1"] = "dispatched"
    events.seen.clear()
    port = Port([job_status("running"), job_status("completed", processed=10)])
    run_result(port, WaitSettings(poll_interval=1, max_poll_interval=1, progress_artifact=False))
    assert events.seen == [
        ("bj-1", "running", 0.0, "dispatched"),
        ("bj-1", "completed", 100.0, "running"),
    ]


def test_no_event_when_events_are_off(monkeypatch: pytest.MonkeyPatch, events: Events) -> None:
    _in_run(monkeypatch, None)
    port = Port([job_status("running"), job_status("completed", processed=10)])
    run_result(
        port,
        WaitSettings(
            poll_interval=1, max_poll_interval=1, progress_artifact=False, emit_events=False
        ),
    )
    assert events.seen == []
