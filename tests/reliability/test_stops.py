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
from prefect_llamabatch.emulator import Emulator, JobTruth
from prefect_llamabatch.flows import process_directory
from prefect_llamabatch.orchestration.tracking import tracked_jobs

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
    # The runner proposes Crashed before its hook runs; the hook forgets the record last.
    eventually(lambda: tracked_jobs(str(flow_run.id)) == [], "the job record to be forgotten")
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


# --- A user flow without hooks (the README's task example) cancels its job on every stop. ---
# Issue 10, item 8: the wait task itself cancels the job it waits for when it is stopped from
# outside, so a flow that only calls create + wait needs no hook.

USER_FLOW = """
import asyncio
import sys

from prefect import flow
from prefect_llamabatch import LlamaCloudCredentials, create_batch_job, wait_for_batch_job

BLOCK, DIRECTORY, NAME, TIMEOUT = {block!r}, {directory!r}, {name!r}, {timeout!r}
WAIT = {{"poll_interval": 0.05, "max_poll_interval": 0.2}}


@flow(name=NAME, timeout_seconds=TIMEOUT)
def parse_folder(directory_id: str) -> int:
    credentials = LlamaCloudCredentials.load(BLOCK)
    job = create_batch_job(credentials, {{}}, directory_id=directory_id)
    return wait_for_batch_job(credentials, job.id, WAIT).counts.succeeded


@flow(name=NAME, timeout_seconds=TIMEOUT)
async def aparse_folder(directory_id: str) -> int:
    credentials = await LlamaCloudCredentials.aload(BLOCK)
    job = await create_batch_job(credentials, {{}}, directory_id=directory_id)
    return (await wait_for_batch_job(credentials, job.id, WAIT)).counts.succeeded


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sync":
        parse_folder(DIRECTORY)
    elif mode == "async":
        asyncio.run(aparse_folder(DIRECTORY))
    else:
        parse_folder.serve(name=NAME, limit=1, print_starting_message=False)
"""


def start_child(
    argv: list[str], env: dict[str, str], cwd: Path, procs: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """A child with Ctrl-C at its default action (a background shell ignores it) in its own
    process group (a SIGTERM'd flow may orphan Prefect's helpers: the group is ended after)."""
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    procs.append(proc)
    return proc


@pytest.fixture
def groups(children: list[subprocess.Popen[bytes]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Like ``children``, and each child's own process group is ended afterwards."""
    yield children
    for proc in children:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, by its id
        except ProcessLookupError:
            pass


def cancel_events(job_id: str) -> list[dict[str, Any]]:
    """``llamacloud.batch.cancelled`` events of a job, as the Prefect API stored them."""
    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/events/filter",
            json={
                "filter": {
                    "event": {"name": ["llamacloud.batch.cancelled"]},
                    "resource": {"id": [f"llamacloud.batch.{job_id}"]},
                },
                "limit": 50,
            },
        )
    return list(response.json().get("events", []))


def progress_note(job_id: str) -> str | None:
    from prefect.artifacts import Artifact

    from prefect_llamabatch.orchestration.waiting import progress_artifact_key

    artifact: Any = Artifact.get(progress_artifact_key(job_id))
    return None if artifact is None else artifact.description


def runs_of(flow_name: str) -> list[FlowRun]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))


def user_flow(emu: Emulator, tmp_path: Path, *, timeout: float | None = None) -> tuple[Path, str]:
    seeded = emu.admin.seed_directory(FILES, name="user-flow")
    emu.admin.freeze()  # the job stays running until something cancels it
    block, _ = saved_credentials(emu)
    name = f"parse-folder-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "user_flow.py"
    script.write_text(
        USER_FLOW.format(block=block, directory=seeded.id, name=name, timeout=timeout)
    )
    return script, name


def assert_cancelled_by_the_integration(emu: Emulator, job: JobTruth, flow_run_id: str) -> str:
    """The job is cancelled (ground truth), announced, its progress finalised, forgotten."""
    cancelled = eventually(
        lambda: (j := only_job(emu)) is not None and j.status_value == "cancelled" and j,
        "the remote job to be cancelled",
    )
    assert cancelled.id == job.id
    eventually(lambda: cancel_events(job.id), "the llamacloud.batch.cancelled event")
    note = eventually(
        lambda: (n := progress_note(job.id)) and "cancelled by prefect-llamabatch" in n and n,
        "the progress artifact to be finalised",
    )
    assert note and job.id in note
    eventually(lambda: tracked_jobs(flow_run_id) == [], "the job record to be forgotten")
    return cancelled.cancel_reason or ""


def inside_the_wait(emu: Emulator, name: str) -> tuple[JobTruth, str]:
    job = eventually(lambda: only_job(emu), "the flow to create its job")
    eventually(lambda: any(r.route == "get_job" for r in emu.admin.request_log()), "a poll")
    run = eventually(lambda: runs_of(name), "the flow run")[0]
    return job, str(run.id)


@pytest.mark.parametrize(
    ("mode", "stop", "said"),
    [
        ("sync", signal.SIGINT, "Ctrl-C"),
        ("sync", signal.SIGTERM, "signal 15"),
        # Python 3.11+'s asyncio.run turns Ctrl-C into a cancel of the main task; on 3.10 the
        # loop raises KeyboardInterrupt, which the wait reports as such.
        ("async", signal.SIGINT, "cancelled" if sys.version_info >= (3, 11) else "Ctrl-C"),
        # Prefect's SIGTERM bridge raises in the event loop; the wait task sees asyncio cancel it.
        ("async", signal.SIGTERM, "cancelled"),
    ],
)
def test_a_flow_without_hooks_cancels_its_job_on_a_signal(
    emu: Emulator,
    prefect_api: str,
    tmp_path: Path,
    groups: list[subprocess.Popen[bytes]],
    mode: str,
    stop: signal.Signals,
    said: str,
) -> None:
    script, name = user_flow(emu, tmp_path)
    proc = start_child(
        [sys.executable, str(script), mode], child_env(prefect_api), tmp_path, groups
    )
    job, flow_run_id = inside_the_wait(emu, name)
    proc.send_signal(stop)
    output, _ = proc.communicate(timeout=120)
    reason = assert_cancelled_by_the_integration(emu, job, flow_run_id)
    assert said in reason, (reason, output.decode()[-3000:])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_flow_without_hooks_cancels_its_job_at_its_timeout(
    emu: Emulator,
    prefect_api: str,
    tmp_path: Path,
    groups: list[subprocess.Popen[bytes]],
    mode: str,
) -> None:
    script, name = user_flow(emu, tmp_path, timeout=4.0)
    proc = start_child(
        [sys.executable, str(script), mode], child_env(prefect_api), tmp_path, groups
    )
    job, flow_run_id = inside_the_wait(emu, name)
    output, _ = proc.communicate(timeout=120)
    reason = assert_cancelled_by_the_integration(emu, job, flow_run_id)
    assert "TimedOut" in reason, output.decode()[-3000:]
    state = flow_run_state(flow_run_id)
    assert state.is_failed() and state.name == "TimedOut"


def test_a_plain_process_flow_cancelled_from_the_api_cancels_its_job_and_ends_cancelled(
    emu: Emulator, prefect_api: str, tmp_path: Path, groups: list[subprocess.Popen[bytes]]
) -> None:
    """No runner supervises ``python script.py``: the wait itself notices the Cancelling state."""
    from prefect.states import Cancelling

    script, name = user_flow(emu, tmp_path)
    proc = start_child(
        [sys.executable, str(script), "sync"], child_env(prefect_api), tmp_path, groups
    )
    job, flow_run_id = inside_the_wait(emu, name)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Cancelling(), force=True)
    output, _ = proc.communicate(timeout=120)
    reason = assert_cancelled_by_the_integration(emu, job, flow_run_id)
    assert "Cancelling" in reason, output.decode()[-3000:]
    assert eventually(lambda: flow_run_state(flow_run_id).is_cancelled(), "Cancelled")


def test_a_served_flow_without_hooks_cancelled_from_the_api_cancels_its_job(
    emu: Emulator, prefect_api: str, tmp_path: Path, groups: list[subprocess.Popen[bytes]]
) -> None:
    """Under ``serve`` the runner delivers the cancel as SIGTERM; the wait cancels the job."""
    from prefect.states import Cancelling

    script, name = user_flow(emu, tmp_path)
    runner = start_child(
        [sys.executable, str(script), "serve"], child_env(prefect_api), tmp_path, groups
    )

    def served() -> bool:
        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name(f"{name}/{name}")
            except Exception:
                return False
        return True

    eventually(served, "the deployment to be served")
    seeded = only_directory(emu)
    flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
        f"{name}/{name}", parameters={"directory_id": seeded}, timeout=0
    )
    job, _ = inside_the_wait(emu, name)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
    reason = assert_cancelled_by_the_integration(emu, job, str(flow_run.id))
    assert "signal" in reason
    assert eventually(lambda: flow_run_state(flow_run.id).is_cancelled(), "Cancelled")
    assert runner.poll() is None  # the runner itself goes on serving


def only_directory(emu: Emulator) -> str:
    with LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url).get_client() as client:
        found = [d.id for d in client.iter_directories() if d.name == "user-flow"]
    assert len(found) == 1
    return found[0]


def test_a_worker_run_without_hooks_cancelled_from_the_api_cancels_its_job(
    emu: Emulator, prefect_api: str, tmp_path: Path, groups: list[subprocess.Popen[bytes]]
) -> None:
    """A process worker delivers the cancel as ``serve`` does; the wait cancels the job."""
    from prefect import Flow
    from prefect.states import Cancelling

    script, name = user_flow(emu, tmp_path)
    env = child_env(prefect_api)
    env["PREFECT_WORKER_QUERY_SECONDS"] = "1"
    pool = f"pool-{uuid.uuid4().hex[:6]}"
    created = subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "create", pool, "--type", "process"],
        env=env,
        capture_output=True,
        timeout=180,
    )
    assert created.returncode == 0, created.stderr.decode()[-2000:]
    source: Any = Flow.from_source(source=str(tmp_path), entrypoint=f"{script.name}:parse_folder")
    source.deploy(name=name, work_pool_name=pool, print_next_steps=False)
    worker = start_child(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--limit", "1"],
        env,
        tmp_path,
        groups,
    )
    flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
        f"{name}/{name}", parameters={"directory_id": only_directory(emu)}, timeout=0
    )
    job, _ = inside_the_wait(emu, name)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
    reason = assert_cancelled_by_the_integration(emu, job, str(flow_run.id))
    assert "signal" in reason
    assert eventually(lambda: flow_run_state(flow_run.id).is_cancelled(), "Cancelled")
    assert worker.poll() is None  # the worker goes on
