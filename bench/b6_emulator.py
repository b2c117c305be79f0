"""B6: the emulator's own speed (GET status requests/s; memory while listing 100,000 items).

Runs ``bench/emulator_bench.py`` (the emulator's benchmark, kept with the emulator) in a child
process and reads the figures from its output.
"""

from __future__ import annotations

import re
import subprocess
import sys

from harness import ROOT, Context, Section, Target, count

TITLE = "B6 · emulator: GET status requests/s; memory while listing 100,000 items"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def run(ctx: Context) -> Section:
    items = 10_000 if ctx.quick else 100_000
    seconds = 2 if ctx.quick else 5
    cmd = [sys.executable, "bench/emulator_bench.py", "--items", str(items)]
    cmd += ["--seconds", str(seconds)]
    ctx.log(" ".join(cmd[1:]))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"emulator_bench.py failed: {proc.stderr[-2000:]}")
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    for line in lines:
        ctx.log(line)
    out = "\n".join(lines)

    targets = []
    status = re.search(r"GET job status: ([\d,.]+) req/s", out)
    rate = _number(status.group(1)) if status else None
    targets.append(
        Target(
            "B6 emulator GET job status",
            "≥ 1,000 req/s",
            f"{count(rate)} req/s" if rate is not None else "not reported",
            None if rate is None else rate >= 1000,
        )
    )
    listing = re.search(r"server RSS ([\d,.]+) MB before, peak ([\d,.]+) MB while listing", out)
    if listing:
        before, peak = _number(listing.group(1)), _number(listing.group(2))
        growth: float | None = peak - before
    else:
        before = peak = growth = None
    targets.append(
        Target(
            f"B6 emulator memory while listing {items:,} items",
            "flat (grows ≤ 20 MB)",
            "not reported" if growth is None else f"{before:.0f} → {peak:.0f} MB (+{growth:.0f})",
            None if growth is None or ctx.quick else growth <= 20,
        )
    )
    return Section(
        id="B6",
        title=TITLE.replace("100,000", f"{items:,}"),
        columns=["bench/emulator_bench.py reports"],
        rows=[[line] for line in lines],
        targets=targets,
        notes=[
            "The emulator runs in emulator_bench.py's process (its server thread); the clients "
            "run in child processes, so its RSS is the server's alone. Listing pages are 1,000 "
            "items (the emulator's maximum).",
        ],
    )
