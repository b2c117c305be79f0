"""Chaos: ``process_directory`` under seeded faults on every route ends exactly as the emulator says.

One *strict* emulator (no ``Idempotency-Key``: LlamaCloud documents none, so only reconciliation
can prevent a duplicate), run once per list order (oldest first; newest first with pages capped
at 20 and no ``total_size``), faults on every route (429 with Retry-After, 500, 502 with an HTML
body, 503, 504, dropped connections, latency spikes, and commit-then-fail / commit-then-drop on
create). Each run processes a folder or directory of 50 files, a few of which fail by design.
Every run's report must equal the emulator's ground truth (same failed items, same counts), the
emulator must hold exactly one job per run, and the requests made must stay within
``REQUEST_MULTIPLE`` times those of the same runs without faults (no retry storm).

Ten flows at once over equal-size item sets of one directory, each with its own config, under
creates that fail *before* the server stores anything (and some after): each flow must end with
its own job — its items, its config — never another flow's.

CI-friendly: the emulator runs at 1/100 speed scale, the client's backoff is capped at 0.1 s via
the credentials block, and polling starts at 50 ms.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch.emulator import (
    Emulator,
    EmulatorConfig,
    FaultConfig,
    FaultRule,
    run_emulator,
)
from prefect_llamabatch.emulator.admin import GroundTruth
from prefect_llamabatch.flows import process_directory, process_items
from prefect_llamabatch.orchestration.results import BatchRunResult, JobCounts
from prefect_llamabatch.orchestration.waiting import WaitSettings

pytestmark = pytest.mark.timeout(240)

FILES_PER_RUN = 50
CHAOS_RUNS = 20
AT_ONCE = 10
REQUEST_MULTIPLE = 3.0
"""Stated bound: requests under chaos <= this many times the requests of the same runs without."""
MIN_FAULT_FRACTION = 0.25

TERMINAL_FAULTS = ("http_429", "http_500", "http_502", "http_503", "http_504", "drop")
CHAOS = FaultConfig(
    seed=20240501,
    rules=[
        # Create: the job is stored, then the answer is lost (ambiguous: must be reconciled).
        FaultRule(route="create_job", kind="commit_then_fail", rate=0.25),
        FaultRule(route="create_job", kind="commit_then_drop", rate=0.15),
        FaultRule(route="upload_file", kind="commit_then_drop", rate=0.05),
        *[FaultRule(route="*", kind=kind, rate=0.05, retry_after=0.02) for kind in TERMINAL_FAULTS],
        FaultRule(route="*", kind="latency", rate=0.06, latency_seconds=0.05),
    ],
)
WAIT = WaitSettings(poll_interval=0.05, max_poll_interval=0.2, outage_budget_seconds=60)


@dataclass(frozen=True)
class Run:
    """One planned run: its files and where they come from."""

    index: int
    files: dict[str, bytes]
    local: bool

    @property
    def failing(self) -> set[str]:
        return {name for name in self.files if name.startswith("bad-")}


def plan(index: int) -> Run:
    """50 files, 1 to 8 of which fail (name pattern ``bad-*``); local folder or directory."""
    rng = random.Random(index)
    files = {
        f"doc-{index:02d}-{n:03d}.txt": f"text {index} {n}".encode() for n in range(FILES_PER_RUN)
    }
    for n in rng.sample(range(FILES_PER_RUN), rng.randint(1, 8)):
        del files[f"doc-{index:02d}-{n:03d}.txt"]
        files[f"bad-{index:02d}-{n:03d}.txt"] = b"will fail"
    return Run(index, files, local=index % 2 == 0)


# Creates that never reach the store, many of them, before the usual chaos.
UNCOMMITTED_CREATES = [
    FaultRule(route="create_job", kind="drop", rate=0.2),
    FaultRule(route="create_job", kind="http_502", rate=0.2),
    FaultRule(route="create_job", kind="http_504", rate=0.1),
]

LISTINGS = {
    "oldest_first": {"list_order": "oldest_first"},
    "newest_first-capped-no_total": {
        "list_order": "newest_first",
        "max_page_size": 20,
        "include_total_size": False,
    },
}


@pytest.fixture(scope="module", params=list(LISTINGS))
def chaos_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    config = EmulatorConfig(
        time_scale=0.01,
        concurrency=8,
        failure_patterns=["bad-*"],
        request_log_size=50_000,
        idempotency_keys=False,  # the strict default, stated: no server-side dedupe
        **LISTINGS[request.param],
    )
    with run_emulator(config) as emu:
        yield emu


@pytest.fixture
def emulator(chaos_emulator: Emulator) -> Iterator[Emulator]:
    chaos_emulator.admin.reset()
    yield chaos_emulator
    chaos_emulator.admin.reset()


def credentials(emu: Emulator) -> LlamaCloudCredentials:
    return LlamaCloudCredentials(
        api_key=emu.api_key,
        base_url=emu.base_url,
        timeout=5,
        max_retries=10,
        retry_deadline=60,
        retry_initial_delay=0.01,
        retry_max_delay=0.1,
    )


def execute(emu: Emulator, run: Run, tmp: Path) -> tuple[BatchRunResult, str]:
    """Run ``process_directory`` for one planned run; its result and directory id."""
    source: dict[str, Any]
    if run.local:
        folder = tmp / f"run-{run.index:02d}"
        folder.mkdir(parents=True)
        for name, content in run.files.items():
            (folder / name).write_bytes(content)
        source = {"local_path": str(folder)}
    else:
        seeded = emu.admin.seed_directory(run.files, name=f"run-{run.index:02d}")
        source = {"directory_id": seeded.id}
    state = process_directory(
        credentials(emu), **source, wait=WAIT, max_failed_fraction=1.0, return_state=True
    )
    result = state.result(raise_on_failure=False)
    assert isinstance(result, BatchRunResult), f"run {run.index} ended {state.type}: {result!r}"
    directory_id = result.job.directory_id
    assert directory_id is not None
    return result, directory_id


def execute_all(
    emu: Emulator, runs: list[Run], tmp: Path, at_once: int
) -> list[tuple[BatchRunResult, str]]:
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return list(pool.map(lambda run: execute(emu, run, tmp), runs))


def check_against_truth(
    run: Run, result: BatchRunResult, directory_id: str, truth: GroundTruth
) -> None:
    jobs = [job for job in truth.jobs if job.directory_id == directory_id]
    assert len(jobs) == 1, f"run {run.index}: {len(jobs)} jobs for its directory (duplicates)"
    job = jobs[0]
    assert result.job.id == job.id
    assert job.status_value == result.status == "completed"
    failed_truth = {item.item_id for item in job.items if item.status_value == "failed"}
    assert {item.item_id for item in result.failed_items} == failed_truth
    assert len(result.failed_items) == len(failed_truth)  # each failed item reported once
    assert {item.item_name for item in job.items if item.status_value == "failed"} == run.failing
    assert result.counts == JobCounts(
        total=len(job.items),
        processed=sum(job.counts.get(s, 0) for s in ("completed", "failed", "skipped")),
        failed=job.counts.get("failed", 0),
        skipped=job.counts.get("skipped", 0),
    )
    assert result.counts.total == FILES_PER_RUN


def baseline_requests(emu: Emulator, runs: list[Run], tmp: Path) -> int:
    """Requests the same kind of runs make without faults (then the emulator is reset)."""
    emu.admin.clear_faults()
    results = execute_all(emu, runs, tmp, at_once=len(runs))
    total = len(emu.admin.request_log())
    truth = emu.admin.ground_truth()
    for run, (result, directory_id) in zip(runs, results, strict=True):
        check_against_truth(run, result, directory_id, truth)
    emu.admin.reset()
    return total


def test_credentials_backoff_settings_reach_the_client(emulator: Emulator) -> None:
    policy = credentials(emulator).get_client().retry_policy
    assert (policy.initial_delay, policy.max_delay, policy.max_retries) == (0.01, 0.1, 10)


def test_chaos_runs_match_the_ground_truth_with_no_duplicate_and_no_retry_storm(
    emulator: Emulator, prefect_api: str, tmp_path: Path
) -> None:
    runs = [plan(i) for i in range(CHAOS_RUNS)]
    calm = baseline_requests(emulator, [plan(100), plan(101)], tmp_path / "calm")
    per_run_calm = calm / 2

    emulator.admin.set_faults(CHAOS)
    results = execute_all(emulator, runs, tmp_path, at_once=4)
    truth = emulator.admin.ground_truth()
    log = emulator.admin.request_log()

    assert len(truth.jobs) == CHAOS_RUNS
    for run, (result, directory_id) in zip(runs, results, strict=True):
        check_against_truth(run, result, directory_id, truth)

    faulted = [r for r in log if r.fault is not None]
    fraction = len(faulted) / len(log)
    assert fraction >= MIN_FAULT_FRACTION, f"only {fraction:.0%} of requests were faulted"
    busy_routes = {r.route for r in log}
    busy_routes = {route for route in busy_routes if sum(r.route == route for r in log) >= 20}
    assert busy_routes <= {r.route for r in faulted}, "a busy route was never faulted"
    fired = {stat["rule"]["kind"] for stat in emulator.admin.fault_stats() if stat["fired"]}
    assert fired >= {*TERMINAL_FAULTS, "latency", "commit_then_fail", "commit_then_drop"}

    multiple = len(log) / (per_run_calm * CHAOS_RUNS)
    print(
        f"\nchaos: {len(log)} requests for {CHAOS_RUNS} runs, {fraction:.0%} faulted; "
        f"{per_run_calm:.0f} per run without faults; multiple {multiple:.2f}"
    )
    assert multiple <= REQUEST_MULTIPLE


def test_ten_flows_at_once_against_one_emulator_all_correct(
    emulator: Emulator, prefect_api: str, tmp_path: Path
) -> None:
    runs = [plan(200 + i) for i in range(AT_ONCE)]
    emulator.admin.set_faults(CHAOS)
    results = execute_all(emulator, runs, tmp_path, at_once=AT_ONCE)
    truth = emulator.admin.ground_truth()
    assert len(truth.jobs) == AT_ONCE
    for run, (result, directory_id) in zip(runs, results, strict=True):
        check_against_truth(run, result, directory_id, truth)
    assert len({result.job.id for result, _ in results}) == AT_ONCE


ITEMS_PER_FLOW = 10


def test_ten_flows_over_equal_size_item_sets_each_get_their_own_job(
    emulator: Emulator, prefect_api: str
) -> None:
    names = {f"doc-{n:03d}.txt": b"x" for n in range(AT_ONCE * ITEMS_PER_FLOW)}
    for n in range(0, AT_ONCE * ITEMS_PER_FLOW, 7):  # a few fail by design
        del names[f"doc-{n:03d}.txt"]
        names[f"bad-{n:03d}.txt"] = b"x"
    seeded = emulator.admin.seed_directory(names, name="shared")
    ids = sorted(seeded.files.values())
    chunks = [ids[i * ITEMS_PER_FLOW : (i + 1) * ITEMS_PER_FLOW] for i in range(AT_ONCE)]
    configs = [{"parameters": {"max_pages": i + 1}} for i in range(AT_ONCE)]
    emulator.admin.set_faults(
        FaultConfig(seed=CHAOS.seed + 1, rules=[*UNCOMMITTED_CREATES, *CHAOS.rules])
    )

    def one(i: int) -> BatchRunResult:
        state = process_items(
            credentials(emulator),
            item_ids=chunks[i],
            job_config=configs[i],
            wait=WAIT,
            max_failed_fraction=1.0,
            return_state=True,
        )
        result = state.result(raise_on_failure=False)
        assert isinstance(result, BatchRunResult), f"flow {i} ended {state.type}: {result!r}"
        return result

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        results = list(pool.map(one, range(AT_ONCE)))
    truth = emulator.admin.ground_truth()
    log = emulator.admin.request_log()
    uncommitted = [
        r for r in log if r.route == "create_job" and r.fault in ("drop", "http_502", "http_504")
    ]
    assert uncommitted, "no create failed before the store: the scenario did not happen"
    assert len(truth.jobs) == AT_ONCE, f"{len(truth.jobs)} jobs for {AT_ONCE} flows"
    for i, result in enumerate(results):
        job = truth.job(result.job.id)
        assert sorted(item.item_id for item in job.items) == chunks[i], f"flow {i}: wrong job"
        assert job.job_config is not None
        assert job.job_config["parameters"]["max_pages"] == i + 1, f"flow {i}: wrong config"
        failed = {item.item_id for item in job.items if item.status_value == "failed"}
        assert {item.item_id for item in result.failed_items} == failed
    assert len({result.job.id for result in results}) == AT_ONCE
    print(
        f"\nten flows: {len(uncommitted)} creates failed before the store, "
        f"{sum(r.route == 'create_job' and r.fault is not None for r in log)} create faults in all"
    )
