"""The async client's I/O, hand-written: one request under a deadline, concurrent ops as tasks.

:mod:`prefect_llamabatch.client._sync_io` is its sync twin; the rest of the async client
(``_async_client``) is the source from which the sync client is generated.
"""

from __future__ import annotations

import asyncio
from asyncio import sleep
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from prefect_llamabatch.client._transport import Body, Limits, deadline_exceeded
from prefect_llamabatch.client.effects import Gather, Op, Outcome
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.client.request import Request

__all__ = ["gather", "send", "sleep"]


async def send(
    http: httpx.AsyncClient, request: Request, limits: Limits
) -> Outcome | LlamaCloudError:
    """Perform ``request``: the whole response, a transport error, or a refusal (as values)."""
    with anyio.move_on_after(limits.deadline):
        try:
            with request.httpx_kwargs() as kwargs:
                response = await http.send(http.build_request(**kwargs), stream=True)
                try:
                    body = Body(request, response, limits)
                    refused = body.refusal()
                    if refused is None:
                        async for chunk in response.aiter_bytes():
                            refused = body.add(chunk)
                            if refused is not None:
                                break
                    return refused or body.response()
                finally:
                    await response.aclose()
        except httpx.TransportError as exc:
            return exc
    return deadline_exceeded(request, limits)


async def gather(run: Callable[[Op[Any]], Awaitable[Any]], instruction: Gather) -> list[Any]:
    """Run the ops as tasks, at most ``instruction.limit`` at once; the first error cancels all."""
    limiter = asyncio.Semaphore(instruction.limit)

    async def one(op: Op[Any]) -> Any:
        async with limiter:
            return await run(op)

    tasks = [asyncio.ensure_future(one(op)) for op in instruction.ops]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
