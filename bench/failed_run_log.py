"""How many log lines a run that ends Failed because items failed writes (issue 12, item 5).

Runs ``process_directory`` on a directory with one failing document (``bad-1.txt``, by the
emulator's failure pattern) twice, each in a fresh child process with its own emulator and
ephemeral Prefect API:

* ``direct``: the flow called from a script (``python my_flow.py``), the exception caught;
* ``engine``: ``run_llama_batch_job`` run the way a worker or ``serve`` runs it:
  ``prefect.engine``'s own entry code (``handle_engine_signals`` + ``run_flow(...,
  error_logger=...)``), with the flow run created through the API first;
* ``nightly``: the same for the shipped ``nightly`` deployment's flow
  (``flows/nightly_parse.py``: ``process_directory`` as a subflow, then one retry round, which
  fails again).

It prints, for each, the lines the child wrote (stdout + stderr), how many of them are traceback
lines. Usage: ``python bench/failed_run_log.py [-v] [direct|engine|nightly …]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _child(mode: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.engine import handle_engine_signals
    from prefect.flow_engine import flow_run_logger, run_flow
    from prefect.flows import load_flow_from_entrypoint

    from prefect_llamabatch import LlamaBatchJob, LlamaCloudCredentials, process_directory
    from prefect_llamabatch.emulator import run_emulator
    from prefect_llamabatch.flows import run_llama_batch_job

    with run_emulator(time_scale=0.01, failure_patterns=["bad-*"]) as emu:
        docs = emu.admin.seed_directory({"a.txt": "alpha", "bad-1.txt": "fails"}, name="docs")
        creds = LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url, max_retries=1)
        wait = {"poll_interval": 0.05, "max_poll_interval": 0.2}
        with get_client(sync_client=True) as client:
            client.hello()  # start the ephemeral API first: its lines are not the run's
        print("----- run starts", flush=True)
        if mode == "direct":
            try:
                process_directory(creds, directory_id=docs.id, wait=wait)
            except Exception as exc:  # what a script does with the outcome
                print(f"caught {type(exc).__name__}: {exc}", flush=True)
        else:
            creds.save("bench-creds", overwrite=True)
            if mode == "nightly":
                flow: Any = load_flow_from_entrypoint(
                    str(ROOT / "flows/nightly_parse.py:nightly_directory_parse")
                )
                parameters = {
                    "credentials_block": "bench-creds",
                    "directory_id": docs.id,
                    "retry_rounds": 1,
                    "wait": wait,
                }
            else:
                LlamaBatchJob(credentials=creds, directory_id=docs.id, wait=wait).save(
                    "bench-job", overwrite=True
                )
                flow, parameters = run_llama_batch_job, {"block_name_or_block": "bench-job"}
            with get_client(sync_client=True) as client:
                flow_run = client.create_flow_run(flow, parameters=parameters)
            try:
                # prefect/engine.py's __main__, minus loading the flow from an entrypoint.
                with handle_engine_signals(flow_run.id):
                    run_flow(flow, flow_run=flow_run, error_logger=flow_run_logger(flow_run))
            except SystemExit as exit_:
                print(f"engine exit code {exit_.code}", flush=True)
        print("----- run ends", flush=True)


def _measure(mode: str) -> tuple[int, int, list[str]]:
    env = {
        **os.environ,
        "PREFECT_HOME": tempfile.mkdtemp(prefix="llamabatch-bench-log-"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order it was written
        text=True,
        timeout=600,
        check=False,
    )
    lines = out.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "----- run starts" in line), 0)
    end = next((i for i, line in enumerate(lines) if "----- run ends" in line), len(lines))
    run = [line for line in lines[start + 1 : end] if line.strip()]
    # Traceback lines: the header and the indented frame lines under it.
    tb = sum(1 for line in run if line.startswith(("Traceback (most recent call last)", "  ")))
    return len(run), tb, run


def main() -> None:
    """Measure both modes and print the numbers."""
    verbose = "-v" in sys.argv
    modes = [a for a in sys.argv[1:] if a in ("direct", "engine", "nightly")]
    for mode in modes or ("direct", "engine", "nightly"):
        total, tb, run = _measure(mode)
        print(f"{mode:8s} {total:4d} log lines, {tb:4d} of them traceback lines")
        if verbose:
            print("\n".join(f"    {line}" for line in run))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
