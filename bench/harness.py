"""What every benchmark shares: the emulator in its own process, timers, result records, machine info.

Benchmarks print numbers; nothing here asserts on time. Each benchmark module exposes
``run(ctx: Context) -> Section``; ``bench/run.py`` calls them, prints the tables and writes
``bench/results.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from prefect_llamabatch.emulator import DEFAULT_API_KEY, EmulatorAdmin

ROOT = Path(__file__).resolve().parent.parent
BATCH_PATH = "/api/v1/beta/batch-processing"

# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    """One target of the issue, what was measured against it, and whether it was met.

    ``met`` is ``None`` when this run cannot judge it (e.g. ``--quick`` runs smaller inputs).
    """

    what: str
    target: str
    measured: str
    met: bool | None

    @property
    def verdict(self) -> str:
        """``met`` / ``MISSED`` / ``n/a``."""
        return {True: "met", False: "MISSED", None: "n/a"}[self.met]


@dataclass
class Section:
    """The figures of one benchmark (B1 … B6)."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    mode: str = "full"
    started_at: str = ""
    seconds: float = 0.0
    machine: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``bench/results.json``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        """Inverse of :meth:`to_json`."""
        values = dict(data)
        values["targets"] = [Target(**t) for t in values.get("targets", [])]
        values["extra_tables"] = [
            (title, list(cols), [list(r) for r in rows])
            for title, cols, rows in values.get("extra_tables", [])
        ]
        return cls(**values)


@dataclass
class Context:
    """What a benchmark gets from the runner."""

    quick: bool
    log: Callable[[str], None]
    prefect: Callable[[], None]
    """Starts the shared temporary Prefect API on first call (~20 s), a no-op afterwards."""


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Wall and client-process CPU seconds of ``calls`` calls."""

    wall: float
    cpu: float
    calls: int

    @property
    def wall_per_call(self) -> float:
        return self.wall / self.calls

    @property
    def cpu_per_call(self) -> float:
        return self.cpu / self.calls


def measure(fn: Callable[[], Any], calls: int) -> Timing:
    """Run ``fn`` ``calls`` times; wall clock and this process's CPU time (all threads)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        fn()
    return Timing(time.perf_counter() - wall0, time.process_time() - cpu0, calls)


async def ameasure(fn: Callable[[], Awaitable[Any]], calls: int) -> Timing:
    """:func:`measure` for a coroutine function."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await fn()
    return Timing(time.perf_counter() - wall0, time.process_time() - cpu0, calls)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``'s result, its wall seconds and this process's CPU seconds."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall0, time.process_time() - cpu0


def run_async(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on a fresh event loop."""

    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def us(seconds: float) -> str:
    """Microseconds, no decimals."""
    return f"{seconds * 1e6:,.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:,.2f} s" if seconds < 100 else f"{seconds:,.0f} s"


def ratio(value: float) -> str:
    return f"{value:.2f}×"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.1f} MB"


def count(n: float) -> str:
    return f"{n:,.0f}"


# ---------------------------------------------------------------------------------------------
# The emulator, in its own process
# ---------------------------------------------------------------------------------------------


class EmulatorProcess:
    """``python -m prefect_llamabatch.emulator`` on a free loopback port, in a child process.

    The client under test then has this process's CPU to itself (the two still share the
    machine's cores). ``admin`` talks to its ``/_emulator`` API; ``requests()`` reads the
    per-route request counts it keeps (the ground truth of "HTTP requests made").
    """

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.token = secrets.token_urlsafe(16)
        self.api_key = DEFAULT_API_KEY
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._admin: EmulatorAdmin | None = None

    def __enter__(self) -> EmulatorProcess:
        self._log = tempfile.NamedTemporaryFile("w+", prefix="bench-emulator-", suffix=".log")
        cmd = [sys.executable, "-m", "prefect_llamabatch.emulator", "--port", "0"]
        cmd += ["--admin-token", self.token, *self.args]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=ROOT
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.base_url = found.group(1)
                break
        if not self.base_url:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the emulator did not start: {self.stderr()}")
        self._admin = EmulatorAdmin(self.base_url, self.token, timeout=600)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._admin is not None:
            self._admin.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        if self._log is not None:
            self._log.close()

    def stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:]

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def admin(self) -> EmulatorAdmin:
        assert self._admin is not None, "use the emulator as a context manager"
        return self._admin

    def requests(self) -> dict[str, int]:
        """Requests received per route so far."""
        return dict(self.admin.request_counts())

    def rss_bytes(self) -> int:
        """The emulator process's resident memory."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", text)
        return int(found.group(1)) * 1024 if found else 0

    def job_of(self, n_files: int, *, content: bytes = b"", name: str = "bench") -> str:
        """A job over a new directory of ``n_files`` files (empty files fail when processed).

        Call ``admin.freeze()`` first when the items must stay pending.
        """
        files = {f"doc-{i:06d}.txt": content for i in range(n_files)}
        directory = self.admin.seed_directory(files, name=name)
        import httpx

        response = httpx.post(
            self.base_url + BATCH_PATH,
            json={"directory_id": directory.id, "job_config": {}},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=600,
        )
        response.raise_for_status()
        job_id: str = response.json()["id"]
        return job_id


@contextlib.contextmanager
def request_delta(emu: EmulatorProcess, route: str | None = None) -> Iterator[dict[str, int]]:
    """Requests the emulator received inside the ``with`` block (one route, or all in ``total``)."""
    before = emu.requests()
    out: dict[str, int] = {}
    yield out
    after = emu.requests()
    routes = [route] if route else sorted(set(before) | set(after))
    for name in routes:
        out[name] = after.get(name, 0) - before.get(name, 0)
    out["total"] = sum(v for k, v in out.items() if k != "total")


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def _first(path: str, pattern: str) -> str:
    try:
        found = re.search(pattern, Path(path).read_text(), re.MULTILINE)
    except OSError:
        return "?"
    return found.group(1).strip() if found else "?"


def machine() -> dict[str, str]:
    """Where and with what the benchmarks ran."""
    mem_kb = _first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    versions = {}
    for dist in ("prefect-llamabatch", "prefect", "httpx", "pydantic", "tenacity", "llama-cloud"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "os": platform.platform(),
        "cpu": _first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$"),
        "cores": f"{usable} usable of {os.cpu_count()}",
        "memory": f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "?",
        "python": platform.python_version(),
        **versions,
    }


def task_runs_of(flow_run_id: Any, *, expected: int | None = None, timeout: float = 120) -> int:
    """Task runs the Prefect API holds for a flow run.

    The API records task runs from events, shortly after they happen: read until the count
    reaches ``expected`` (if given) and stops changing.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout
    last = -1
    with get_client(sync_client=True) as client:
        while True:
            n = offset = 0
            while True:
                page = client.read_task_runs(flow_run_filter=run_filter, limit=200, offset=offset)
                n += len(page)
                offset += len(page)
                if len(page) < 200:
                    break
            settled = n == last and (expected is None or n >= expected)
            if settled or time.monotonic() > deadline:
                return n
            last = n
            time.sleep(0.5)
