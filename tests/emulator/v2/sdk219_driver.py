"""Drives the official llama-cloud SDK 2.19 against the emulator; prints one JSON line.

Runs in the SDK-2.19 venv (not the project's): it imports only the SDK, httpx and the standard
library. Usage: ``python sdk219_driver.py SCENARIO '<json args>'`` where args hold ``base_url``,
``api_key``, ``admin_token``, ``mode`` (``sync`` or ``async``) and the scenario's inputs.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import llama_cloud
from llama_cloud import AsyncLlamaCloud, LlamaCloud

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


async def call(value: Any) -> Any:
    """The result of a sync call, or of an awaited async one."""
    return await value if inspect.isawaitable(value) else value


async def collect(pager: Any) -> list[Any]:
    """Every item of an auto-paginating listing (sync or async)."""
    if hasattr(pager, "__aiter__"):
        return [item async for item in pager]
    return list(pager)


async def error_status(thunk: Any) -> int | None:
    """The HTTP status of the error the call raises (None if it succeeds)."""
    try:
        await call(thunk())
    except llama_cloud.APIStatusError as exc:
        return exc.status_code
    return None


async def wait_batch(client: Any, batch_id: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = await call(client.batches.get(batch_id))
        if batch.status in TERMINAL or time.monotonic() > deadline:
            return batch
        await asyncio.sleep(0.02)


def admin(args: dict[str, Any], path: str) -> None:
    response = httpx.post(
        args["base_url"] + path, headers={"X-Emulator-Admin-Token": args["admin_token"]}
    )
    response.raise_for_status()


async def scenario_all(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    configs = client.configurations
    parse_params = {
        "product_type": "parse_v2",
        "tier": "fast",
        "version": "latest",
        "page_ranges": {"max_pages": 5},
        "output_options": {"markdown": {"annotate_links": True}},
    }
    first = await call(configs.create(name="docs", parameters=parse_params))
    again = await call(configs.create(name="docs", parameters={**parse_params, "tier": "agentic"}))
    out["upsert_same_id"] = first.id == again.id
    out["upsert_tier"] = again.parameters.tier
    extract = await call(
        configs.create(
            name="invoice",
            parameters={
                "product_type": "extract_v2",
                "data_schema": {
                    "type": "object",
                    "properties": {"total": {"type": "number"}, "vendor": {"type": "string"}},
                },
            },
        )
    )
    out["retrieved_name"] = (await call(configs.retrieve(first.id))).name
    preset = await call(configs.retrieve("cfg-PARSE_AGENTIC"))
    out["preset"] = [preset.product_type, preset.parameters.tier]
    out["config_names_paged"] = [c.name for c in await collect(configs.list(page_size=1))]
    out["config_names_extract"] = [
        c.name for c in await collect(configs.list(product_type=["extract_v2"]))
    ]
    out["renamed"] = (await call(configs.update(first.id, name="docs-renamed"))).name

    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    directory = args["directory_id"]
    parse_batch = await call(
        client.batches.create(
            config={"job": {"type": "parse_v2", "configuration_id": first.id}},
            source_directory_id=directory,
            webhook_configurations=[{"webhook_url": "http://127.0.0.1:9/hook"}],
        )
    )
    extract_batch = await call(
        client.batches.create(
            config={"job": {"type": "extract_v2", "configuration_id": extract.id}},
            source_directory_id=directory,
        )
    )
    out["created_status"] = parse_batch.status
    out["final_status"] = [
        (await wait_batch(client, parse_batch.id)).status,
        (await wait_batch(client, extract_batch.id)).status,
    ]
    expanded = await call(client.batches.get(parse_batch.id, expand=["results"]))
    out["results_count"] = len(expanded.results or [])
    unexpanded = await call(client.batches.get(parse_batch.id))
    out["results_without_expand"] = unexpanded.results
    out["batch_ids_paged"] = [b.id for b in await collect(client.batches.list(page_size=1))]
    out["expected_batch_ids"] = [extract_batch.id, parse_batch.id]
    out["filtered"] = [
        b.id
        for b in await collect(
            client.batches.list(
                status="COMPLETED",
                source_directory_id=directory,
                created_at_on_or_after=before,
                created_at_on_or_before=datetime.now(timezone.utc) + timedelta(seconds=1),
            )
        )
    ]
    out["filtered_future"] = [
        b.id
        for b in await collect(
            client.batches.list(
                created_at_on_or_after=datetime.now(timezone.utc) + timedelta(hours=1)
            )
        )
    ]

    job_ids = [r.job_reference.id for r in expanded.results or [] if r.job_reference]
    outputs = {}
    for job_id in job_ids:
        got = await call(
            client.parsing.get(
                job_id,
                expand=[
                    "markdown",
                    "text",
                    "items",
                    "metadata",
                    "markdown_content_metadata",
                    "text_content_metadata",
                ],
            )
        )
        entry: dict[str, Any] = {"status": got.job.status, "name": got.job.name}
        if got.markdown is not None:
            entry["markdown"] = got.markdown.pages[0].markdown
            entry["text"] = got.text.pages[0].text if got.text else None
            entry["item_types"] = [i.type for i in got.items.pages[0].items] if got.items else []
            meta = got.result_content_metadata or {}
            entry["markdown_url"] = meta["markdown"].presigned_url
        else:
            entry["error"] = got.job.error_message
        outputs[job_id] = entry
    out["parse_outputs"] = outputs
    out["parse_listed"] = sorted(
        j.id for j in await collect(client.parsing.list(job_ids=job_ids, page_size=1))
    )
    out["parse_failed"] = [j.name for j in await collect(client.parsing.list(status="FAILED"))]
    out["job_ids"] = sorted(job_ids)

    extract_expanded = await call(client.batches.get(extract_batch.id, expand=["results"]))
    extract_ids = [r.job_reference.id for r in extract_expanded.results or [] if r.job_reference]
    out["extract_results"] = {}
    for job_id in extract_ids:
        job = await call(client.extract.get(job_id))
        out["extract_results"][job_id] = [job.status, job.extract_result, job.error_message]
    out["extract_listed"] = sorted(
        j.id for j in await collect(client.extract.list(job_ids=extract_ids, page_size=1))
    )
    out["extract_ids"] = sorted(extract_ids)

    if args.get("v1_job_id"):
        v1 = await call(client.parsing.get(args["v1_job_id"], expand=["markdown"]))
        out["v1_parse"] = [v1.job.status, v1.markdown.pages[0].markdown if v1.markdown else None]

    out["cancel_finished_status"] = await error_status(
        lambda: client.batches.cancel(parse_batch.id)
    )
    admin(args, "/_emulator/freeze")
    try:
        pending = await call(
            client.batches.create(
                config={"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_FAST"}},
                source_directory_id=directory,
            )
        )
        cancelled = await call(client.batches.cancel(pending.id))
        out["cancelled"] = [pending.status, cancelled.status]
    finally:
        admin(args, "/_emulator/resume")

    await call(configs.delete(extract.id))
    out["deleted_status"] = await error_status(lambda: configs.retrieve(extract.id))
    out["missing_batch_status"] = await error_status(lambda: client.batches.get("bat-missing"))
    return out


async def main() -> None:
    scenario, raw = sys.argv[1], sys.argv[2]
    args = json.loads(raw)
    options = {
        "api_key": args["api_key"],
        "base_url": args["base_url"],
        "max_retries": 0,
        "_strict_response_validation": True,
    }
    if args.get("mode") == "async":
        async with AsyncLlamaCloud(**options) as client:
            result = await SCENARIOS[scenario](client, args)
    else:
        with LlamaCloud(**options) as client:
            result = await SCENARIOS[scenario](client, args)
    result["sdk_version"] = llama_cloud.__version__
    print(json.dumps(result, default=str))


SCENARIOS = {"all": scenario_all}

if __name__ == "__main__":
    asyncio.run(main())
