"""A tiny HTTP server on 127.0.0.1 whose answers a test scripts, for responses no real API sends.

The emulator answers correctly (and its ``malformed_json`` fault truncates bodies); this server
answers whatever the test says: HTML with status 200, wrong types, pages that lie about their
size, bodies that never end. It is real HTTP (uvicorn in a thread), so the clients' transports,
timeouts and framing checks are exercised as in production.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

__all__ = ["Hang", "Lie", "Reply", "ScriptedServer", "Seen", "json_reply", "scripted_server"]


@dataclass(frozen=True)
class Seen:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, str]
    raw_target: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A complete response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """Send nothing (``after_headers``: send the headers, then nothing) until the client gives up."""

    after_headers: bool = False


@dataclass(frozen=True)
class Lie:
    """Announce ``content_length`` bytes, send ``body``, and end the response (a cut connection)."""

    body: bytes
    content_length: int


Answer = Reply | Hang | Lie
Handler = Callable[[Seen], Answer]


def json_reply(value: Any, status: int = 200, **headers: str) -> Reply:
    """A JSON response."""
    return Reply(status, json.dumps(value).encode(), "application/json", headers)


class ScriptedServer:
    """The running server: set ``handler``, read ``seen``."""

    def __init__(self) -> None:
        self.handler: Handler = lambda _seen: Reply(404, b'{"detail":"not scripted"}')
        self.seen: list[Seen] = []
        self.base_url = ""

    def reset(self, handler: Handler) -> None:
        """Answer with ``handler`` from now on and forget the requests seen."""
        self.handler = handler
        self.seen = []

    def requests_to(self, path: str) -> int:
        """How many requests were made to ``path``."""
        return sum(1 for s in self.seen if s.path == path)

    async def answer_other(self, answer: object, send: Any) -> None:
        """Send an answer of a kind this class does not know (subclasses add kinds)."""
        raise TypeError(f"unknown answer {answer!r}")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = scope["query_string"].decode()
        seen = Seen(
            scope["method"],
            scope["path"],
            dict(parse_qsl(query)),
            raw_target=scope.get("raw_path", b"").decode() + "?" + query,
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
        )
        self.seen.append(seen)
        while True:  # drain the request body
            message = await receive()
            if not message.get("more_body"):
                break
        answer = self.handler(seen)
        if isinstance(answer, Hang):
            if answer.after_headers:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            # Until the client disconnects or the server stops.
            disconnect = asyncio.ensure_future(receive())
            await asyncio.wait([disconnect], timeout=30)
            disconnect.cancel()
            return
        if isinstance(answer, Lie):
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(answer.content_length).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body, "more_body": False})
            return
        if not isinstance(answer, Reply):
            await self.answer_other(answer, send)
            return
        headers = [(b"content-type", answer.content_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


@contextmanager
def scripted_server(
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    app: ScriptedServer | None = None,
) -> Iterator[ScriptedServer]:
    """Serve a :class:`ScriptedServer` (or ``app``, a subclass) on a free loopback port for the
    duration of the block (over TLS with the given certificate and key)."""
    app = app or ScriptedServer()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="critical",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="scripted-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("scripted server did not start")
        threading.Event().wait(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    app.base_url = f"{'https' if ssl_certfile else 'http'}://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = True
        thread.join(10)
