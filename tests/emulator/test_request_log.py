"""The request log after a reset holds only requests that started after it.

The pytest fixture's emulators are reused across tests and reset between them; a request of the
previous test still in flight at the reset (a latency fault, a slow client) finishes afterwards.
It must not appear in the next test's log (a test asserting "no request was sent" saw one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect_llamabatch.emulator.faults import FaultInjector, FaultMiddleware, Outage, RequestLog


def test_a_request_in_flight_at_a_reset_is_not_logged_after_it() -> None:
    log = RequestLog(size=10)
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = FaultMiddleware(
        slow_app,
        faults=FaultInjector(),
        outage=Outage(),
        log=log,
        latency=lambda: 0.0,
        route_name=lambda scope: "list_jobs",
    )

    async def request(path: str) -> None:
        scope = {"type": "http", "method": "GET", "path": path, "headers": []}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            return None

        await middleware(scope, receive, send)

    async def scenario() -> None:
        old = asyncio.create_task(request("/api/v1/beta/batch-processing"))
        await started.wait()  # the old request is inside the app
        log.clear()  # the reset between two tests
        started.clear()
        new = asyncio.create_task(request("/api/v1/beta/directories"))
        await started.wait()
        release.set()
        await asyncio.gather(old, new)

    asyncio.run(scenario())
    assert [record["path"] for record in log.records] == ["/api/v1/beta/directories"]
    assert log.counts == {"list_jobs": 1}


def test_requests_after_a_clear_are_logged_in_order() -> None:
    log = RequestLog(size=2)
    log.add({"route": "a"}, log.generation)
    log.clear()
    for route in ("b", "c", "d"):
        log.add({"route": route}, log.generation)
    assert [r["route"] for r in log.records] == ["c", "d"]  # bounded to the last `size`
    assert log.counts == {"b": 1, "c": 1, "d": 1}
