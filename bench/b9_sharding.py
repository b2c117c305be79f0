"""B9: sharding overhead of a v2 directory past the per-batch limit.

A directory of ``SHARDS × SHARD_FILES`` files (5 × 1,000 in full mode) run by
``process_directory`` over the v2 API (5 shards, ``shard_concurrency=5``), against one
``SHARD_FILES``-file directory run alone, side by side in one run, on one emulator process with
50 ms simulated latency on every response. The emulator's capacity is per batch (``concurrency``
jobs of each batch run at once, as LlamaCloud's per-batch throughput), so shards run in parallel.

Printed: the wall-time ratio (target ≤ 1.3) and the ratio of ``get_batch`` status calls (target
≤ 5). The sharded run's wall time includes planning: copying the files by id (``add_file``) into
the shard directories; it is printed apart too.

Usage: ``python bench/run.py B9`` (or ``--quick``: 5 × 200 files, 200 per batch), or standalone
``python bench/b9_sharding.py [--quick]``.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import Context, EmulatorProcess, Section, Target, request_delta

TITLE = "B9 · v2 sharding: 5 shards run concurrently vs one shard alone (50 ms latency)"
LATENCY = 0.05
SHARDS = 5
FULL_SHARD_FILES = 1000
QUICK_SHARD_FILES = 200
ITEM_SECONDS = 1.0  # one job's processing time in the emulator
PER_BATCH_CONCURRENCY = 25  # jobs of one batch running at once


def _files(n: int, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}-{i:05d}.txt": f"document {prefix} {i}".encode() for i in range(n)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(creds: Any, directory_id: str, shard_files: int) -> tuple[float, Any]:
    from prefect_llamabatch import process_directory
    from prefect_llamabatch.orchestration.waiting import WaitSettings

    started = time.perf_counter()
    result = process_directory(
        creds,
        directory_id=directory_id,
        configuration_id="cfg-PARSE_FAST",
        max_files_per_batch=shard_files,
        shard_concurrency=SHARDS,
        wait=WaitSettings(poll_interval=1.0, backoff_factor=1.0, max_poll_interval=1.0),
        report=False,
        max_failed_fraction=None,
    )
    return time.perf_counter() - started, result


def run(ctx: Context) -> Section:
    """Measure B9 (see the module docstring)."""
    from prefect_llamabatch import LlamaCloudCredentials

    ctx.prefect()
    shard_files = QUICK_SHARD_FILES if ctx.quick else FULL_SHARD_FILES
    args = [
        "--response-latency",
        str(LATENCY),
        "--item-duration",
        str(ITEM_SECONDS),
        "--concurrency",
        str(PER_BATCH_CONCURRENCY),
        "--time-scale",
        "1",
    ]
    with EmulatorProcess(*args) as emu:
        creds = LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url)
        one = emu.admin.seed_directory(_files(shard_files, "one"), name="one-shard").id
        many = emu.admin.seed_directory(_files(shard_files * SHARDS, "many"), name="sharded").id
        ctx.log(f"B9: seeded {shard_files} + {shard_files * SHARDS} files")
        with request_delta(emu, "get_batch") as alone_calls:
            alone_wall, alone = _run(creds, one, shard_files)
        ctx.log(f"B9: one shard alone {alone_wall:.1f}s")
        sharded_start = datetime.now(timezone.utc)
        cpu_before = (_cpu_seconds(emu.pid), time.process_time())
        with request_delta(emu) as sharded_calls:
            sharded_wall, sharded = _run(creds, many, shard_files)
        server_cpu = _cpu_seconds(emu.pid) - cpu_before[0]
        client_cpu = time.process_time() - cpu_before[1]
        ctx.log(f"B9: {SHARDS} shards {sharded_wall:.1f}s")
        with creds.get_client() as client:
            alone_batch = client.get_batch(alone.job_id)
            shard_batches = [client.get_batch(s.job_id) for s in sharded.shards]
    assert alone.counts.total == shard_files and sharded.counts.total == shard_files * SHARDS
    wall_ratio = sharded_wall / alone_wall
    calls_ratio = sharded_calls["get_batch"] / max(alone_calls["get_batch"], 1)
    plan_requests = sharded_calls.get("add_file", 0) + sharded_calls.get("create_directory", 0)
    judged = None if ctx.quick else True

    def span(batch: Any) -> float:
        return float((batch.updated_at - batch.created_at).total_seconds())

    first_created = min(b.created_at for b in shard_batches)
    last_created = max(b.created_at for b in shard_batches)
    copy_phase = (last_created - sharded_start).total_seconds()
    spans = ", ".join(f"{span(b):.1f}" for b in shard_batches)
    return Section(
        id="B9",
        title=TITLE,
        columns=["run", "files", "batches", "wall", "get_batch calls"],
        rows=[
            [
                "one shard alone",
                f"{shard_files:,}",
                "1",
                f"{alone_wall:.1f} s",
                str(alone_calls["get_batch"]),
            ],
            [
                f"{SHARDS} shards, concurrent",
                f"{shard_files * SHARDS:,}",
                str(len(sharded.shards)),
                f"{sharded_wall:.1f} s",
                str(sharded_calls["get_batch"]),
            ],
        ],
        targets=[
            Target(
                "sharded wall time vs one shard",
                "≤ 1.3×",
                f"{wall_ratio:.2f}×",
                None if judged is None else wall_ratio <= 1.3,
            ),
            Target(
                "sharded status calls vs one shard",
                "≤ 5×",
                f"{calls_ratio:.2f}×",
                None if judged is None else calls_ratio <= 5,
            ),
        ],
        notes=[
            f"Emulator: {LATENCY * 1000:.0f} ms latency per response, {ITEM_SECONDS:g} s per "
            f"job, {PER_BATCH_CONCURRENCY} jobs of each batch at once; polls every 1 s.",
            f"The sharded run copied the files into its shard directories first "
            f"({plan_requests:,} create_directory/add_file requests), inside its wall time: its "
            f"last batch was created {copy_phase:.1f} s after the run started, its batches within "
            f"{(last_created - first_created).total_seconds():.1f} s of each other.",
            f"CPU during the sharded run: emulator {server_cpu:.1f} s, this process (flow, client, "
            f"Prefect) {client_cpu:.1f} s; the copy is CPU-bound (machine load "
            f"average {os.getloadavg()[0]:.1f} at the end).",
            f"Batch lifetimes (created → last update, emulator clock): alone {span(alone_batch):.1f}"
            f" s; shards {spans} s.",
        ],
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import os
    import tempfile

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="llamabatch-bench-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        section = run(Context(quick="--quick" in sys.argv, log=print, prefect=lambda: None))
    for row in [section.columns, *section.rows]:
        print(" | ".join(row))
    for target in section.targets:
        print(f"{target.what}: {target.measured} (target {target.target}, met: {target.met})")
    for note in section.notes:
        print(note)
