"""B5: ``make demo`` wall time, and what each import of the package costs.

Imports are timed inside fresh interpreters (``perf_counter`` around each import statement), the
median of several; ``-X importtime`` names the slowest modules the package itself pulls in. Per
layer: ``import prefect_llamabatch.client`` beyond ``httpx`` + ``pydantic``, ``.models`` beyond
``pydantic``, ``.emulator``, and the ``pytest11`` plugin beyond ``pytest`` (what every pytest session
of a project that installs the package pays), each with the modules it loads (none may be Prefect's:
``tests/test_layers.py`` and ``tests/client/test_import_cost.py`` check the module sets; only this
file times them). The modules imported first (the baseline) are timed in the same interpreter and
shown beside each layer, so a loaded machine shows in both.

Layers are timed with bytecode cached, as in an installed package (``pip`` compiles on install):
``PYTHONDONTWRITEBYTECODE`` is dropped and ``PYTHONPYCACHEPREFIX`` points at a scratch folder that
one untimed run fills. One more row times the client compiled from source
(``PYTHONDONTWRITEBYTECODE=1`` in a checkout without ``__pycache__``), as runs before 2026-12-02
measured it.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, Context, Section, Target, ms, secs

TITLE = "B5 · make demo wall time; import cost of the package and of each layer"

# (what, modules imported first and not counted, the import timed)
_LAYER_PROBES: list[tuple[str, str, str]] = [
    ("import prefect_llamabatch.client", "httpx, pydantic", "prefect_llamabatch.client"),
    ("import prefect_llamabatch.models", "pydantic", "prefect_llamabatch.models"),
    ("import prefect_llamabatch.emulator", "pydantic", "prefect_llamabatch.emulator"),
    (
        "pytest11 plugin registration (import of the plugin module)",
        "pytest",
        "prefect_llamabatch.emulator.pytest_plugin",
    ),
    (
        "the plugin's fixture first used (emulator server stack)",
        "pytest, prefect_llamabatch.emulator.pytest_plugin",
        "prefect_llamabatch.emulator.server",
    ),
]

_LAYER_PROBE = """
import importlib, sys, time
b0, bc0 = time.perf_counter(), time.process_time()
for name in {before!r}.split(", "):
    importlib.import_module(name)
before, before_cpu = time.perf_counter() - b0, time.process_time() - bc0
loaded = set(sys.modules)
t0, c0 = time.perf_counter(), time.process_time()
importlib.import_module({module!r})
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
new = set(sys.modules) - loaded
prefect = [m for m in new if m == "prefect" or m.startswith("prefect.")]
print(elapsed, cpu, len(new), len(prefect), before, before_cpu)
"""

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


def _cached_env(pycache: str) -> dict[str, str]:
    """Bytecode read from (and written to) ``pycache``, as an installed package has it."""
    env = _env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _source_env() -> dict[str, str]:
    """Every module of a checkout without ``__pycache__`` compiled at each import."""
    env = _env()
    env.pop("PYTHONPYCACHEPREFIX", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
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


@dataclass
class _Layer:
    """One layer's import, per fresh interpreter: wall and CPU seconds, and the baseline's."""

    times: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    base_times: list[float] = field(default_factory=list)
    base_cpus: list[float] = field(default_factory=list)
    new: int = 0
    prefect: int = 0

    @property
    def wall(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def row(self, what: str, before: str) -> list[str]:
        base_cpu, base_wall = statistics.median(self.base_cpus), statistics.median(self.base_times)
        return [
            what,
            f"{ms(self.cpu)} CPU, {ms(self.wall)} wall",
            f"beyond {before} ({ms(base_cpu)} CPU, {ms(base_wall)} wall in the same "
            f"interpreters; layer/baseline CPU {self.cpu / base_cpu:.2f}); {self.new} modules "
            f"loaded, {self.prefect} from prefect; wall min {ms(min(self.times))}, "
            f"max {ms(max(self.times))}",
        ]


def _layer_import(before: str, module: str, runs: int, env: dict[str, str]) -> _Layer:
    """``runs`` fresh interpreters importing ``before``, then ``module`` (timed apart)."""
    layer = _Layer()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _LAYER_PROBE.format(before=before, module=module)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=env,
        ).stdout.split()
        layer.times.append(float(out[0]))
        layer.cpus.append(float(out[1]))
        layer.new, layer.prefect = int(out[2]), int(out[3])
        layer.base_times.append(float(out[4]))
        layer.base_cpus.append(float(out[5]))
    return layer


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
    # What `make demo` runs, with this interpreter's entry point: a worktree or CI checkout without
    # its own .venv measures the same thing without building one.
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "llamabatch"), "demo", "--emulator"],
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
    rows_layers: list[list[str]] = []
    prefect_s, ours_s, flows_s = _import_times(runs)
    overhead = statistics.median(ours_s)
    ctx.log(f"import overhead: median {ms(overhead)} over {runs} fresh interpreters")
    layers: dict[str, _Layer] = {}
    with tempfile.TemporaryDirectory(prefix="llamabatch-b5-pycache-") as pycache:
        cached = _cached_env(pycache)
        for what, before, module in _LAYER_PROBES:
            _layer_import(before, module, 1, cached)  # untimed: fills the bytecode cache
            layer = layers[module] = _layer_import(before, module, runs, cached)
            ctx.log(
                f"{what}: median {ms(layer.cpu)} CPU, {ms(layer.wall)} wall, {layer.new} "
                f"modules, {layer.prefect} Prefect's"
            )
            rows_layers.append(layer.row(what, before))
    what, before, module = _LAYER_PROBES[0]
    source = _layer_import(before, module, runs, _source_env())
    ctx.log(f"{what}, compiled from source: median {ms(source.cpu)} CPU, {ms(source.wall)} wall")
    rows_layers.append(source.row(f"{what}, compiled from source (no bytecode cache)", before))
    client, plugin = layers[module], layers["prefect_llamabatch.emulator.pytest_plugin"]
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
        *rows_layers,
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
            Target(
                "B5 pytest11 plugin registration",
                "< 50 ms (CPU)",
                f"{ms(plugin.cpu)} (wall {ms(plugin.wall)})",
                plugin.cpu < 0.050,
            ),
            Target(
                "B5 import prefect_llamabatch.client beyond httpx + pydantic",
                "< 150 ms (CPU)",
                f"{ms(client.cpu)} (wall {ms(client.wall)}; httpx + pydantic: "
                f"{ms(statistics.median(client.base_cpus))} CPU)",
                client.cpu < 0.150,
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
            "Per layer: each import timed in a fresh interpreter after the modules named in "
            "its row; 'modules loaded' counts every new entry in sys.modules (stdlib included). "
            "The layer targets are judged on the importing process's CPU time: on a shared "
            "machine wall time also counts waiting for a core (both are shown), and CPU time "
            "grows too when other processes share the cores (the baseline, timed in the same "
            "interpreters, shows by how much). Layers are timed with bytecode cached, as "
            "installed; the client's row 'compiled from source' is how runs before 2026-12-02 "
            "measured it. tests/test_layers.py and tests/client/test_import_cost.py assert the "
            "module sets (no prefect; no v2 API or asyncio in a plain client import; no "
            "FastAPI/uvicorn until the plugin's fixture is used), never the times.",
            "`make demo` (run here as this interpreter's `llamabatch demo --emulator`) includes "
            "starting its emulator and Prefect API; the venv is already installed. "
            "Its summary line: " + demo_tail,
        ],
    )
