"""Commands that run something locally: ``emulator`` (a local LlamaCloud) and ``demo``.

Both import what they run only when called: ``import prefect_llamabatch.cli`` stays as cheap as
the API commands need.

Example:
    ```python
    from prefect_llamabatch.cli import ExitCode, run

    assert run(["emulator", "--host", "0.0.0.0"]) == ExitCode.USAGE  # loopback only by default
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from prefect_llamabatch.cli.exit_codes import ExitCode

__all__ = ["demo", "emulator"]


def emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    db: Path | None = None,
    data_dir: Path | None = None,
    api_key: Annotated[list[str] | None, Parameter(name="--api-key")] = None,
    admin_token: str | None = None,
    time_scale: float = 1.0,
    item_duration: float = 0.1,
    concurrency: int = 4,
    failure_pattern: list[str] | None = None,
    transient_failure_pattern: list[str] | None = None,
    failure_rate: float = 0.0,
    seed: int = 0,
    fault: list[str] | None = None,
    max_file_size: int | None = None,
    response_latency: float = 0.0,
    dispatched_status: bool = False,
    allow_remote: bool = False,
) -> int:
    """Run the local LlamaCloud emulator in the foreground until Ctrl-C (see docs/emulator.md).

    It prints the `export LLAMA_CLOUD_BASE_URL=... LLAMA_CLOUD_API_KEY=...` line to paste into
    another shell, so every other command (and your flows) talk to it.

    Parameters
    ----------
    host
        Address to listen on (loopback only, unless --allow-remote).
    port
        Port (0: a free one).
    db
        SQLite file keeping state across restarts (default: in memory).
    data_dir
        Folder for uploads and outputs.
    api_key
        An accepted key, KEY:[ORG:]PROJECT[,PROJECT] (repeatable; default: llx-emulator-local-key).
    admin_token
        Token of the /_emulator admin API (default: random).
    time_scale
        Multiplies simulated durations (0.01 runs 100x faster).
    item_duration
        Simulated seconds per item.
    concurrency
        Items in flight per job.
    failure_pattern
        Glob of file names that always fail (repeatable).
    transient_failure_pattern
        Glob of file names that fail on their first processing only (repeatable).
    failure_rate
        Fraction of other items that fail (seeded, reproducible).
    seed
        Seed of the failure rate and of random faults.
    fault
        Injected fault ROUTE:KIND[=VALUE][:RATE[:COUNT]], e.g. get_job:503:0.1 (repeatable).
    max_file_size
        Bytes; larger files are skipped (size_limit_exceeded).
    response_latency
        Seconds added to every response.
    dispatched_status
        Report 'dispatched' once every item was handed out.
    allow_remote
        Allow a non-loopback --host (the emulator has no real security).
    """
    from prefect_llamabatch.emulator.command import serve_from_cli

    serve_from_cli(
        host=host,
        port=port,
        db=db,
        data_dir=data_dir,
        api_key=api_key or (),
        admin_token=admin_token,
        time_scale=time_scale,
        item_duration=item_duration,
        concurrency=concurrency,
        failure_pattern=failure_pattern or (),
        transient_failure_pattern=transient_failure_pattern or (),
        failure_rate=failure_rate,
        seed=seed,
        fault=fault or (),
        max_file_size=max_file_size,
        response_latency=response_latency,
        dispatched_status=dispatched_status,
        allow_remote=allow_remote,
    )
    return ExitCode.OK


def demo(
    *,
    emulator: bool = False,
    docs: Path | None = None,
    time_scale: float = 1.0,
    workdir: Path | None = None,
) -> int:
    """Run the end-to-end demo: upload, parse, report, retry the failed items.

    Parameters
    ----------
    emulator
        Run against an in-process LlamaCloud emulator (no key needed). Without it the demo
        needs LLAMA_CLOUD_API_KEY and runs against LlamaCloud.
    docs
        Folder of documents to process (default: the packaged sample documents).
    time_scale
        Emulator speed: simulated processing times are multiplied by this.
    workdir
        Where the demo keeps the emulator's state and outputs
        (default: $PREFECT_HOME/llamabatch-demo).
    """
    from prefect_llamabatch.cli.demo import run_demo

    return run_demo(emulator=emulator, docs=docs, time_scale=time_scale, workdir=workdir).exit_code
