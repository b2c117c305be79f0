"""Per-client counters: requests, retries, reconciliations, adoptions."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client: HTTP requests sent, retries (sleeps before a new attempt),
    create reconciliations performed, and reconciliations that adopted an existing object.

    Example:
        ```python
        from prefect_llamabatch import BatchClient

        with BatchClient("llx-example", base_url="http://127.0.0.1:9") as client:
            assert client.stats.requests == 0
        ```
    """

    requests: int = 0
    retries: int = 0
    reconciliations: int = 0
    adopted: int = 0


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {"requests": 0, "retries": 0, "reconciliations": 0, "adopted": 0}

    def add(self, name: str) -> None:
        with self._lock:
            self._values[name] += 1

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._values)
