"""The sync client's I/O, hand-written: one request under a deadline, concurrent ops in threads.

The twin of :mod:`prefect_llamabatch.client._async_io`. A blocking read cannot be cancelled, so
the deadline is kept by a watchdog: at the deadline it shuts the response's socket down, which
ends a read blocked on a stalled body; a drip-fed body is also checked against the deadline
after every chunk. (Until the response headers have arrived there is no socket to shut; that
phase is bounded by httpx's per-read timeout, which never exceeds the deadline.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from time import sleep
from typing import Any

import httpx

from prefect_llamabatch.client._transport import Body, Limits, deadline_exceeded
from prefect_llamabatch.client.effects import Gather, Op, Outcome
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.client.request import Request

__all__ = ["gather", "send", "sleep"]


class _Watchdog:
    """Shuts the watched response's socket down once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.fired = False
        self._response: httpx.Response | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, response: httpx.Response) -> None:
        with self._lock:
            self._response = response
            if self.fired:
                self._cut()

    def stop(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._cut()

    def _cut(self) -> None:
        stream = None if self._response is None else self._response.extensions.get("network_stream")
        sock = None if stream is None else stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            try:
                # socket.socket's own shutdown, also for an SSLSocket: wakes the blocked read.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


def send(http: httpx.Client, request: Request, limits: Limits) -> Outcome | LlamaCloudError:
    """Perform ``request``: the whole response, a transport error, or a refusal (as values)."""
    watchdog = _Watchdog(limits.deadline)
    try:
        with request.httpx_kwargs() as kwargs:
            response = http.send(http.build_request(**kwargs), stream=True)
            watchdog.watch(response)
            try:
                body = Body(request, response, limits)
                refused = body.refusal()
                if refused is None:
                    for chunk in response.iter_bytes():
                        refused = body.add(chunk)
                        if refused is not None or time.monotonic() > watchdog.end:
                            break
                if refused is None and time.monotonic() > watchdog.end:
                    return deadline_exceeded(request, limits)
                return refused or body.response()
            finally:
                response.close()
    except httpx.TransportError as exc:
        return deadline_exceeded(request, limits) if watchdog.fired else exc
    finally:
        watchdog.stop()


def gather(run: Callable[[Op[Any]], Any], instruction: Gather) -> list[Any]:
    """Run the ops in threads, at most ``instruction.limit`` at once; the first error cancels
    those not started. A pool per call: nothing is shared between threads using one client."""
    if not instruction.ops:
        return []
    workers = min(instruction.limit, len(instruction.ops))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llamabatch") as pool:
        futures = [pool.submit(run, op) for op in instruction.ops]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
        if failed:
            for future in futures:
                future.cancel()
            raise failed[0].exception()  # type: ignore[misc]
        return [future.result() for future in futures]
