"""Emulator speed: GET job status throughput, and a 100,000-item job created, processed, listed.

The emulator runs in this process (its server thread); every client runs in child processes, so
the server's memory (this process's RSS) is measured without the clients'. Prints the figures;
nothing is asserted.

Usage:
    .venv/bin/python bench/emulator_bench.py [--items 100000] [--seconds 5] [--clients 2]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from prefect_llamabatch.emulator import EmulatorConfig, run_emulator

JOBS = "/api/v1/beta/batch-processing"


def rss_mb() -> float:
    """This process's resident memory in MB (Linux)."""
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _status_client(base_url: str, key: str, job_id: str, seconds: float, out: Any) -> None:
    # The stdlib client costs far less CPU per request than httpx, so on a 2-core machine the
    # figure is the server's, not the client's.
    url = httpx.URL(base_url)
    conn = http.client.HTTPConnection(url.host, url.port)
    headers = {"Authorization": f"Bearer {key}"}
    count = errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", f"{JOBS}/{job_id}", headers=headers)
        response = conn.getresponse()
        response.read()
        count += 1
        errors += response.status != 200
    conn.close()
    out.put((count, errors))


def bench_status(base_url: str, key: str, job_id: str, seconds: float, clients: int) -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_status_client, args=(base_url, key, job_id, seconds, queue))
        for _ in range(clients)
    ]
    cpu_before = time.process_time()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    server_cpu = time.process_time() - cpu_before
    for p in procs:
        p.join()
    total = sum(c for c, _ in results)
    errors = sum(e for _, e in results)
    print(
        f"GET job status: {total / seconds:,.0f} req/s "
        f"({clients} client processes, keep-alive, {seconds:.0f} s, {errors} errors); "
        f"server CPU {1e6 * server_cpu / max(total, 1):,.0f} us/request "
        f"({100 * server_cpu / seconds:.0f}% of a core)"
    )


def _list_all(base_url: str, key: str, job_id: str, out: Any) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    seen = pages = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        while True:
            page = client.get(f"{JOBS}/{job_id}/items", params={"limit": 1000, "offset": seen})
            body = page.json()
            pages += 1
            seen += len(body["items"])
            if not body["items"] or seen >= body["total_size"]:
                break
    out.put((seen, pages, time.perf_counter() - started))


def bench_large_job(emu: Any, items: int) -> None:
    admin = emu.admin
    started = time.perf_counter()
    directory_id = None
    chunk = 5000
    for start in range(0, items, chunk):
        files = {
            f"doc-{i:06}.txt": f"document {i}" for i in range(start, min(items, start + chunk))
        }
        seeded = admin.seed_directory(files, name="big", directory_id=directory_id)
        directory_id = seeded.id
    print(f"seeded {items:,} files in {time.perf_counter() - started:.1f} s; RSS {rss_mb():.0f} MB")

    with httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=120
    ) as client:
        admin.freeze()
        started = time.perf_counter()
        job = client.post(JOBS, json={"directory_id": directory_id, "job_config": {}}).json()
        print(
            f"created a {job['total_items']:,}-item job in {time.perf_counter() - started:.2f} s;"
            f" RSS {rss_mb():.0f} MB"
        )
        before = rss_mb()
        with PeakRss() as peak:
            started = time.perf_counter()
            admin.resume()
            admin.wait_for_job(job["id"], timeout=3600, poll=0.5)
            elapsed = time.perf_counter() - started
        print(
            f"processed {items:,} items in {elapsed:.1f} s ({items / elapsed:,.0f} items/s, "
            f"concurrency {emu.config.concurrency}, no item delay); "
            f"RSS {before:.0f} -> peak {peak.peak:.0f} MB"
        )

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    before = rss_mb()
    with PeakRss() as peak:
        proc = ctx.Process(target=_list_all, args=(emu.base_url, emu.api_key, job["id"], queue))
        proc.start()
        seen, pages, elapsed = queue.get()
        proc.join()
    print(
        f"listed {seen:,} items in {pages} pages of 1,000 in {elapsed:.1f} s; "
        f"server RSS {before:.0f} MB before, peak {peak.peak:.0f} MB while listing"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--db", type=Path, help="SQLite file (default: in memory)")
    args = parser.parse_args()
    config = EmulatorConfig(
        time_scale=0.0, concurrency=args.concurrency, request_log_size=1000, db_path=args.db
    )
    with run_emulator(config) as emu:
        print(f"emulator at {emu.base_url}; RSS {rss_mb():.0f} MB")
        docs = emu.admin.seed_directory({"a.txt": "a"})
        with httpx.Client(
            base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}
        ) as client:
            job = client.post(JOBS, json={"directory_id": docs.id, "job_config": {}}).json()
        bench_status(emu.base_url, emu.api_key, job["id"], args.seconds, args.clients)
        if args.items:
            bench_large_job(emu, args.items)


if __name__ == "__main__":
    main()
