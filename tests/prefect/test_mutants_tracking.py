"""Stop tracking: the decisions of ``tracking.py``, reached without a Prefect API.

What the mutation run (``docs/mutation.md``) needs pinned, through the plain functions the stop
hooks are built from: the Variable's name and record, the rows read back, the in-process
fallback, the subflow walk (paged, ``cancel_on_stop=False`` honoured), the hook's capped
credentials, and which jobs a stop cancels. The Prefect Variable API is replaced by an in-memory
one; the end-to-end paths (a real Prefect API and emulator) are in ``test_cancellation.py``,
``test_stop_hook_outage.py`` and ``test_stop_and_deadline_branches.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest

from prefect_llamabatch.client.errors import APIConnectionError, error_for_status
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import BatchCancelResponse, BatchJob, BatchJobStatus
from prefect_llamabatch.orchestration import tracking
from prefect_llamabatch.orchestration.tracking import (
    TrackedJob,
    cancel_remote_jobs,
    cancel_tracked_jobs,
    forget_job,
    hook_credentials,
    jobs_from_variables,
    record_job,
    subflow_levels,
    variable_name,
    wants_cancel_on_stop,
    with_local_jobs,
)

RUN = "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0"
PREFIX = "llamabatch_job_0b1c2d3e_4f50_6172_8394_a5b6c7d8e9f0_"


@dataclass
class Variables:
    """An in-memory stand-in for ``prefect.variables.Variable`` (set/unset, sync and async)."""

    values: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    fail: bool = False

    def set(self, name: str, value: Any, *, tags: list[str], overwrite: bool, _sync: bool) -> None:
        assert overwrite and _sync
        if self.fail:
            raise RuntimeError("Prefect API refused the write")
        self.values[name], self.tags[name] = value, tags

    async def aset(self, name: str, value: Any, *, tags: list[str], overwrite: bool) -> None:
        assert overwrite
        if self.fail:
            raise RuntimeError("Prefect API refused the write")
        self.values[name], self.tags[name] = value, tags

    def unset(self, name: str, *, _sync: bool) -> None:
        assert _sync
        if self.fail:
            raise RuntimeError("Prefect API unreachable")
        self.values.pop(name, None)

    async def aunset(self, name: str) -> None:
        if self.fail:
            raise RuntimeError("Prefect API unreachable")
        self.values.pop(name, None)

    def rows(self) -> list[dict[str, Any]]:
        return [{"name": name, "value": value} for name, value in self.values.items()]


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Variables]:
    fake = Variables()
    monkeypatch.setattr(tracking, "Variable", fake)
    yield fake
    # Leave no job of these tests in the process-wide registry.
    for run_id in list(tracking._local):
        for job_id in list(tracking._local.get(run_id, {})):
            tracking._drop(run_id, job_id)


def _job(job_id: str = "bj-1", project_id: str | None = "proj-job") -> BatchJob:
    return BatchJob(
        id=job_id, job_type="parse", project_id=project_id or "", status="pending", total_items=1
    )


def _creds(**kw: Any) -> LlamaCloudCredentials:
    values: dict[str, Any] = {"api_key": "llx-secret-key", "base_url": "http://127.0.0.1:9"}
    values.update(kw)
    return LlamaCloudCredentials(**values)


# ------------------------------------------------------------------------------------------------
# The record in the Prefect API
# ------------------------------------------------------------------------------------------------


def test_the_variable_name_is_the_run_prefix_and_a_hash_of_the_job() -> None:
    name = variable_name(RUN, "bj-1")
    assert name == PREFIX + hashlib.sha256(b"bj-1").hexdigest()[:16]
    assert re.fullmatch(r"[a-z0-9_]+", name)
    assert variable_name(RUN, "bj-2") != name


def test_a_recorded_job_names_its_block_never_its_key(variables: Variables) -> None:
    creds = _creds(organization_id="org-1", project_id="proj-creds")
    creds._block_document_name = "llamacloud-prod"
    record_job(RUN, _job(), creds)
    name = variable_name(RUN, "bj-1")
    assert variables.values == {
        name: {
            "job_id": "bj-1",
            "flow_run_id": RUN,
            "credentials_block": "llamacloud-prod",
            "base_url": "http://127.0.0.1:9",
            "organization_id": "org-1",
            "project_id": "proj-job",
            "api": "v1",
        }
    }
    assert variables.tags[name] == ["llamabatch"]
    assert "llx-secret-key" not in repr(variables.values)


def test_a_job_without_a_project_records_the_credentials_project(variables: Variables) -> None:
    record_job(RUN, _job(project_id=None), _creds(project_id="proj-creds"), api="v2")
    (value,) = variables.values.values()
    assert (value["project_id"], value["api"], value["credentials_block"]) == (
        "proj-creds",
        "v2",
        None,
    )


def test_the_async_record_and_forget_match_the_sync_ones(variables: Variables) -> None:
    creds = _creds()
    record_job(RUN, _job(), creds)
    sync_record = dict(variables.values)
    forget_job(RUN, "bj-1")
    assert variables.values == {}
    asyncio.run(tracking.arecord_job(RUN, _job(), creds))
    assert variables.values == sync_record
    assert [j.job_id for j in with_local_jobs(RUN, [])] == ["bj-1"]
    asyncio.run(tracking.aforget_job(RUN, "bj-1"))
    assert variables.values == {} and with_local_jobs(RUN, []) == []


def test_a_lost_write_or_delete_is_logged_not_raised(
    variables: Variables, caplog: pytest.LogCaptureFixture
) -> None:
    variables.fail = True
    with caplog.at_level(logging.DEBUG, logger=tracking.log.name):
        record_job(RUN, _job(), _creds())
        asyncio.run(tracking.arecord_job(RUN, _job("bj-2"), _creds()))
        forget_job(RUN, "bj-1")
        asyncio.run(tracking.aforget_job(RUN, "bj-2"))
    texts = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert texts == [
        (
            "WARNING",
            "Could not record batch job bj-1 for cancel-on-stop: Prefect API refused the write",
        ),
        (
            "WARNING",
            "Could not record batch job bj-2 for cancel-on-stop: Prefect API refused the write",
        ),
        ("DEBUG", "Could not delete the record of batch job bj-1: Prefect API unreachable"),
        ("DEBUG", "Could not delete the record of batch job bj-2: Prefect API unreachable"),
    ]
    assert with_local_jobs(RUN, []) == []  # forgotten in this process all the same


def test_rows_read_back_keep_only_this_runs_job_records() -> None:
    mine = variable_name(RUN, "bj-1")
    rows: list[Any] = [
        {
            "name": mine,
            "value": {
                "job_id": "bj-1",
                "credentials_block": "blk",
                "base_url": "http://x",
                "organization_id": "org",
                "project_id": "proj",
                "api": "v2",
            },
        },
        # ``_`` matches any character in LIKE: another run's record that the filter let through.
        {"name": PREFIX.replace("_4f50", "x4f50") + "ab", "value": {"job_id": "bj-other"}},
        {"name": PREFIX + "no_value", "value": "bj-3"},
        {"name": PREFIX + "no_job", "value": {"job_id": ""}},
        {"value": {"job_id": "bj-nameless"}},
        {"name": PREFIX + "old", "value": {"job_id": 42}},
    ]
    assert jobs_from_variables(RUN, rows) == [
        TrackedJob(
            job_id="bj-1",
            flow_run_id=RUN,
            credentials_block="blk",
            base_url="http://x",
            organization_id="org",
            project_id="proj",
            api="v2",
        ),
        TrackedJob(job_id="42", flow_run_id=RUN),  # a record from before v2: api "v1"
    ]
    assert (
        jobs_from_variables(RUN, [{"name": PREFIX + "n", "value": {"job_id": "j", "api": None}}])[
            0
        ].api
        == "v1"
    )


# ------------------------------------------------------------------------------------------------
# The in-process fallback
# ------------------------------------------------------------------------------------------------


def test_jobs_known_only_to_this_process_are_added_once(variables: Variables) -> None:
    variables.fail = True  # no record reaches the Prefect API
    record_job(RUN, _job("bj-1"), _creds())
    record_job(RUN, _job("bj-2"), _creds(), api="v2")
    record_job("another-run", _job("bj-9"), _creds())
    read = [TrackedJob(job_id="bj-1", flow_run_id=RUN, project_id="proj")]
    assert with_local_jobs(RUN, read) == [
        read[0],
        TrackedJob(job_id="bj-2", flow_run_id=RUN, api="v2"),
    ]
    assert with_local_jobs(RUN, []) == [
        TrackedJob(job_id="bj-1", flow_run_id=RUN),
        TrackedJob(job_id="bj-2", flow_run_id=RUN, api="v2"),
    ]
    forget_job(RUN, "bj-2")
    record_job(RUN, _job("bj-2"), _creds())  # recorded again, as v1 this time
    assert [j.api for j in with_local_jobs(RUN, [])] == ["v1", "v1"]
    forget_job(RUN, "bj-1")
    forget_job(RUN, "bj-2")
    assert with_local_jobs(RUN, []) == []
    assert RUN not in tracking._local  # an emptied run leaves no entry behind
    assert [j.job_id for j in with_local_jobs("another-run", [])] == ["bj-9"]


def test_the_credentials_of_a_stop_come_from_this_process_first(
    variables: Variables, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = _creds(api_key="llx-in-process")
    record_job(RUN, _job(), creds)
    assert tracking._credentials_for(TrackedJob(job_id="bj-1", flow_run_id=RUN)) is creds
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", "llx-from-env")
    monkeypatch.delenv("LLAMA_CLOUD_BASE_URL", raising=False)
    other = tracking._credentials_for(
        TrackedJob(job_id="bj-7", flow_run_id=RUN, base_url="http://127.0.0.1:7")
    )
    assert (other.api_key.get_secret_value(), other.base_url) == (
        "llx-from-env",
        "http://127.0.0.1:7",
    )
    default = tracking._credentials_for(TrackedJob(job_id="bj-8", flow_run_id=RUN))
    assert default.base_url == LlamaCloudCredentials(api_key="k").base_url


# ------------------------------------------------------------------------------------------------
# Which jobs a stop cancels
# ------------------------------------------------------------------------------------------------


@dataclass
class Stops:
    """Records ``stop_job`` calls; answers False for the ids in ``refused``."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)

    def __call__(
        self, credentials: LlamaCloudCredentials, job_id: str, reason: str, **kw: Any
    ) -> bool:
        self.calls.append({"credentials": credentials, "job_id": job_id, "reason": reason, **kw})
        return job_id not in self.refused


def test_a_stop_cancels_the_recorded_and_the_in_process_jobs(
    variables: Variables, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = _creds()
    variables.fail = True
    record_job(RUN, _job("bj-local"), creds, api="v2")
    recorded = [
        TrackedJob(
            job_id="bj-1",
            flow_run_id=RUN,
            credentials_block=None,
            organization_id="org",
            project_id="proj",
        ),
        TrackedJob(job_id="bj-2", flow_run_id=RUN),
    ]
    monkeypatch.setattr(tracking, "tracked_jobs", lambda run_id: recorded if run_id == RUN else [])
    monkeypatch.setattr(tracking, "_credentials_for", lambda job: creds)
    stops = Stops(refused={"bj-2"})
    monkeypatch.setattr(tracking, "stop_job", stops)
    logger = logging.getLogger("t-stop")
    assert cancel_tracked_jobs(RUN, "flow run stopped", logger) == ["bj-1", "bj-local"]
    assert stops.calls == [
        {
            "credentials": creds,
            "job_id": job_id,
            "reason": "flow run stopped",
            "flow_run_id": RUN,
            "organization_id": org,
            "project_id": proj,
            "logger": logger,
            "api": api,
        }
        for job_id, org, proj, api in [
            ("bj-1", "org", "proj", "v1"),
            ("bj-2", None, None, "v1"),
            ("bj-local", None, None, "v2"),
        ]
    ]


def test_a_stop_that_cannot_read_the_records_or_load_credentials_logs_and_goes_on(
    variables: Variables, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    creds = _creds()
    variables.fail = True
    record_job(RUN, _job("bj-1"), creds)
    record_job(RUN, _job("bj-2"), creds)

    def unreadable(run_id: str) -> list[TrackedJob]:
        raise RuntimeError("Prefect API unreachable")

    def credentials_for(job: TrackedJob) -> LlamaCloudCredentials:
        if job.job_id == "bj-1":
            raise ValueError("no block named 'gone'")
        return creds

    monkeypatch.setattr(tracking, "tracked_jobs", unreadable)
    monkeypatch.setattr(tracking, "_credentials_for", credentials_for)
    stops = Stops()
    monkeypatch.setattr(tracking, "stop_job", stops)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger=tracking.log.name):
        assert cancel_tracked_jobs(RUN, "stopped") == ["bj-2"]
    assert [c["logger"] for c in stops.calls] == [tracking.log]
    assert [r.getMessage() for r in caplog.records] == [
        f"Could not read the batch jobs of flow run {RUN}: Prefect API unreachable",
        "Could not load the credentials to cancel LlamaCloud batch job bj-1 (no block named "
        "'gone'): the job may still be running; cancel it with `llamabatch cancel bj-1`",
    ]


@dataclass
class Run:
    """The parts of a Prefect flow run the stop reads."""

    id: UUID = field(default_factory=uuid4)
    parameters: dict[str, Any] = field(default_factory=dict)
    name: str = "brave-otter"


@dataclass
class State:
    name: str = "Cancelling"


def test_the_stop_hook_cancels_the_run_and_its_subflows_unless_opted_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(tracking, "stopped_runs", lambda run_id: [run_id, "child-1"])
    monkeypatch.setattr(
        tracking, "cancel_tracked_jobs", lambda run_id, reason: calls.append((run_id, reason))
    )
    run = Run()
    cancel_remote_jobs(None, run, State("Crashed"))  # type: ignore[arg-type]
    reason = "Prefect flow run 'brave-otter' stopped (Crashed)"
    assert calls == [(str(run.id), reason), ("child-1", reason)]
    calls.clear()
    cancel_remote_jobs(None, Run(parameters={"cancel_on_stop": False}), State())  # type: ignore[arg-type]
    assert calls == []
    cancel_remote_jobs(None, Run(parameters={"cancel_on_stop": True}), State())  # type: ignore[arg-type]
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("parameters", "wanted"),
    [
        (None, True),
        ({}, True),
        ({"cancel_on_stop": True}, True),
        ({"other": False}, True),
        ({"cancel_on_stop": False}, False),
    ],
)
def test_only_cancel_on_stop_false_opts_out(
    parameters: dict[str, Any] | None, wanted: bool
) -> None:
    assert wants_cancel_on_stop(parameters) is wanted


# ------------------------------------------------------------------------------------------------
# The subflow walk
# ------------------------------------------------------------------------------------------------


@dataclass
class Tree:
    """Flow runs by parent; ``read_page`` answers like ``read_flow_runs`` (offset/limit)."""

    children: dict[UUID, list[Run]] = field(default_factory=dict)
    reads: list[tuple[list[UUID], int, int]] = field(default_factory=list)

    def add(self, parent: UUID, **parameters: Any) -> Run:
        run = Run(parameters=parameters)
        self.children.setdefault(parent, []).append(run)
        return run

    def read_page(self, parents: list[UUID], offset: int, limit: int) -> Sequence[Run]:
        self.reads.append((list(parents), offset, limit))
        runs = [run for parent in parents for run in self.children.get(parent, [])]
        return runs[offset : offset + limit]


def test_the_walk_reads_every_page_of_every_depth_and_leaves_out_opted_out_subtrees() -> None:
    top = uuid4()
    tree = Tree()
    many = [tree.add(top) for _ in range(230)]  # more than one page of subflow runs
    kept = tree.add(top, cancel_on_stop=True)
    out = tree.add(top, cancel_on_stop=False)
    tree.add(out.id)  # under an opted-out run: left alone too
    grandchild = tree.add(many[0].id)
    levels = list(subflow_levels(str(top), tree.read_page))
    assert levels == [[str(r.id) for r in [*many, kept]], [str(grandchild.id)], []]
    assert [(offset, limit) for _, offset, limit in tree.reads] == [
        (0, 200),
        (200, 200),
        (0, 200),
        (0, 200),
    ]
    assert tree.reads[0][0] == [top]


def test_a_page_of_exactly_the_page_size_is_followed_by_another_read() -> None:
    top = uuid4()
    tree = Tree()
    runs = [tree.add(top) for _ in range(200)]
    levels = list(subflow_levels(str(top), tree.read_page))
    assert levels[0] == [str(r.id) for r in runs]
    assert [(offset, limit) for _, offset, limit in tree.reads[:2]] == [(0, 200), (200, 200)]


def test_a_run_without_subflows_is_one_empty_level() -> None:
    tree = Tree()
    assert list(subflow_levels(str(uuid4()), tree.read_page)) == [[]]


# ------------------------------------------------------------------------------------------------
# The hook's credentials
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "timeout", "expected"),
    [
        (None, 60.0, (15.0, 15.0)),
        (300.0, 60.0, (15.0, 15.0)),
        (2.0, 60.0, (2.0, 2.0)),
        (300.0, 5.0, (15.0, 5.0)),
    ],
)
def test_the_hook_caps_the_retry_deadline_and_the_timeout(
    deadline: float | None, timeout: float, expected: tuple[float, float]
) -> None:
    capped = hook_credentials(_creds(retry_deadline=deadline, timeout=timeout))
    assert (capped.retry_deadline, capped.timeout) == expected
    assert capped.api_key.get_secret_value() == "llx-secret-key"


# ------------------------------------------------------------------------------------------------
# stop_job: the one cancel every stop goes through
# ------------------------------------------------------------------------------------------------


@dataclass
class Client:
    """A stand-in for the hook's ``BatchClient``: records calls, raises what it is told to."""

    cancel_error: Exception | None = None
    get_error: Exception | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def cancel_job(self, job_id: str, reason: str, **tenant_ids: Any) -> BatchCancelResponse:
        self.calls.append(("cancel_job", job_id, {"reason": reason, **tenant_ids}))
        if self.cancel_error is not None:
            raise self.cancel_error
        return BatchCancelResponse(job_id=job_id, status="cancelled", processed_items=3)

    def get_job(self, job_id: str, **tenant_ids: Any) -> BatchJobStatus:
        self.calls.append(("get_job", job_id, tenant_ids))
        if self.get_error is not None:
            raise self.get_error
        job = BatchJob(
            id=job_id, job_type="parse", project_id="p", status="running", total_items=10
        )
        return BatchJobStatus(job=job, progress_percentage=30.0)

    def cancel_batch(self, job_id: str, **tenant_ids: Any) -> Any:
        self.calls.append(("cancel_batch", job_id, tenant_ids))
        if self.cancel_error is not None:
            raise self.cancel_error
        return type("Batch", (), {"status": "cancelling"})()


@dataclass
class Stopping:
    client: Client
    announced: list[tuple[Any, ...]]
    hooked: list[LlamaCloudCredentials]


@pytest.fixture
def stopping(variables: Variables, monkeypatch: pytest.MonkeyPatch) -> Stopping:
    state = Stopping(Client(), [], [])

    def hook(credentials: LlamaCloudCredentials) -> Client:
        state.hooked.append(credentials)
        return state.client

    monkeypatch.setattr(tracking, "hook_client", hook)
    monkeypatch.setattr(tracking, "_announce", lambda *args: state.announced.append(args))
    return state


def test_a_stop_cancels_announces_and_forgets_the_job(
    stopping: Stopping, variables: Variables, caplog: pytest.LogCaptureFixture
) -> None:
    creds = _creds()
    record_job(RUN, _job(), creds)
    logger = logging.getLogger("t-stop-job")
    with caplog.at_level(logging.INFO, logger="t-stop-job"):
        assert (
            tracking.stop_job(
                creds,
                "bj-1",
                "run stopped",
                flow_run_id=RUN,
                organization_id="o",
                project_id="p",
                logger=logger,
            )
            is True
        )
    tenant_ids = {"organization_id": "o", "project_id": "p"}
    assert stopping.hooked == [creds]
    assert stopping.client.calls == [
        ("cancel_job", "bj-1", {"reason": "run stopped", **tenant_ids}),
        ("get_job", "bj-1", tenant_ids),
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "t-stop-job"] == [
        "Cancelled LlamaCloud batch job bj-1 (run stopped): status cancelled"
    ]
    ((job_id, response, status, reason, announced_to),) = stopping.announced
    assert announced_to is logger
    assert (job_id, response.processed_items, status.progress_percentage, reason) == (
        "bj-1",
        3,
        30.0,
        "run stopped",
    )
    assert variables.values == {} and with_local_jobs(RUN, []) == []


def test_a_stop_whose_read_back_fails_still_counts_the_cancel(stopping: Stopping) -> None:
    stopping.client.get_error = RuntimeError("read back failed")
    assert tracking.stop_job(_creds(), "bj-1", "r", flow_run_id=None) is True
    ((_, _, status, _, _),) = stopping.announced
    assert status is None


def test_a_stop_outside_a_run_forgets_nothing(stopping: Stopping, variables: Variables) -> None:
    record_job(RUN, _job(), _creds())
    tracking.stop_job(_creds(), "bj-1", "r", flow_run_id=None)
    tracking.stop_job(_creds(), "bj-1", "r", flow_run_id=None, api="v2")
    assert len(variables.values) == 1 and len(with_local_jobs(RUN, [])) == 1


def test_a_v2_batch_is_cancelled_with_its_own_call(
    stopping: Stopping, variables: Variables, caplog: pytest.LogCaptureFixture
) -> None:
    creds = _creds()
    record_job(RUN, _job("b-2"), creds, api="v2")
    with caplog.at_level(logging.INFO, logger=tracking.log.name):
        assert (
            tracking.stop_job(
                creds, "b-2", "run stopped", flow_run_id=RUN, project_id="p", api="v2"
            )
            is True
        )
    assert stopping.client.calls == [
        ("cancel_batch", "b-2", {"organization_id": None, "project_id": "p"})
    ]
    assert [r.getMessage() for r in caplog.records if r.name == tracking.log.name] == [
        "Cancelled LlamaCloud batch b-2 (run stopped): status cancelling"
    ]
    assert stopping.announced == [] and variables.values == {}


@pytest.mark.parametrize(
    "error",
    [
        APIConnectionError("connection refused", method="POST", path="/x"),
        error_for_status(503, method="POST", path="/x", detail="down"),
        error_for_status(429, method="POST", path="/x", detail="slow down"),
    ],
)
def test_a_stop_that_cannot_reach_the_api_keeps_the_record(
    stopping: Stopping, variables: Variables, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    creds = _creds()
    record_job(RUN, _job(), creds)
    stopping.client.cancel_error = error
    with caplog.at_level(logging.INFO, logger=tracking.log.name):
        assert tracking.stop_job(creds, "bj-1", "r", flow_run_id=RUN) is False
    assert [r.getMessage() for r in caplog.records if r.name == tracking.log.name] == [
        f"Could not reach the LlamaCloud API to cancel batch job bj-1 within 15s ({error}): the "
        "job may still be running; cancel it with `llamabatch cancel bj-1`"
    ]
    assert len(variables.values) == 1 and stopping.announced == []


def test_a_refused_cancel_is_logged_and_keeps_the_record(
    stopping: Stopping, variables: Variables, caplog: pytest.LogCaptureFixture
) -> None:
    creds = _creds()
    record_job(RUN, _job(), creds)
    error = error_for_status(404, method="POST", path="/x", detail="no such job")
    stopping.client.cancel_error = error
    with caplog.at_level(logging.INFO, logger=tracking.log.name):
        assert tracking.stop_job(creds, "bj-1", "r", flow_run_id=RUN) is False
        assert tracking.stop_job(creds, "bj-1", "r", flow_run_id=RUN, api="v2") is False
    assert [r.getMessage() for r in caplog.records if r.name == tracking.log.name] == [
        f"Could not cancel LlamaCloud batch job bj-1 ({error}): the job may still be running; "
        "cancel it with `llamabatch cancel bj-1`"
    ] * 2
    assert len(variables.values) == 1


# ------------------------------------------------------------------------------------------------
# The registry's edges, the async record, the block's credentials
# ------------------------------------------------------------------------------------------------


def test_forgetting_a_job_never_recorded_is_harmless(variables: Variables) -> None:
    forget_job("never-recorded", "bj-x")  # an unknown run
    record_job(RUN, _job("bj-1"), _creds())
    forget_job(RUN, "bj-x")  # a known run, an unknown job
    assert [j.job_id for j in with_local_jobs(RUN, [])] == ["bj-1"]


def test_the_async_record_keeps_the_credentials_and_the_tag(variables: Variables) -> None:
    creds = _creds()
    asyncio.run(tracking.arecord_job(RUN, _job(), creds))
    assert with_local_jobs(RUN, []) == [TrackedJob(job_id="bj-1", flow_run_id=RUN)]
    assert tracking._credentials_for(TrackedJob(job_id="bj-1", flow_run_id=RUN)) is creds
    assert list(variables.tags.values()) == [["llamabatch"]]


def test_a_job_of_another_process_is_cancelled_with_its_named_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = _creds(api_key="llx-from-block")
    loads: list[tuple[str, Any]] = []

    def load(name: str, *, _sync: Any = None) -> LlamaCloudCredentials:
        loads.append((name, _sync))
        return saved

    monkeypatch.setattr(LlamaCloudCredentials, "load", load)
    job = TrackedJob(
        job_id="bj-1", flow_run_id="a-run-of-another-process", credentials_block="prod"
    )
    assert tracking._credentials_for(job) is saved
    assert loads == [("prod", True)]


# ------------------------------------------------------------------------------------------------
# Reading the records and the subflow runs from the Prefect API (its client replaced)
# ------------------------------------------------------------------------------------------------


@dataclass
class PrefectClient:
    """The two calls of ``get_client(sync_client=True)`` the stop makes."""

    rows: list[Any] = field(default_factory=list)
    tree: Tree = field(default_factory=Tree)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    broken_after: int | None = None

    def __enter__(self) -> PrefectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def request(self, method: str, path: str, *, json: Any) -> Any:
        self.requests.append((method, path, json))
        rows = self.rows
        return type("Response", (), {"json": lambda self: rows})()

    def read_flow_runs(self, *, flow_run_filter: Any, offset: int, limit: int) -> Sequence[Run]:
        if self.broken_after is not None and len(self.tree.reads) >= self.broken_after:
            raise RuntimeError("Prefect API went away")
        return self.tree.read_page(list(flow_run_filter.parent_flow_run_id.any_), offset, limit)


@pytest.fixture
def prefect_client(monkeypatch: pytest.MonkeyPatch) -> PrefectClient:
    client = PrefectClient()

    def get_client(*, sync_client: bool) -> PrefectClient:
        assert sync_client
        return client

    monkeypatch.setattr(tracking, "get_client", get_client)
    return client


def test_the_records_are_read_by_the_runs_prefix(prefect_client: PrefectClient) -> None:
    prefect_client.rows = [
        {"name": variable_name(RUN, "bj-1"), "value": {"job_id": "bj-1"}},
        {"name": "llamabatch_job_other_run_x", "value": {"job_id": "bj-2"}},
    ]
    assert tracking.tracked_jobs(RUN) == [TrackedJob(job_id="bj-1", flow_run_id=RUN)]
    assert prefect_client.requests == [
        (
            "POST",
            "/variables/filter",
            {"variables": {"name": {"like_": f"{PREFIX}%"}}, "limit": 200},
        )
    ]


def test_a_stop_reaches_every_subflow_run_it_should(prefect_client: PrefectClient) -> None:
    top = uuid4()
    child = prefect_client.tree.add(top)
    out = prefect_client.tree.add(top, cancel_on_stop=False)
    grandchild = prefect_client.tree.add(child.id)
    prefect_client.tree.add(out.id)
    assert tracking.stopped_runs(str(top)) == [str(top), str(child.id), str(grandchild.id)]


def test_a_walk_cut_short_keeps_what_it_read_and_logs_why(
    prefect_client: PrefectClient, caplog: pytest.LogCaptureFixture
) -> None:
    top = uuid4()
    child = prefect_client.tree.add(top)
    prefect_client.tree.add(child.id)
    prefect_client.broken_after = 1  # the second read fails
    logger = logging.getLogger("t-walk")
    with caplog.at_level(logging.ERROR, logger="t-walk"):
        assert tracking.stopped_runs(str(top), logger) == [str(top), str(child.id)]
    assert [r.getMessage() for r in caplog.records if r.name == "t-walk"] == [
        f"Could not read the subflow runs of flow run {top}: Prefect API went away"
    ]
    with caplog.at_level(logging.ERROR, logger=tracking.log.name):
        caplog.clear()
        assert tracking.stopped_runs(str(top)) == [str(top)]  # broken from the start now
    assert [r.name for r in caplog.records] == [tracking.log.name]


def test_more_than_two_pages_of_subflow_runs_are_all_read() -> None:
    top = uuid4()
    tree = Tree()
    runs = [tree.add(top) for _ in range(450)]
    assert next(subflow_levels(str(top), tree.read_page)) == [str(r.id) for r in runs]
    assert [offset for _, offset, _ in tree.reads] == [0, 200, 400]


# ------------------------------------------------------------------------------------------------
# The cancel's announcement: the event and the final progress artifact
# ------------------------------------------------------------------------------------------------


@dataclass
class Announcements:
    events: list[tuple[str, str, float | None, str | None]] = field(default_factory=list)
    artifact: Any = None
    gets: list[tuple[str, Any]] = field(default_factory=list)
    writes: list[tuple[Any, ...]] = field(default_factory=list)
    event_error: Exception | None = None
    artifact_error: Exception | None = None


@pytest.fixture
def announcements(monkeypatch: pytest.MonkeyPatch) -> Announcements:
    import prefect.artifacts

    from prefect_llamabatch.orchestration import events

    seen = Announcements()

    def emit(
        job: BatchJob, *, progress_percentage: float | None, previous_status: str | None
    ) -> None:
        if seen.event_error is not None:
            raise seen.event_error
        seen.events.append((job.id, job.status_value, progress_percentage, previous_status))

    def get(key: str, *, _sync: Any = None) -> Any:
        if seen.artifact_error is not None:
            raise seen.artifact_error
        seen.gets.append((key, _sync))
        return seen.artifact

    def create(percent: float, *, key: str, description: str, _sync: Any = None) -> None:
        seen.writes.append(("create", percent, key, description, _sync))

    def update(artifact_id: Any, percent: float, *, description: str, _sync: Any = None) -> None:
        seen.writes.append(("update", artifact_id, percent, description, _sync))

    monkeypatch.setattr(events, "emit_batch_event", emit)
    monkeypatch.setattr(events, "last_emitted_status", {"bj-1": "running"}.get)
    monkeypatch.setattr(prefect.artifacts.Artifact, "get", get)
    monkeypatch.setattr(prefect.artifacts, "create_progress_artifact", create)
    monkeypatch.setattr(prefect.artifacts, "update_progress_artifact", update)
    return seen


def _read_back(status: str, progress: float) -> BatchJobStatus:
    job = BatchJob(id="bj-1", job_type="parse", project_id="p", status=status, total_items=10)
    return BatchJobStatus(job=job, progress_percentage=progress)


CANCELLED = BatchCancelResponse(job_id="bj-1", status="cancelled", processed_items=4)
NOTE = (
    "Progress of LlamaCloud batch job bj-1: cancelled by prefect-llamabatch (run stopped); "
    "4 item(s) processed before the cancel"
)


def test_the_cancel_event_says_cancelled_even_while_the_service_says_running(
    announcements: Announcements,
) -> None:
    tracking._announce("bj-1", CANCELLED, _read_back("running", 40.0), "run stopped", tracking.log)
    tracking._announce(
        "bj-1", CANCELLED, _read_back("completed", 100.0), "run stopped", tracking.log
    )
    assert announcements.events == [
        ("bj-1", "cancelled", 40.0, "running"),
        ("bj-1", "completed", 100.0, "running"),  # it finished first: said as it is
    ]


def test_the_wait_s_artifact_is_updated_with_the_last_progress_and_a_note(
    announcements: Announcements,
) -> None:
    artifact_id = uuid4()
    announcements.artifact = type("Artifact", (), {"id": artifact_id, "data": 55.0})()
    tracking._announce("bj-1", CANCELLED, _read_back("running", 140.0), "run stopped", tracking.log)
    tracking._announce("bj-1", CANCELLED, None, "run stopped", tracking.log)
    assert announcements.gets == [("llamabatch-progress-bj-1", True)] * 2
    assert announcements.writes == [
        ("update", artifact_id, 100.0, NOTE, True),  # capped at 100
        ("update", artifact_id, 55.0, NOTE, True),  # no read-back: the artifact's own last value
    ]


def test_a_stop_before_any_wait_leaves_a_final_artifact_all_the_same(
    announcements: Announcements,
) -> None:
    tracking._announce("bj-1", CANCELLED, None, "run stopped", tracking.log)
    announcements.artifact = type("Artifact", (), {"id": None, "data": "not a number"})()
    tracking._announce("bj-1", CANCELLED, _read_back("running", -5.0), "run stopped", tracking.log)
    tracking._announce("bj-1", CANCELLED, None, "run stopped", tracking.log)
    assert announcements.writes == [
        ("create", 0.0, "llamabatch-progress-bj-1", NOTE, True),
        ("create", 0.0, "llamabatch-progress-bj-1", NOTE, True),  # never below 0
        ("create", 0.0, "llamabatch-progress-bj-1", NOTE, True),  # data that is no number: 0
    ]
    assert not announcements.events[1:]  # only the read-back one announced an event


def test_a_failed_announcement_is_logged_never_raised(
    announcements: Announcements, caplog: pytest.LogCaptureFixture
) -> None:
    announcements.event_error = RuntimeError("events down")
    announcements.artifact_error = RuntimeError("artifacts down")
    logger = logging.getLogger("t-announce")
    with caplog.at_level(logging.WARNING, logger="t-announce"):
        tracking._announce("bj-1", CANCELLED, _read_back("running", 10.0), "r", logger)
    assert [r.getMessage() for r in caplog.records if r.name == "t-announce"] == [
        "Could not emit the cancel event of batch job bj-1: events down",
        "Could not finalise the progress artifact of batch job bj-1: artifacts down",
    ]


def test_the_hook_client_uses_the_capped_credentials() -> None:
    with tracking.hook_client(_creds(retry_deadline=300.0)) as client:
        assert client.retry_policy.deadline == 15.0
