"""Stopping a flow run cancels its remote batch job: every way a run can stop, checked against the
emulator's ground truth (see docs/cancellation.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Cancelling

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator, JobTruth
from prefect_llamabatch.flows import process_directory
from prefect_llamabatch.orchestration.tracking import stopped_runs, tracked_jobs
from tests.prefect.conftest import FAST
from tests.reliability.test_stops import child_env, descendants, eventually, only_job

pytestmark = [pytest.mark.usefixtures("prefect"), pytest.mark.emulator(start_frozen=True)]

REPO = Path(__file__).resolve().parents[2]


def cancelled(emu: Emulator) -> JobTruth | None:
    job = only_job(emu)
    return job if job is not None and job.status == "cancelled" else None


@pytest.fixture
def child(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes started by a test, killed if still alive at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_flow_timeout_cancels_the_remote_job(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    timed = process_directory.with_options(timeout_seconds=2)
    state = timed(creds, directory_id=docs_dir, wait=FAST, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    job = cancelled(emu)
    assert job is not None, "the remote job is still running"
    assert "TimedOut" in (job.cancel_reason or "")


def test_cancel_on_stop_false_leaves_the_job_running(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    timed = process_directory.with_options(timeout_seconds=2)
    state = timed(creds, directory_id=docs_dir, wait=FAST, cancel_on_stop=False, return_state=True)
    assert state.is_failed()
    job = only_job(emu)
    assert job is not None and job.status != "cancelled"


def test_sigterm_to_the_flow_process_cancels_the_remote_job(
    emu: Emulator, docs_dir: str, prefect: str, tmp_path: Path, child: list[subprocess.Popen[bytes]]
) -> None:
    script = tmp_path / "run_flow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from prefect_llamabatch import LlamaCloudCredentials, WaitSettings, process_directory

            credentials = LlamaCloudCredentials(api_key={emu.api_key!r}, base_url={emu.base_url!r})
            process_directory(
                credentials,
                directory_id={docs_dir!r},
                wait=WaitSettings(poll_interval=0.05, max_poll_interval=0.2),
            )
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], env=child_env(prefect), cwd=tmp_path)
    child.append(proc)
    eventually(lambda: only_job(emu), what="the job to be created")
    # Inside the wait: a status poll has been answered (observed, not guessed with a sleep).
    eventually(
        lambda: any(r.route == "get_job" and r.status == 200 for r in emu.admin.request_log()),
        what="the wait's first status poll",
    )
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    job = eventually(lambda: cancelled(emu), timeout=30, what="the job to be cancelled")
    assert "Crashed" in (job.cancel_reason or "")  # type: ignore[attr-defined]


def test_cancelling_a_served_flow_run_cancels_the_remote_job(
    emu: Emulator, docs_dir: str, prefect: str, tmp_path: Path, child: list[subprocess.Popen[bytes]]
) -> None:
    # Saved credentials: the hook runs in whichever process Prefect picks and loads the block by
    # name from the Prefect API.
    block_name = f"emu-{uuid.uuid4().hex[:8]}"
    LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url).save(block_name)
    deployment = f"serve-{uuid.uuid4().hex[:6]}"
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
    proc = subprocess.Popen([sys.executable, str(script)], env=child_env(prefect), cwd=tmp_path)
    child.append(proc)

    def deployed() -> bool:
        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name(f"process-directory/{deployment}")
            except Exception:
                return False
            return True

    eventually(deployed, what="the deployment to be served")
    credentials = LlamaCloudCredentials.load(block_name)
    flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
        f"process-directory/{deployment}",
        parameters={
            "credentials": {"$ref": {"block_document_id": str(credentials._block_document_id)}},
            "directory_id": docs_dir,
            "wait": FAST.model_dump(),
        },
        timeout=0,
    )
    job = eventually(lambda: only_job(emu), what="the served run to create its job")
    eventually(lambda: tracked_jobs(str(flow_run.id)), what="the job to be recorded")
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
    job = eventually(lambda: cancelled(emu), timeout=60, what="the remote job to be cancelled")
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(flow_run.id).name
    assert name == f"process-directory/{docs_dir}"
    assert f"{name!r} stopped (Cancel" in (job.cancel_reason or "")  # type: ignore[attr-defined]

    def final() -> bool:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run.id).state
        return bool(state and state.is_cancelled())

    eventually(final, timeout=60, what="the flow run to end Cancelled")
    # The hook forgets the record after it has cancelled the job, in the runner's process.
    eventually(lambda: tracked_jobs(str(flow_run.id)) == [], what="the job record to be forgotten")


def test_sigkill_of_a_served_entrypoint_cancels_its_subflows_job(
    emu: Emulator, docs_dir: str, prefect: str, tmp_path: Path, child: list[subprocess.Popen[bytes]]
) -> None:
    # flows/nightly_parse.py runs process_directory as a subflow: the job is recorded under the
    # subflow run. After a SIGKILL nothing runs in the flow's process; the runner marks the run
    # Crashed and runs only the top-level flow's hooks, with the top-level run id.
    block_name = f"emu-{uuid.uuid4().hex[:8]}"
    LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url).save(block_name)
    deployment = f"nightly-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "serve_nightly.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from flows.nightly_parse import nightly_directory_parse

            if __name__ == "__main__":
                nightly_directory_parse.serve(
                    name={deployment!r}, limit=1, print_starting_message=False
                )
            """
        )
    )
    runner = subprocess.Popen([sys.executable, str(script)], env=child_env(prefect), cwd=REPO)
    child.append(runner)
    name = f"nightly-directory-parse/{deployment}"

    def deployed() -> bool:
        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name(name)
            except Exception:
                return False
            return True

    eventually(deployed, what="the deployment to be served")
    flow_run: FlowRun = run_deployment(  # type: ignore[assignment]
        name,
        parameters={
            "credentials_block": block_name,
            "directory_id": docs_dir,
            "wait": FAST.model_dump(),
        },
        timeout=0,
    )
    eventually(lambda: only_job(emu), what="the served run to create its job")
    runs = cast(
        list[str],
        eventually(
            lambda: [r for r in stopped_runs(str(flow_run.id)) if tracked_jobs(r)],
            what="the subflow's job to be recorded",
        ),
    )
    assert str(flow_run.id) not in runs  # recorded under the subflow run only
    for pid in cast(
        list[int], eventually(lambda: descendants(runner.pid), what="the flow process")
    ):
        os.kill(pid, signal.SIGKILL)
    job = eventually(lambda: cancelled(emu), timeout=60, what="the remote job to be cancelled")
    assert "stopped (Crashed)" in (job.cancel_reason or "")  # type: ignore[attr-defined]

    def crashed() -> bool:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run.id).state
        return bool(state and state.is_crashed())

    eventually(crashed, timeout=60, what="the flow run to end Crashed")
    # The runner proposes Crashed before its hook runs; the hook forgets the records last.
    eventually(
        lambda: all(tracked_jobs(r) == [] for r in runs), what="the job records to be forgotten"
    )
    assert runner.poll() is None  # the runner survived
