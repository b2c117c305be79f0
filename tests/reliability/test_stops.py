"""Stops the Prefect-layer tests do not cover: a flow process killed with SIGKILL.

``tests/prefect/test_cancellation.py`` covers a cancel from the Prefect API of a served run, the
flow's ``timeout_seconds`` and SIGTERM; ``tests/prefect/test_tasks_e2e.py`` covers an in-process
flow retry after a failure that followed the create. Here, the two SIGKILL cases, where no code of
the dying process runs:

* under ``serve``, the runner sees its flow-run process die, marks the run Crashed and runs the
  flow's ``on_crashed`` hook itself, which finds the job through its Variable and cancels it;
* a plain process killed mid-wait, then the same flow run executed again by a new process (a
  retry from the UI, or a worker picking it up again): it reattaches to the job and creates none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Scheduled

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch._tracking import tracked_jobs
from prefect_llamabatch.emulator import Emulator, JobTruth
from prefect_llamabatch.flows import process_directory

pytestmark = [pytest.mark.timeout(240), pytest.mark.llamacloud_emulator(time_scale=0.01)]

REPO = Path(__file__).resolve().parents[2]
FILES = {f"doc-{n:02d}.txt": b"text" for n in range(8)}
WAIT = {"poll_interval": 0.05, "max_poll_interval": 0.2, "progress_artifact": False}
T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll until ``check()`` is truthy (synchronisation, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def child_env(prefect_api: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=prefect_api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PYTHONPATH=str(REPO),
    )
    return env


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the ppid follows the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return found


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed (by their pid) if still alive at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)


def saved_credentials(emu: Emulator) -> tuple[str, LlamaCloudCredentials]:
    name = f"stops-{uuid.uuid4().hex[:8]}"
    LlamaCloudCredentials(
        api_key=emu.api_key, base_url=emu.base_url, retry_initial_delay=0.01, retry_max_delay=0.1
    ).save(name)
    return name, LlamaCloudCredentials.load(name)  # type: ignore[return-value]


def only_job(emu: Emulator) -> JobTruth | None:
    jobs = emu.admin.ground_truth(max_items=0).jobs
    assert len(jobs) <= 1, f"{len(jobs)} jobs: a duplicate was created"
    return jobs[0] if jobs else None


def flow_run_state(flow_run_id: Any) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def test_sigkill_of_a_served_flow_run_crashes_it_and_the_runner_cancels_the_job(
    emu: Emulator, prefect_api: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    seeded = emu.admin.seed_directory(FILES, name="served")
    emu.admin.freeze()
    _, credentials = saved_credentials(emu)
    deployment = f"kill-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "serve_flow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from prefect_llamabatch.flows import process_directory

            if __name__ == "__main__":
                process_directory.serve(name={deployment!r}, limit=1, print_starting_message=False)
            """
        )
    )
    runner = subprocess.Popen(
        [sys.executable, str(script)], env=child_env(prefect_api), cwd=tmp_path
    )
    children.append(runner)

    def served() -> bool:
        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name(f"process-directory/{deployment}")
            except Exception:
                return False
        return True

    eventually(served, "the deployment to be served")
    flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
        f"process-directory/{deployment}",
        parameters={
            "credentials": {"$ref": {"block_document_id": str(credentials._block_document_id)}},
            "directory_id": seeded.id,
            "wait": WAIT,
        },
        timeout=0,
    )
    job = eventually(lambda: only_job(emu), "the served run to create its job")
    eventually(lambda: tracked_jobs(str(flow_run.id)), "the job to be recorded")
    flow_process = eventually(lambda: descendants(runner.pid), "the flow run's process")
    for pid in flow_process:
        os.kill(pid, signal.SIGKILL)  # nothing in the flow's process gets to run

    cancelled = eventually(
        lambda: (j := only_job(emu)) is not None and j.status_value == "cancelled" and j,
        "the runner to cancel the remote job",
    )
    assert cancelled.id == job.id
    assert "Crashed" in (cancelled.cancel_reason or "")
    state = eventually(
        lambda: (s := flow_run_state(flow_run.id)) and s.is_crashed() and s, "Crashed"
    )
    assert state.is_crashed()
    assert tracked_jobs(str(flow_run.id)) == []
    assert runner.poll() is None  # the runner itself survived


RUN_FLOW = """
import sys

from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch.flows import process_directory

flow_run_id, block, directory_id = sys.argv[1:4]
with get_client(sync_client=True) as client:
    flow_run = client.read_flow_run(flow_run_id)
state = run_flow(
    process_directory,
    flow_run=flow_run,
    parameters={
        "credentials": LlamaCloudCredentials.load(block),
        "directory_id": directory_id,
        "wait": %r,
    },
    return_type="state",
)
print("FINAL", state.type.value)
"""


def test_sigkill_mid_wait_then_the_same_flow_run_again_reattaches_and_creates_no_job(
    emu: Emulator, prefect_api: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    seeded = emu.admin.seed_directory(FILES, name="retried")
    emu.admin.freeze()
    block, credentials = saved_credentials(emu)
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(
            process_directory,
            parameters={"credentials": credentials, "directory_id": seeded.id, "wait": WAIT},
        )
    script = tmp_path / "run_flow.py"
    script.write_text(RUN_FLOW % (WAIT,))
    argv = [sys.executable, str(script), str(flow_run.id), block, seeded.id]

    first = subprocess.Popen(argv, env=child_env(prefect_api), cwd=tmp_path)
    children.append(first)
    job = eventually(lambda: only_job(emu), "the first process to create the job")
    # Inside the wait: the status has been polled.
    eventually(lambda: any(r.route == "get_job" for r in emu.admin.request_log()), "the first poll")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=20)
    creates_before = emu.admin.request_counts().get("create_job", 0)

    # What a retry from the UI does: the same flow run goes back to Scheduled.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Scheduled(), force=True)
    emu.admin.resume()
    second = subprocess.run(
        argv, env=child_env(prefect_api), cwd=tmp_path, capture_output=True, timeout=180
    )
    assert b"FINAL COMPLETED" in second.stdout, second.stderr.decode()[-3000:]

    truth = emu.admin.ground_truth()
    assert [j.id for j in truth.jobs] == [job.id], "the retried run created another job"
    assert truth.jobs[0].status_value == "completed"
    # The retried run found its create task's persisted result: it did not even ask.
    assert emu.admin.request_counts().get("create_job", 0) == creates_before
    assert flow_run_state(flow_run.id).is_completed()
