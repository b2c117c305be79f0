"""Command line of the emulator: ``python -m prefect_llamabatch.emulator`` and ``llamabatch emulator``.

``serve_from_cli`` takes exactly the flags as typed keyword arguments, so the package's main CLI
can forward to it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from pydantic import SecretStr, ValidationError

from prefect_llamabatch.emulator.server import Emulator
from prefect_llamabatch.emulator.settings import (
    LOOPBACK_HOSTS,
    ApiKeySpec,
    EmulatorConfig,
    FaultConfig,
    FaultRule,
)

__all__ = ["build_config", "build_parser", "main", "serve_from_cli"]


def build_config(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    db: Path | None = None,
    api_key: Sequence[str] = (),
    admin_token: str | None = None,
    time_scale: float = 1.0,
    item_duration: float = 0.1,
    concurrency: int = 4,
    failure_pattern: Sequence[str] = (),
    transient_failure_pattern: Sequence[str] = (),
    failure_rate: float = 0.0,
    seed: int = 0,
    fault: Sequence[str] = (),
    max_file_size: int | None = None,
    response_latency: float = 0.0,
    data_dir: Path | None = None,
    dispatched_status: bool = False,
    allow_remote: bool = False,
    idempotency_keys: bool = False,
    clamp_limit: bool = False,
    case_insensitive_filters: bool = False,
    list_order: str = "oldest_first",
    omit_total_size: bool = False,
    max_page_size: int | None = None,
) -> EmulatorConfig:
    """The ``EmulatorConfig`` the flags describe.

    Raises:
        ValueError: a flag is invalid; the message names it.
    """
    if host not in LOOPBACK_HOSTS and not allow_remote:
        raise ValueError(
            f"--host {host} is not a loopback address; the emulator has no real security. "
            "Add --allow-remote to listen on it anyway."
        )
    try:
        keys = [ApiKeySpec.parse(spec) for spec in api_key]
    except ValueError as exc:
        raise ValueError(f"--api-key: {exc}") from None
    try:
        rules = [FaultRule.parse(spec) for spec in fault]
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"--fault: {exc}") from None
    values: dict[str, object] = {
        "host": host,
        "port": port,
        "db_path": db,
        "data_dir": data_dir,
        "api_keys": keys,
        "time_scale": time_scale,
        "item_duration_seconds": item_duration,
        "concurrency": concurrency,
        "failure_patterns": list(failure_pattern),
        "transient_failure_patterns": list(transient_failure_pattern),
        "failure_rate": failure_rate,
        "seed": seed,
        "faults": FaultConfig(rules=rules, seed=seed),
        "max_file_size_bytes": max_file_size,
        "response_latency": response_latency,
        "dispatched_status": dispatched_status,
        "allow_remote": allow_remote,
        "idempotency_keys": idempotency_keys,
        "clamp_limit": clamp_limit,
        "case_insensitive_filters": case_insensitive_filters,
        "list_order": list_order,
        "include_total_size": not omit_total_size,
        "max_page_size": max_page_size,
    }
    if admin_token is not None:
        values["admin_token"] = SecretStr(admin_token)
    try:
        return EmulatorConfig.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(problems) from None


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
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    db: Path | None = None,
    api_key: Sequence[str] = (),
    admin_token: str | None = None,
    time_scale: float = 1.0,
    item_duration: float = 0.1,
    concurrency: int = 4,
    failure_pattern: Sequence[str] = (),
    transient_failure_pattern: Sequence[str] = (),
    failure_rate: float = 0.0,
    seed: int = 0,
    fault: Sequence[str] = (),
    max_file_size: int | None = None,
    response_latency: float = 0.0,
    data_dir: Path | None = None,
    dispatched_status: bool = False,
    allow_remote: bool = False,
    idempotency_keys: bool = False,
    clamp_limit: bool = False,
    case_insensitive_filters: bool = False,
    list_order: str = "oldest_first",
    omit_total_size: bool = False,
    max_page_size: int | None = None,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the emulator in the foreground until Ctrl-C / SIGTERM (or ``stop`` is set).

    Example:
        ```python
        import threading

        from prefect_llamabatch.emulator.command import serve_from_cli

        stop = threading.Event()
        stop.set()  # returns right after start-up; leave it unset to serve until Ctrl-C
        serve_from_cli(port=0, time_scale=0.1, failure_pattern=["*corrupt*"], stop=stop)
        ```

    Raises:
        ValueError: a flag is invalid (before anything starts).
    """
    config = build_config(
        host=host,
        port=port,
        db=db,
        api_key=api_key,
        admin_token=admin_token,
        time_scale=time_scale,
        item_duration=item_duration,
        concurrency=concurrency,
        failure_pattern=failure_pattern,
        transient_failure_pattern=transient_failure_pattern,
        failure_rate=failure_rate,
        seed=seed,
        fault=fault,
        max_file_size=max_file_size,
        response_latency=response_latency,
        data_dir=data_dir,
        dispatched_status=dispatched_status,
        allow_remote=allow_remote,
        idempotency_keys=idempotency_keys,
        clamp_limit=clamp_limit,
        case_insensitive_filters=case_insensitive_filters,
        list_order=list_order,
        omit_total_size=omit_total_size,
        max_page_size=max_page_size,
    )
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
    p = argparse.ArgumentParser(
        prog="python -m prefect_llamabatch.emulator",
        description="Run a local LlamaCloud emulator (batch and directory APIs).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback only)")
    p.add_argument("--port", type=int, default=8765, help="port (0: a free one)")
    p.add_argument("--db", type=Path, help="SQLite file keeping state across restarts")
    p.add_argument("--data-dir", type=Path, help="folder for uploads and outputs")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY:[ORG:]PROJECT[,PROJECT]",
        help="an accepted key (repeatable); default: llx-emulator-local-key",
    )
    p.add_argument("--admin-token", help="token of the /_emulator admin API (default: random)")
    p.add_argument("--time-scale", type=float, default=1.0, help="0.01 runs 100x faster")
    p.add_argument("--item-duration", type=float, default=0.1, help="seconds per item")
    p.add_argument("--concurrency", type=int, default=4, help="items in flight per job")
    p.add_argument("--failure-pattern", action="append", default=[], metavar="GLOB")
    p.add_argument("--transient-failure-pattern", action="append", default=[], metavar="GLOB")
    p.add_argument("--failure-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ROUTE:KIND[=VALUE][:RATE[:COUNT]]",
        help="e.g. get_job:503:0.1 or create_job:commit_then_fail:1:1 (repeatable)",
    )
    p.add_argument("--max-file-size", type=int, help="bytes; larger files are skipped")
    p.add_argument("--response-latency", type=float, default=0.0, help="seconds added per request")
    p.add_argument("--dispatched-status", action="store_true", help="report 'dispatched'")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    # Strict by default (nothing LlamaCloud does not document); conveniences are opt-in.
    p.add_argument(
        "--idempotency-keys", action="store_true", help="honour Idempotency-Key (a convenience)"
    )
    p.add_argument("--clamp-limit", action="store_true", help="clamp limit > 1000 instead of 422")
    p.add_argument(
        "--case-insensitive-filters", action="store_true", help="enum filters in any case"
    )
    p.add_argument("--list-order", choices=["oldest_first", "newest_first"], default="oldest_first")
    p.add_argument("--omit-total-size", action="store_true", help="no total_size in listings")
    p.add_argument("--max-page-size", type=int, help="serve at most N entries per page")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m prefect_llamabatch.emulator``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # The parser's destinations are exactly serve_from_cli's flags.
        serve_from_cli(**vars(args))
    except ValueError as exc:
        parser.error(str(exc))
    return 0
