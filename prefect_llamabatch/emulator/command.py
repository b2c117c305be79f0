"""Command line of the emulator: ``python -m prefect_llamabatch.emulator`` and ``llamabatch emulator``.

The flags are written once, in :class:`~prefect_llamabatch.emulator.flags.EmulatorFlags`;
``serve_from_cli`` takes them as that model, so the package's main CLI can forward to it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TextIO

from prefect_llamabatch.emulator.flags import EmulatorFlags, add_flags
from prefect_llamabatch.emulator.server import Emulator

__all__ = ["build_parser", "main", "serve_from_cli"]


def banner(emulator: Emulator) -> str:
    """What the CLI prints once the emulator listens."""
    config = emulator.config
    lines = [
        f"LlamaCloud emulator listening on {emulator.base_url}",
        f"  state: {config.db_path or 'in memory'}; files and outputs: {emulator.data_dir}",
        f"  admin API: {emulator.base_url}/_emulator/ (header X-Emulator-Admin-Token: "
        f"{emulator.admin_token})",
    ]
    for spec in config.api_keys:
        lines.append(
            f"  key for organization {spec.organization_id}, projects {', '.join(spec.project_ids)}"
        )
    lines += [
        "",
        "Paste into your shell:",
        f"  export LLAMA_CLOUD_BASE_URL={shlex.quote(emulator.base_url)} "
        f"LLAMA_CLOUD_API_KEY={shlex.quote(emulator.api_key)}",
    ]
    return "\n".join(lines)


def serve_from_cli(
    flags: EmulatorFlags | None = None,
    *,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the emulator in the foreground until Ctrl-C / SIGTERM (or ``stop`` is set).

    Example:
        ```python
        import threading

        from prefect_llamabatch.emulator.command import serve_from_cli
        from prefect_llamabatch.emulator.flags import EmulatorFlags

        stop = threading.Event()
        stop.set()  # returns right after start-up; leave it unset to serve until Ctrl-C
        serve_from_cli(
            EmulatorFlags(port=0, time_scale=0.1, failure_pattern=["*corrupt*"]), stop=stop
        )
        ```

    Raises:
        ValueError: a flag is invalid (before anything starts).
    """
    config = (flags or EmulatorFlags()).to_config()
    stream = out or sys.stdout
    done = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    with Emulator(config) as emulator:
        print(banner(emulator), file=stream, flush=True)
        while not done.wait(0.5):
            if not emulator.running:
                raise RuntimeError("the emulator stopped unexpectedly")
    print("emulator stopped", file=stream, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m prefect_llamabatch.emulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m prefect_llamabatch.emulator",
        description="Run a local LlamaCloud emulator (batch and directory APIs).",
    )
    add_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m prefect_llamabatch.emulator``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # The parser's destinations are exactly the fields of EmulatorFlags.
        serve_from_cli(EmulatorFlags.parse(vars(args)))
    except ValueError as exc:
        parser.error(str(exc))
    return 0
