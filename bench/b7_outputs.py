"""B7: outputs of N completed documents: download_outputs vs a loop over the official SDK 2.19.

Both sides fetch the parsed markdown of every item of one completed v1 job (N items) from the
emulator in another process with 50 ms added to every ``/api`` response, and write one file per
document. The SDK side, run in the SDK-2.19 venv (``tests/emulator/v2/conftest.py`` creates it),
loops over ``client.parsing.get(job_id, expand=["markdown"])`` and writes each page's markdown;
it is given the job ids (its lookup is not timed). Ours is ``write_outputs`` (the logic of the
``download_outputs`` task) from the job id: the paged item listing, one ``get_parse_job`` per
document and a streamed download of its presigned URL, with the async client (the task's
async variant), 16 documents at a time (the default).

Each of our runs is a fresh process (so peak RSS is its own): a timed run, a rerun over the
written folder (resume: nothing to fetch), then a run under ``tracemalloc`` into a new folder for
the peak of Python allocations. The emulator serves presigned downloads outside ``/api``, so
they get no added latency; the "adjusted" column adds 50 ms per download spread over the
concurrency, what a real S3 GET would cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from harness import ROOT, Context, EmulatorProcess, Section, Target, count, mb, ratio, secs

TITLE = "B7 · parsed outputs of N completed documents (50 ms latency)"
LATENCY = 0.05
CONCURRENCY = 16
SDK_VENV = Path(os.environ.get("LLAMABATCH_SDK219_VENV", ROOT / ".venv-sdk219"))

_SDK_LOOP = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from llama_cloud import LlamaCloud
    args = json.loads(sys.argv[1])
    out = Path(args["out"]); out.mkdir(parents=True, exist_ok=True)
    ids = json.loads(Path(args["ids"]).read_text())
    with LlamaCloud(api_key=args["api_key"], base_url=args["base_url"]) as client:
        started = time.perf_counter()
        for name, job_id in ids:
            got = client.parsing.get(job_id, expand=["markdown"])
            text = "".join(p.markdown for p in got.markdown.pages)
            (out / (name + ".md")).write_text(text)
        print(json.dumps({"wall": time.perf_counter() - started}))
    """
)

_OURS = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time, tracemalloc
    from prefect_llamabatch import AsyncBatchClient
    from prefect_llamabatch.orchestration.outputs import awrite_outputs
    args = json.loads(sys.argv[1])

    async def main():
        result = {}
        async with AsyncBatchClient(
            args["api_key"], base_url=args["base_url"], max_concurrency=8
        ) as client:
            for label, folder, traced in (
                ("first", args["out"], False), ("rerun", args["out"], False),
                ("traced", args["out"] + "-traced", True),
            ):
                if traced:
                    tracemalloc.start()
                requests = client.stats.requests
                started = time.perf_counter()
                done = await awrite_outputs(client, folder, job_id=args["job_id"],
                                            max_concurrency=args["concurrency"])
                wall = time.perf_counter() - started
                peak = tracemalloc.get_traced_memory()[1] if traced else 0
                tracemalloc.stop()
                result[label] = {"wall": wall, "written": done.written,
                                 "unchanged": done.unchanged,
                                 "requests": client.stats.requests - requests, "peak": peak}
        result["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return result

    print(json.dumps(asyncio.run(main())))
    """
)


def _sdk_python() -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.emulator.v2.conftest import ensure_sdk_venv

    return ensure_sdk_venv(SDK_VENV)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("LLAMA_", "HTTP"))}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = str(ROOT)
    return env


def _child(python: Path, script: str, args: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", script, json.dumps(args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _job(emu: EmulatorProcess, n: int) -> tuple[str, list[tuple[str, str]]]:
    from prefect_llamabatch import BatchClient

    body = b"# Title\n\n" + b"A paragraph of a parsed document. " * 40
    job_id = emu.job_of(n, content=body, name=f"b7-{n}")
    emu.admin.wait_for_job(job_id, timeout=1800)
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        items = list(client.iter_items(job_id))
    return job_id, [(i.item_name, i.job_id) for i in items if i.job_id]


def run(ctx: Context) -> Section:
    sizes = [100, 400] if ctx.quick else [1000, 10_000]
    sdk_n = sizes[0]
    rows: list[list[str]] = []
    notes: list[str] = []
    sdk_python = _sdk_python()
    ours: dict[int, dict[str, Any]] = {}
    sdk_wall = 0.0
    latency_args = ["--response-latency", str(LATENCY), "--time-scale", "0.001"]
    with (
        EmulatorProcess(*latency_args, "--concurrency", "64") as emu,
        tempfile.TemporaryDirectory(prefix="b7-") as tmp,
    ):
        for n in sizes:
            ctx.log(f"B7: a completed job of {n:,} documents")
            job_id, ids = _job(emu, n)
            args = {"api_key": emu.api_key, "base_url": emu.base_url}
            if n == sdk_n:
                ids_file = Path(tmp) / f"ids-{n}.json"
                ids_file.write_text(json.dumps(ids))
                ctx.log(f"B7: SDK 2.19 loop over {n:,} documents")
                sdk = _child(
                    sdk_python, _SDK_LOOP, {**args, "out": f"{tmp}/sdk-{n}", "ids": str(ids_file)}
                )
                sdk_wall = sdk["wall"]
            ctx.log(f"B7: download_outputs over {n:,} documents")
            ours[n] = _child(
                Path(sys.executable),
                _OURS,
                {**args, "out": f"{tmp}/ours-{n}", "job_id": job_id, "concurrency": CONCURRENCY},
            )
    for n in sizes:
        first = ours[n]["first"]
        adjusted = first["wall"] + n * LATENCY / CONCURRENCY
        sdk_side = sdk_wall * n / sdk_n
        rows.append(
            [
                count(n),
                secs(sdk_side) + ("" if n == sdk_n else " (×N)"),
                secs(first["wall"]),
                secs(adjusted),
                ratio(sdk_side / adjusted),
                count(first["requests"]),
                secs(ours[n]["rerun"]["wall"]) + f" / {count(ours[n]['rerun']['requests'])} req",
                mb(ours[n]["traced"]["peak"]),
                mb(ours[n]["maxrss"]),
            ]
        )
    big, small = sizes[-1], sizes[0]
    best = sdk_wall * big / sdk_n / (ours[big]["first"]["wall"] + big * LATENCY / CONCURRENCY)
    growth = ours[big]["traced"]["peak"] / max(1, ours[small]["traced"]["peak"])
    notes.append(
        f"The SDK loop was timed over {sdk_n:,} documents; a loop is linear, so larger N scale "
        "it by N (marked ×N)."
    )
    notes.append(
        "Adjusted = our wall + 50 ms per presigned download / concurrency (the emulator adds no "
        "latency outside /api; a real S3 GET would). The ratio uses the adjusted figure."
    )
    return Section(
        id="B7",
        title=TITLE,
        columns=[
            "documents",
            "SDK parsing.get loop",
            "download_outputs",
            "adjusted",
            "speed-up",
            "our requests",
            "rerun",
            "tracemalloc peak",
            "peak RSS",
        ],
        rows=rows,
        targets=[
            Target(
                "B7 outputs, speed-up vs the SDK loop",
                "≥ 5×",
                ratio(best),
                None if ctx.quick else best >= 5,
            ),
            Target(
                "B7 memory flat from 1,000 to 10,000 documents",
                "tracemalloc peak grows < 2× for 10× the documents",
                f"{ratio(growth)} ({mb(ours[small]['traced']['peak'])} → "
                f"{mb(ours[big]['traced']['peak'])})",
                None if ctx.quick else growth < 2,
            ),
        ],
        notes=notes,
    )
