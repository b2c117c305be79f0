"""B5: ``make demo`` wall time, and what ``import prefect_llamabatch`` adds to ``import prefect``.

Imports are timed inside fresh interpreters (``perf_counter`` around each import statement), the
median of several; ``-X importtime`` names the slowest modules the package itself pulls in.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time

from harness import ROOT, Context, Section, Target, ms, secs

TITLE = "B5 · make demo wall time; import prefect_llamabatch beyond import prefect"

_PROBE = (
    "import time; t0 = time.perf_counter(); import prefect; t1 = time.perf_counter(); "
    "import prefect_llamabatch; t2 = time.perf_counter(); "
    "prefect_llamabatch.process_directory; t3 = time.perf_counter(); "
    "print(t1 - t0, t2 - t1, t3 - t2)"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    return env


def _import_times(runs: int) -> tuple[list[float], list[float], list[float]]:
    prefect_s, ours_s, flows_s = [], [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=_env(),
        ).stdout.split()
        prefect_s.append(float(out[0]))
        ours_s.append(float(out[1]))
        flows_s.append(float(out[2]))
    return prefect_s, ours_s, flows_s


def _slowest_own_imports(limit: int = 6) -> list[list[str]]:
    """Modules imported by ``import prefect_llamabatch`` after prefect, by cumulative time."""
    probe = "import prefect, sys; sys.stderr.write('--mark--\\n'); import prefect_llamabatch"
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    ).stderr
    after = err.split("--mark--", 1)[-1]
    rows = []
    for line in after.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if found:
            rows.append((int(found.group(2)), len(found.group(3)), found.group(4)))
    # Top-level entries only (the least indented), so nested modules are not counted twice.
    depth = min((d for _, d, _ in rows), default=0)
    top = sorted((r for r in rows if r[1] <= depth + 2), reverse=True)[:limit]
    return [[name, ms(us / 1e6)] for us, _, name in top]


def _demo() -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        ["make", "demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=600,
    )
    wall = time.perf_counter() - started
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    summary = [line for line in lines if "finished" in line.lower()] or lines[-1:]
    return wall, proc.returncode, summary[-1][:200] if summary else "(no output)"


def run(ctx: Context) -> Section:
    runs = 5 if ctx.quick else 9
    prefect_s, ours_s, flows_s = _import_times(runs)
    overhead = statistics.median(ours_s)
    ctx.log(f"import overhead: median {ms(overhead)} over {runs} fresh interpreters")
    ctx.log("running make demo …")
    demo_wall, demo_rc, demo_tail = _demo()
    ctx.log(f"make demo: {secs(demo_wall)}, exit status {demo_rc}")
    rows = [
        ["make demo (wall)", secs(demo_wall), f"exit status {demo_rc}"],
        ["import prefect (median)", ms(statistics.median(prefect_s)), f"{runs} fresh interpreters"],
        [
            "import prefect_llamabatch after prefect (median)",
            ms(overhead),
            f"min {ms(min(ours_s))}, max {ms(max(ours_s))}",
        ],
        [
            "then the flows, on first use (median)",
            ms(statistics.median(flows_s)),
            "e.g. `from prefect_llamabatch import process_directory`",
        ],
    ]
    return Section(
        id="B5",
        title=TITLE,
        columns=["what", "time", "detail"],
        rows=rows,
        targets=[
            Target(
                "B5 make demo wall time",
                "< 60 s (and exit status 0)",
                f"{secs(demo_wall)}, exit {demo_rc}",
                demo_wall < 60 and demo_rc == 0,
            ),
            Target(
                "B5 import prefect_llamabatch beyond import prefect",
                "< 150 ms",
                ms(overhead),
                overhead < 0.150,
            ),
        ],
        extra_tables=[
            (
                "Slowest imports that prefect_llamabatch adds (-X importtime, cumulative)",
                ["module", "time"],
                _slowest_own_imports(),
            )
        ],
        notes=[
            "The flow modules load on first use: defining a flow makes Prefect build the JSON "
            "schema of its parameters, and Prefect imports every installed collection when it "
            "looks up a block type or starts a worker, so a plain import stays light.",
            "`make demo` includes starting its emulator and Prefect API; the venv is already "
            "installed. Its summary line: " + demo_tail,
        ],
    )
