"""Outages and restarts in the middle of a wait: the flow rides them out, or fails saying why.

The issue's scenario is a 60 s outage against the default 300 s outage budget. Both are scaled by
``SCALE`` (3 s against 15 s): the logic is the same, the wall-clock cost is not. The client makes
few, fast retries of its own (``max_retries=2``, 50 ms backoff cap), so the outage outlasts them
and the wait's own outage handling is what carries the flow through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator, EmulatorConfig, run_emulator
from prefect_llamabatch.flows import process_directory
from prefect_llamabatch.orchestration.results import BatchApiUnavailable, BatchRunResult
from prefect_llamabatch.orchestration.waiting import WaitSettings

pytestmark = pytest.mark.timeout(120)

SCALE = 0.05
OUTAGE_SECONDS = 60 * SCALE
BUDGET_SECONDS = 300 * SCALE
FILES = {f"doc-{n:02d}.txt": f"text {n}".encode() for n in range(12)}


def credentials(emu: Emulator) -> LlamaCloudCredentials:
    return LlamaCloudCredentials(
        api_key=emu.api_key,
        base_url=emu.base_url,
        timeout=2,
        max_retries=2,
        retry_initial_delay=0.01,
        retry_max_delay=0.05,
    )


def wait_settings(budget: float) -> WaitSettings:
    return WaitSettings(
        poll_interval=0.1,
        max_poll_interval=0.5,
        outage_budget_seconds=budget,
        progress_artifact=False,
    )


def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Block until ``condition()`` holds (synchronisation, not an assertion on speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def polled(emu: Emulator, at_least: int = 1) -> bool:
    return (
        sum(r.route == "get_job" and r.status == 200 for r in emu.admin.request_log()) >= at_least
    )


@pytest.fixture
def background() -> Iterator[Callable[..., Future[Any]]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield lambda fn, *args, **kwargs: pool.submit(fn, *args, **kwargs)


def run_flow(emu: Emulator, directory_id: str, budget: float) -> Any:
    state = process_directory(
        credentials(emu),
        directory_id=directory_id,
        wait=wait_settings(budget),
        return_state=True,
    )
    return state, state.result(raise_on_failure=False)


def check_completed(emu: Emulator, outcome: Any) -> None:
    state, result = outcome
    assert state.is_completed(), f"flow ended {state.type}: {result!r}"
    assert isinstance(result, BatchRunResult)
    truth = emu.admin.ground_truth()
    assert [job.id for job in truth.jobs] == [result.job.id]  # one job, ours
    job = truth.jobs[0]
    assert job.status_value == "completed" and job.counts.get("completed") == len(FILES)
    assert result.counts.total == len(FILES) and result.counts.succeeded == len(FILES)


@pytest.mark.llamacloud_emulator(time_scale=0.01)
def test_a_503_outage_in_the_middle_of_a_wait_is_ridden_out(
    emu: Emulator, prefect_api: str, background: Callable[..., Future[Any]]
) -> None:
    seeded = emu.admin.seed_directory(FILES, name="outage")
    emu.admin.freeze()  # the job stays running until the outage has begun
    future = background(run_flow, emu, seeded.id, BUDGET_SECONDS)
    until(lambda: polled(emu), "the wait's first poll")
    emu.admin.outage(OUTAGE_SECONDS, mode="503")
    emu.admin.resume()
    outcome = future.result(timeout=90)
    check_completed(emu, outcome)
    refused = [r for r in emu.admin.request_log() if r.fault == "outage_503"]
    # More failed polls than one call's own retries: the wait itself rode the outage out.
    assert sum(r.route == "get_job" for r in refused) > 1 + 2


@pytest.mark.llamacloud_emulator(time_scale=0.01)
def test_dropped_connections_in_the_middle_of_a_wait_are_ridden_out(
    emu: Emulator, prefect_api: str, background: Callable[..., Future[Any]]
) -> None:
    seeded = emu.admin.seed_directory(FILES, name="drops")
    emu.admin.freeze()
    future = background(run_flow, emu, seeded.id, BUDGET_SECONDS)
    until(lambda: polled(emu), "the wait's first poll")
    emu.admin.outage(OUTAGE_SECONDS, mode="drop")
    emu.admin.resume()
    check_completed(emu, future.result(timeout=90))
    assert any(r.fault == "outage_drop" for r in emu.admin.request_log())


def test_an_emulator_restart_on_its_database_during_a_wait(
    prefect_api: str, tmp_path: Path, background: Callable[..., Future[Any]]
) -> None:
    config = EmulatorConfig(time_scale=0.05, db_path=tmp_path / "emulator.sqlite")
    with run_emulator(config) as emu:
        seeded = emu.admin.seed_directory(FILES, name="restart")
        emu.admin.freeze()
        future = background(run_flow, emu, seeded.id, BUDGET_SECONDS)
        until(lambda: polled(emu), "the wait's first poll")
        job_before = emu.admin.ground_truth(max_items=0).jobs[0].id
        emu.stop()
        # Refused connections while it is down (the flow keeps polling through them).
        time.sleep(OUTAGE_SECONDS / 2)
        emu.start()  # same port, same database; processing is no longer frozen
        outcome = future.result(timeout=90)
        check_completed(emu, outcome)
        assert outcome[1].job.id == job_before


@pytest.mark.llamacloud_emulator(time_scale=0.01)
def test_past_the_outage_budget_the_flow_fails_saying_what_and_how_long(
    emu: Emulator, prefect_api: str, background: Callable[..., Future[Any]]
) -> None:
    budget = 2.0
    seeded = emu.admin.seed_directory(FILES, name="gone")
    emu.admin.freeze()
    future = background(run_flow, emu, seeded.id, budget)
    until(lambda: polled(emu), "the wait's first poll")
    job_id = emu.admin.ground_truth(max_items=0).jobs[0].id
    emu.admin.outage(None, mode="503")  # never comes back
    state, error = future.result(timeout=90)
    emu.admin.end_outage()
    assert state.is_failed()
    assert isinstance(error, BatchApiUnavailable)
    message = str(error)
    assert "unreachable" in message and job_id in message and emu.base_url in message
    assert error.unreachable_seconds >= budget
    assert f"{error.unreachable_seconds:.0f}s" in message
    assert error.job_id == job_id
    # The job itself is untouched and can be waited for again.
    assert emu.admin.ground_truth(max_items=0).jobs[0].status_value not in ("cancelled",)
