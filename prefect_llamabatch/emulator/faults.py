"""Fault injection, outages and the request log, as one pure-ASGI middleware around ``/api``.

Every request under ``/api`` is named after the route it matches (``get_job``, ``create_job`` …),
counted, logged, and then run through the outage switch and the fault rules in order. Pure ASGI
(no ``BaseHTTPMiddleware``) keeps the hot path cheap.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefect_llamabatch.emulator.settings import FaultConfig, FaultKind, FaultRule

__all__ = ["FaultInjector", "FaultMiddleware", "Outage", "RequestLog"]

_PRE_HANDLER = frozenset(
    {
        FaultKind.HTTP_429,
        FaultKind.HTTP_500,
        FaultKind.HTTP_502,
        FaultKind.HTTP_503,
        FaultKind.HTTP_504,
        FaultKind.DROP,
    }
)

_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_HTML_504 = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_TEXT_503 = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"


@dataclass
class _RuleState:
    rule: FaultRule
    rng: random.Random
    seen: int = 0
    fired: int = 0


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one request: added latency, and at most one terminal fault."""

    latency: float = 0.0
    kind: FaultKind | None = None
    rule: FaultRule | None = None


class FaultInjector:
    """Decides, deterministically from the seed and the request order, which requests fail."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the rules; counters and random streams start over."""
        self.config = config
        self._states = [
            _RuleState(rule, random.Random(f"{config.seed}:{index}"))
            for index, rule in enumerate(config.rules)
        ]

    def decide(self, route: str) -> FaultDecision:
        """The faults for the next request to ``route``."""
        latency = 0.0
        for state in self._states:
            rule = state.rule
            if not fnmatchcase(route, rule.route):
                continue
            if rule.count is not None and state.fired >= rule.count:
                continue
            state.seen += 1
            if state.seen <= rule.after:
                continue
            # Always draw, so a rule's sequence does not depend on the rules before it.
            if state.rng.random() >= rule.rate:
                continue
            state.fired += 1
            if rule.kind == FaultKind.LATENCY:
                latency += rule.latency_seconds
                continue
            return FaultDecision(latency=latency, kind=rule.kind, rule=rule)
        return FaultDecision(latency=latency)

    def stats(self) -> list[dict[str, Any]]:
        """Per rule: how many matching requests it saw and how many it hit."""
        return [
            {"rule": s.rule.model_dump(mode="json"), "seen": s.seen, "fired": s.fired}
            for s in self._states
        ]


@dataclass
class Outage:
    """The outage switch: every ``/api`` request answers 503 (or is dropped) while it is on."""

    until: float | None = None
    active: bool = False
    mode: str = "503"

    def start(self, seconds: float | None, mode: str) -> None:
        """Start an outage for ``seconds`` (None: until ``clear()``)."""
        self.active = True
        self.mode = mode
        self.until = time.monotonic() + seconds if seconds is not None else None

    def clear(self) -> None:
        """End the outage."""
        self.active = False
        self.until = None

    def on(self) -> bool:
        """Whether the outage is in force now."""
        if self.active and self.until is not None and time.monotonic() >= self.until:
            self.clear()
        return self.active


@dataclass
class RequestLog:
    """The last ``size`` requests and the all-time count per route (since the last reset)."""

    size: int = 10_000
    records: deque[dict[str, Any]] = field(default_factory=deque)
    counts: Counter[str] = field(default_factory=Counter)
    generation: int = 0
    """How many times the log was cleared: a request belongs to the generation it started in."""

    def __post_init__(self) -> None:
        self.records = deque(maxlen=self.size)

    def add(self, record: dict[str, Any], generation: int | None = None) -> None:
        """Log one finished request, unless it started before the last :meth:`clear`.

        A request still in flight when the log is cleared (a reset between tests) finishes
        afterwards; it belongs to the log that was cleared, not to the new one.
        """
        if generation is not None and generation != self.generation:
            return
        self.records.append(record)
        self.counts[record["route"]] += 1

    def clear(self) -> None:
        """Forget everything (requests still in flight included)."""
        self.records.clear()
        self.counts.clear()
        self.generation += 1


async def _drop(send: Send) -> None:
    """Close the connection without a byte of response (the client sees a reset)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.abort()
        # Let the server notice the loss, so it does not try to answer on a dead socket.
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Not served by uvicorn (e.g. an in-process test client): the closest we can do.
    raise ConnectionAbortedError("emulated dropped connection")


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _retry_after(rule: FaultRule | None) -> list[tuple[bytes, bytes]]:
    if rule is None or rule.retry_after is None:
        return []
    value = rule.retry_after
    text = str(int(value)) if float(value).is_integer() else f"{value:g}"
    return [(b"retry-after", text.encode())]


async def _send_fault(send: Send, kind: FaultKind, rule: FaultRule | None) -> int:
    """Answer with a pre-handler fault; returns the status logged (0 for a drop)."""
    json_type = b"application/json"
    if kind == FaultKind.DROP:
        await _drop(send)
        return 0
    if kind == FaultKind.HTTP_429:
        body = json.dumps({"detail": "Too many requests, slow down"}).encode()
        await _respond(send, 429, body, json_type, _retry_after(rule))
        return 429
    if kind == FaultKind.HTTP_500:
        await _respond(send, 500, b'{"detail":"Internal Server Error"}', json_type, [])
        return 500
    if kind == FaultKind.HTTP_502:
        await _respond(send, 502, _HTML_502, b"text/html", [])
        return 502
    if kind == FaultKind.HTTP_503:
        await _respond(send, 503, _TEXT_503, b"text/plain", _retry_after(rule))
        return 503
    await _respond(send, 504, _HTML_504, b"text/html", [])
    return 504


RouteNamer = Callable[[Scope], str]


class FaultMiddleware:
    """Counts, logs and perturbs ``/api`` requests; everything else passes untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: FaultInjector,
        outage: Outage,
        log: RequestLog,
        latency: Callable[[], float],
        route_name: RouteNamer,
    ) -> None:
        self.app = app
        self.faults = faults
        self.outage = outage
        self.log = log
        self.latency = latency
        self.route_name = route_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        route = self.route_name(scope)
        generation = self.log.generation
        record: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": 0,
            "at": datetime.now(timezone.utc).isoformat(),
            "fault": None,
        }
        try:
            await self._handle(scope, receive, send, route, record)
        finally:
            self.log.add(record, generation)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, route: str, record: dict[str, Any]
    ) -> None:
        if self.outage.on():
            record["fault"] = f"outage_{self.outage.mode}"
            if self.outage.mode == "drop":
                await _drop(send)
                return
            await _respond(send, 503, _TEXT_503, b"text/plain", [(b"retry-after", b"1")])
            record["status"] = 503
            return
        decision = self.faults.decide(route)
        delay = decision.latency + self.latency()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = decision.kind
        if kind is not None:
            record["fault"] = kind.value
        elif decision.latency > 0:
            record["fault"] = FaultKind.LATENCY.value
        if kind is not None and kind in _PRE_HANDLER:
            record["status"] = await _send_fault(send, kind, decision.rule)
            return
        if kind is None:
            await self.app(scope, receive, _status_recorder(send, record))
            return
        # Post-handler faults: run the request for real, then lose or mangle the answer.
        captured = _Capture()
        await self.app(scope, receive, captured)
        if kind == FaultKind.COMMIT_THEN_DROP:
            await _drop(send)
            return
        if kind == FaultKind.COMMIT_THEN_FAIL:
            await _respond(
                send, 500, b'{"detail":"Internal Server Error"}', b"application/json", []
            )
            record["status"] = 500
            return
        body = captured.body[: max(1, len(captured.body) // 2)]
        await _respond(send, captured.status, body, b"application/json", [])
        record["status"] = captured.status


def _status_recorder(send: Send, record: dict[str, Any]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            record["status"] = message["status"]
        await send(message)

    return wrapped


class _Capture:
    """An ASGI ``send`` that keeps the response instead of sending it."""

    def __init__(self) -> None:
        self.status = 500
        self.body = b""

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def route_namer(routes: list[Any]) -> RouteNamer:
    """Name a request after the first route that fully matches it (``unmatched`` if none)."""
    cache: dict[tuple[str, str], str] = {}

    def name(scope: Scope) -> str:
        # Pollers repeat the same method and path; remember the answer (bounded).
        key = (scope["method"], scope["path"])
        found = cache.get(key)
        if found is None:
            if len(cache) >= 4096:
                cache.clear()
            found = cache[key] = match(scope)
        return found

    def match(scope: Scope) -> str:
        partial = None
        for route in routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(route.name)
            if match == Match.PARTIAL and partial is None:
                partial = str(route.name)
        return partial or "unmatched"

    return name
