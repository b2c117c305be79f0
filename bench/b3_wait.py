"""B3: waiting for jobs of 5 s, 60 s and 10 min: our wait task vs fixed 10 s polling.

A virtual clock drives both sides: a side's ``sleep(s)`` moves the clock ``s`` seconds at once and
the (frozen) emulator is advanced to match, finishing the job's items in proportion to the time
passed and all of them at its end. Everything else is real: the status polls are HTTP requests to
the emulator (counted there), and each wait runs as Prefect flow and task runs on a real Prefect
API (task runs are read back from it).

* ours: ``wait_for_batch_job`` (default ``WaitSettings``) in a flow; its driver's ``sleep`` and
  ``monotonic`` are pointed at the virtual clock.
* fixed 10 s: the polling loop of prefect-dbt's ``wait_for_dbt_cloud_job_run`` and
  prefect-databricks' ``jobs_runs_wait_for_completion`` (and the 10 s default of Airflow's dbt
  Cloud and Databricks operators): one status task run per poll, then sleep 10 s.

Each duration is waited for several times, the wait starting φ seconds after the job was
submitted (φ = 0 is create-then-wait; other phases put the job's end at other points between two
fixed polls). Detection latency is "clock when the wait returned − job end".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from harness import (
    BATCH_PATH,
    Context,
    EmulatorProcess,
    Section,
    Target,
    count,
    request_delta,
    task_runs_of,
)

TITLE = "B3 · wait for jobs of 5 s, 60 s, 10 min vs fixed 10 s polling (virtual clock)"
DURATIONS = (5.0, 60.0, 600.0)
ITEMS = 400
FIXED_INTERVAL = 10.0
TERMINAL = {"completed", "failed", "cancelled"}


class VirtualJob:
    """A virtual clock tied to one frozen emulator job lasting ``duration`` virtual seconds."""

    def __init__(self, emu: EmulatorProcess, job_id: str, items: int, duration: float) -> None:
        self.emu = emu
        self.job_id = job_id
        self.items = items
        self.duration = duration
        self.now = 0.0
        self.done = 0
        self.sleeps = 0

    def set(self, now: float) -> None:
        self.now = now
        target = (
            self.items
            if now >= self.duration
            else min(self.items - 1, math.floor(self.items * now / self.duration))
        )
        if target > self.done:
            self.done += self.emu.admin.advance(target - self.done)

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.set(self.now + max(seconds, 0.0))


@contextmanager
def _virtual_time_for_our_wait(clock: VirtualJob) -> Iterator[None]:
    """Point the sync task driver's sleep and clock at the virtual clock."""
    from prefect_llamabatch.orchestration.dispatch import SyncPort

    saved = SyncPort.op_sleep, SyncPort.op_monotonic

    def sleep(_self: SyncPort, seconds: float) -> None:
        clock.sleep(seconds)

    def monotonic(_self: SyncPort) -> float:
        return clock.now

    SyncPort.op_sleep, SyncPort.op_monotonic = sleep, monotonic  # type: ignore[method-assign]
    try:
        yield
    finally:
        SyncPort.op_sleep, SyncPort.op_monotonic = saved  # type: ignore[method-assign]


@dataclass
class Run:
    polls: int
    latency: float
    task_runs: int


def _flows(emu: EmulatorProcess) -> tuple[Callable[..., Any], Callable[..., Any]]:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from prefect_llamabatch import LlamaCloudCredentials
    from prefect_llamabatch.orchestration.tasks import wait_for_batch_job

    credentials = LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url)

    @flow(name="bench-wait-ours")
    def ours(job_id: str) -> str:
        result = wait_for_batch_job(credentials, job_id)
        return str(result.status)

    @task(name="get-status", cache_policy=NO_CACHE)
    def get_status(job_id: str) -> dict[str, Any]:
        response = httpx.get(
            emu.base_url + f"{BATCH_PATH}/{job_id}",
            headers={"Authorization": f"Bearer {emu.api_key}"},
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    clock_holder: dict[str, VirtualJob] = {}

    @flow(name="bench-wait-fixed-10s")
    def fixed(job_id: str) -> str:
        while True:
            status = get_status(job_id)["job"]["status"]
            if status in TERMINAL:
                return str(status)
            clock_holder["clock"].sleep(FIXED_INTERVAL)

    fixed.clock_holder = clock_holder  # type: ignore[attr-defined]
    return ours, fixed


def _phases(duration: float, quick: bool) -> list[float]:
    if quick:
        return [0.0]
    step = min(duration, FIXED_INTERVAL) / 4
    return [k * step for k in range(4)]


def run(ctx: Context) -> Section:
    ctx.prefect()
    results: dict[tuple[str, float], list[Run]] = {}
    with EmulatorProcess() as emu:
        emu.admin.freeze()
        ours, fixed = _flows(emu)
        for duration in DURATIONS:
            for phase in _phases(duration, ctx.quick):
                for side, flow_fn in (("ours", ours), ("fixed", fixed)):
                    job_id = emu.job_of(ITEMS, content=b"hello", name="wait")
                    clock = VirtualJob(emu, job_id, ITEMS, duration)
                    clock.set(phase)
                    with request_delta(emu, "get_job") as delta:
                        if side == "ours":
                            with _virtual_time_for_our_wait(clock):
                                state = flow_fn(job_id, return_state=True)
                        else:
                            flow_fn.clock_holder["clock"] = clock
                            state = flow_fn(job_id, return_state=True)
                    if not state.is_completed():
                        raise RuntimeError(f"{side} wait for a {duration:g} s job: {state}")
                    run = Run(
                        polls=delta["get_job"],
                        latency=clock.now - duration,
                        task_runs=task_runs_of(state.state_details.flow_run_id, expected=1),
                    )
                    results.setdefault((side, duration), []).append(run)
                    ctx.log(
                        f"{side}: {duration:g} s job, wait from {phase:g} s: {run.polls} polls, "
                        f"latency {run.latency:.1f} s, {run.task_runs} task run(s)"
                    )

    def label(duration: float) -> str:
        return f"{duration / 60:g} min" if duration >= 60 else f"{duration:g} s"

    rows = []
    targets = []
    for duration in DURATIONS:
        summary = {}
        for side, name in (("ours", "wait_for_batch_job"), ("fixed", "fixed 10 s polling")):
            runs = results[(side, duration)]
            polls = statistics.mean(r.polls for r in runs)
            latency = statistics.mean(r.latency for r in runs)
            worst = max(r.latency for r in runs)
            task_runs = sorted({r.task_runs for r in runs})
            summary[side] = (polls, latency, task_runs)
            rows.append(
                [
                    label(duration),
                    name,
                    f"{polls:.1f}",
                    f"{latency:.1f} s",
                    f"{worst:.1f} s",
                    ", ".join(count(t) for t in task_runs),
                ]
            )
        ours_polls, ours_latency, ours_tasks = summary["ours"]
        fixed_polls, fixed_latency, _ = summary["fixed"]
        if duration >= 60:
            targets.append(
                Target(
                    f"B3 {label(duration)} job: status calls",
                    "fewer than fixed 10 s",
                    f"{ours_polls:.1f} vs {fixed_polls:.1f}",
                    ours_polls < fixed_polls,
                )
            )
        else:
            targets.append(
                Target(
                    f"B3 {label(duration)} job: detection latency",
                    "lower than fixed 10 s",
                    f"{ours_latency:.1f} s vs {fixed_latency:.1f} s",
                    ours_latency < fixed_latency,
                )
            )
        targets.append(
            Target(
                f"B3 {label(duration)} job: Prefect task runs per wait",
                "exactly 1",
                ", ".join(count(t) for t in ours_tasks),
                ours_tasks == [1],
            )
        )
    phases = "φ = 0 only (quick)" if ctx.quick else "4 phases φ (0, ¼, ½, ¾ of min(D, 10 s))"
    return Section(
        id="B3",
        title=TITLE,
        columns=[
            "job",
            "side",
            "status calls (mean)",
            "detection latency (mean)",
            "worst latency",
            "task runs per wait",
        ],
        rows=rows,
        targets=targets,
        notes=[
            f"Means over {phases}: the wait starts φ s after the job was submitted. "
            f"Jobs of {ITEMS} items; the emulator finishes them in proportion to virtual time.",
            "Status calls are GET job requests counted by the emulator. Ours: default "
            "`WaitSettings` (2 s, ×1.5, capped at 30 s; once progress has moved twice, the next "
            "poll is timed just past the end predicted from the progress rate, within 2–30 s).",
            "Fixed 10 s polling is the prefect-dbt / prefect-databricks loop: one Prefect task "
            "run per poll, which is why its task runs grow with the job's length.",
        ],
    )
