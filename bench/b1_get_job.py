"""B1: 2,000 sequential ``get_job`` calls, our clients vs raw httpx vs the official SDK.

The emulator runs in its own process. Every side keeps one connection open (httpx's pool; the
SDK's own httpx client) and gets the same job's status. Raw httpx does ``get`` +
``raise_for_status`` + ``json()``: what a hand-written client needs at the least. The sides run in
interleaved rounds after a warm-up; figures are the median round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from harness import (
    BATCH_PATH,
    Context,
    EmulatorProcess,
    Section,
    Target,
    Timing,
    ameasure,
    count,
    measure,
    median,
    ratio,
    request_delta,
    run_async,
    us,
)

from prefect_llamabatch import AsyncBatchClient, BatchClient

TITLE = "B1 · 2,000 sequential get_job calls (emulator in another process)"
CALLS = 2000
WARMUP = 200


def _sync_sides(emu: EmulatorProcess, job_id: str) -> dict[str, tuple[Callable[[], Any], Any]]:
    from llama_cloud import LlamaCloud

    raw = httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"})
    path = f"{BATCH_PATH}/{job_id}"

    def raw_call() -> Any:
        response = raw.get(path)
        response.raise_for_status()
        return response.json()

    ours = BatchClient(emu.api_key, base_url=emu.base_url)
    sdk = LlamaCloud(api_key=emu.api_key, base_url=emu.base_url)
    return {
        "raw httpx (sync)": (raw_call, raw),
        "prefect-llamabatch BatchClient": (lambda: ours.get_job(job_id), ours),
        "llama-cloud SDK (sync)": (lambda: sdk.beta.batch.get_status(job_id), sdk),
    }


def _async_sides(
    emu: EmulatorProcess, job_id: str
) -> dict[str, tuple[Callable[[], Awaitable[Any]], Any]]:
    from llama_cloud import AsyncLlamaCloud

    raw = httpx.AsyncClient(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}
    )
    path = f"{BATCH_PATH}/{job_id}"

    async def raw_call() -> Any:
        response = await raw.get(path)
        response.raise_for_status()
        return response.json()

    ours = AsyncBatchClient(emu.api_key, base_url=emu.base_url)
    sdk = AsyncLlamaCloud(api_key=emu.api_key, base_url=emu.base_url)
    return {
        "raw httpx (async)": (raw_call, raw),
        "prefect-llamabatch AsyncBatchClient": (lambda: ours.get_job(job_id), ours),
        "llama-cloud SDK (async)": (lambda: sdk.beta.batch.get_status(job_id), sdk),
    }


def _rounds(ctx: Context) -> int:
    return 1 if ctx.quick else 3


def run(ctx: Context) -> Section:
    calls = 500 if ctx.quick else CALLS
    timings: dict[str, list[Timing]] = {}
    requests: dict[str, int] = {}
    with EmulatorProcess() as emu:
        emu.admin.freeze()
        job_id = emu.job_of(10, content=b"hello")

        sync_sides = _sync_sides(emu, job_id)
        for fn, _ in sync_sides.values():
            measure(fn, WARMUP)
        for r in range(_rounds(ctx)):
            for name, (fn, _) in sync_sides.items():
                with request_delta(emu, "get_job") as delta:
                    timing = measure(fn, calls)
                timings.setdefault(name, []).append(timing)
                requests[name] = delta["get_job"]
                ctx.log(f"B1 round {r + 1}: {name}: {us(timing.cpu_per_call)} CPU/call")
        for _, client in sync_sides.values():
            client.close()

        async def async_part() -> None:
            sides = _async_sides(emu, job_id)
            for fn, _ in sides.values():
                await ameasure(fn, WARMUP)
            for r in range(_rounds(ctx)):
                for name, (fn, _) in sides.items():
                    with request_delta(emu, "get_job") as delta:
                        timing = await ameasure(fn, calls)
                    timings.setdefault(name, []).append(timing)
                    requests[name] = delta["get_job"]
                    ctx.log(f"B1 round {r + 1}: {name}: {us(timing.cpu_per_call)} CPU/call")
            for _, client in sides.values():
                await (client.aclose() if hasattr(client, "aclose") else client.close())

        run_async(async_part())

    wall = {k: median([t.wall for t in v]) for k, v in timings.items()}
    cpu = {k: median([t.cpu for t in v]) for k, v in timings.items()}
    rows = []
    groups = [
        ("sync", "raw httpx (sync)", "prefect-llamabatch BatchClient", "llama-cloud SDK (sync)"),
        (
            "async",
            "raw httpx (async)",
            "prefect-llamabatch AsyncBatchClient",
            "llama-cloud SDK (async)",
        ),
    ]
    targets = []
    for kind, raw, ours, sdk in groups:
        for name in (raw, ours, sdk):
            rows.append(
                [
                    name,
                    us(wall[name] / calls),
                    us(cpu[name] / calls),
                    ratio(wall[name] / wall[raw]),
                    ratio(cpu[name] / cpu[raw]),
                    count(requests[name]),
                ]
            )
        wall_ratio = wall[ours] / wall[raw]
        cpu_ratio = cpu[ours] / cpu[raw]
        targets += [
            Target(
                f"B1 {kind}: wall vs raw httpx", "≤ 1.15×", ratio(wall_ratio), wall_ratio <= 1.15
            ),
            Target(
                f"B1 {kind}: CPU/call vs raw httpx", "≤ 1.3×", ratio(cpu_ratio), cpu_ratio <= 1.3
            ),
            Target(
                f"B1 {kind}: CPU/call vs SDK",
                "below the SDK's",
                f"{us(cpu[ours] / calls)} vs {us(cpu[sdk] / calls)}",
                cpu[ours] < cpu[sdk],
            ),
        ]
    return Section(
        id="B1",
        title=TITLE,
        columns=["side", "wall/call", "CPU/call", "wall vs raw", "CPU vs raw", "requests"],
        rows=rows,
        targets=targets,
        notes=[
            f"{calls:,} calls per side per round, {_rounds(ctx)} interleaved round(s) after "
            f"{WARMUP} warm-up calls; median round. CPU is this (client) process's "
            "`time.process_time()`; requests are counted by the emulator.",
            "The emulator (uvicorn, one process) shares the machine's cores with the client, "
            "so wall time per call includes the server's work.",
        ],
    )
