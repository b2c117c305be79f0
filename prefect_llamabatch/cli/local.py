"""Commands that run something locally: ``emulator`` (a local LlamaCloud) and ``demo``.

Both import what they run only when called: ``import prefect_llamabatch.cli`` stays as cheap as
the API commands need. Only the emulator's flag model (pydantic, ~11 ms of a ~1.1 s CLI import)
loads up front: cyclopts reads it for the command's signature.

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
from prefect_llamabatch.emulator.flags import EmulatorFlags

__all__ = ["demo", "emulator"]


def emulator(
    *,
    flags: Annotated[EmulatorFlags | None, Parameter(name="*")] = None,
) -> int:
    """Run the local LlamaCloud emulator in the foreground until Ctrl-C (see docs/emulator.md).

    It prints the `export LLAMA_CLOUD_BASE_URL=... LLAMA_CLOUD_API_KEY=...` line to paste into
    another shell, so every other command (and your flows) talk to it. Its flags are those of
    `python -m prefect_llamabatch.emulator` (one list: `EmulatorFlags`).
    """
    from prefect_llamabatch.emulator.command import serve_from_cli

    serve_from_cli(flags)
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
