"""Hostile answers for :class:`ScriptedServer`: bodies drip-fed slowly, and bodies too large.

Real HTTP on 127.0.0.1 (uvicorn in a thread), so the clients' streaming, deadlines and caps are
exercised as against a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.reliability.scripted_server import ScriptedServer, scripted_server

__all__ = ["Drip", "Flood", "hostile_server"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Drip:
    """Send ``size`` bytes of a JSON string, one byte every ``interval`` seconds (the headers at
    once, ``Content-Length`` announced): each read succeeds, the response never ends in time."""

    size: int = 1000
    interval: float = 0.4


@dataclass(frozen=True)
class Flood:
    """Send ``total`` bytes in 1 MiB chunks; ``declare`` announces the length up front."""

    total: int
    declare: bool = False


class HostileServer(ScriptedServer):
    """A :class:`ScriptedServer` that also answers :class:`Drip` and :class:`Flood`."""

    async def answer_other(self, answer: object, send: Any) -> None:
        headers = [(b"content-type", b"application/json")]
        if isinstance(answer, Drip):
            headers.append((b"content-length", str(answer.size).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for _ in range(answer.size):
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await asyncio.sleep(answer.interval)
            return
        if isinstance(answer, Flood):
            if answer.declare:
                headers.append((b"content-length", str(answer.total).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            chunk = b"x" * MiB
            for _ in range(answer.total // MiB):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await super().answer_other(answer, send)


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """Serve a :class:`HostileServer` on a free loopback port for the duration of the block."""
    with scripted_server(app=HostileServer()) as server:
        assert isinstance(server, HostileServer)
        yield server
