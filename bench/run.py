"""Run the benchmarks of issue 6 and write ``bench/results.md``.

Usage::

    python bench/run.py                 # everything (B1 … B6), full size
    python bench/run.py B1 B3           # only these
    python bench/run.py --quick         # smaller inputs, one round: a smoke run (targets n/a,
                                        # results.md untouched)

Each comparison runs in one run of this script, on this machine, against the local emulator.
Results of every benchmark run so far are kept in ``bench/results.json``; ``bench/results.md`` is
rendered from it, each section stamped with when and how (full/quick) it ran.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

# Before anything imports Prefect: no telemetry, a throw-away Prefect home, quiet task logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="llamabatch-bench-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
for _name in ("LLAMA_CLOUD_API_KEY", "LLAMA_PARSE_API_KEY", "LLAMA_CLOUD_BASE_URL"):
    os.environ.pop(_name, None)  # never a real host

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Context, Section, machine  # noqa: E402
from report import render_markdown, render_terminal  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
MODULES = {
    "B1": "b1_get_job",
    "B2": "b2_iter_items",
    "B3": "b3_wait",
    "B4": "b4_report",
    "B5": "b5_startup",
    "B6": "b6_emulator",
    "B7": "b7_outputs",
    "B8": "b8_upload",
    "B9": "b9_sharding",
}


class _Prefect:
    """One temporary Prefect API for the whole run, started when a benchmark first needs it."""

    def __init__(self, stack: contextlib.ExitStack, log: object) -> None:
        self._stack = stack
        self._started = False
        self._log = log

    def __call__(self) -> None:
        if self._started:
            return
        from prefect.testing.utilities import prefect_test_harness

        started = time.perf_counter()
        # The API runs in a child process that inherits stderr; when it stops, its services log
        # CancelledError tracebacks (noise). Give it a log file for a stderr instead.
        log = self._stack.enter_context(
            tempfile.NamedTemporaryFile("w", prefix="bench-prefect-api-", suffix=".log")
        )
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            self._stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        self._stack.callback(logging.disable, logging.CRITICAL)
        self._started = True
        print(f"  (temporary Prefect API up in {time.perf_counter() - started:.1f} s)", flush=True)


def _log(message: str) -> None:
    print(f"  {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("benchmarks", nargs="*", metavar="B#", help="B1 … B6 (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one round")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="markdown output (default bench/results.md; a --quick run writes only if given)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write nothing")
    parser.add_argument(
        "--render", action="store_true", help="only re-render the markdown from results.json"
    )
    args = parser.parse_args(argv)
    if args.results is None:
        args.no_write = args.no_write or args.quick
        args.results = BENCH_DIR / "results.md"
    selected = [b.upper() for b in args.benchmarks] or list(MODULES)
    unknown = [b for b in selected if b not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")

    mode = "quick" if args.quick else "full"
    store = args.results.with_suffix(".json")
    saved: dict[str, dict[str, object]] = {}
    if store.exists():
        saved = json.loads(store.read_text())
    sections: dict[str, Section] = {
        k: Section.from_json(v)  # type: ignore[arg-type]
        for k, v in saved.get("sections", {}).items()  # type: ignore[union-attr]
    }
    if args.render:
        info = saved.get("machine") or machine()
        _save(store, args.results, sections, info)  # type: ignore[arg-type]
        print(f"rendered {args.results} from {store}")
        return 0
    info = machine()
    print(f"prefect-llamabatch benchmarks ({mode}): {', '.join(selected)}")
    print("  " + "; ".join(f"{k} {v}" for k, v in info.items()))

    with contextlib.ExitStack() as stack:
        ctx = Context(quick=args.quick, log=_log, prefect=_Prefect(stack, _log))
        for bench in selected:
            module = importlib.import_module(MODULES[bench])
            print(f"\n{bench}: {module.TITLE}", flush=True)
            started = time.perf_counter()
            section: Section = module.run(ctx)
            section.mode = mode
            if args.quick:
                # Smaller inputs and one round: the figures are a smoke test, not a verdict.
                for target in section.targets:
                    target.met = None
            section.started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            section.seconds = time.perf_counter() - started
            section.machine = info
            render_terminal(section)
            sections[bench] = section
            if not args.no_write:
                _save(store, args.results, sections, info)

    print()
    for bench in selected:
        for target in sections[bench].targets:
            print(
                f"  [{target.verdict:>6}] {target.what}: {target.measured} (target {target.target})"
            )
    if not args.no_write:
        print(
            f"\nwrote {args.results.relative_to(Path.cwd()) if args.results.is_relative_to(Path.cwd()) else args.results}"
        )
    return 0


def _save(store: Path, markdown: Path, sections: dict[str, Section], info: dict[str, str]) -> None:
    ordered = {k: sections[k] for k in MODULES if k in sections}
    store.write_text(
        json.dumps(
            {"machine": info, "sections": {k: s.to_json() for k, s in ordered.items()}},
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )
    markdown.write_text(render_markdown(list(ordered.values()), info))


if __name__ == "__main__":
    raise SystemExit(main())
