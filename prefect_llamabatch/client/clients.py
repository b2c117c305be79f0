"""Clients of the LlamaCloud beta batch-processing and directories APIs.

:class:`AsyncBatchClient` and :class:`BatchClient` have the same methods; both only execute the
ops of one sans-IO core (:mod:`prefect_llamabatch.client.core`). The async client
(``_async_client``) is the source of truth; the sync one (``_sync_client``) is generated from it
by ``scripts/unasync.py``. The parts that differ by hand are two small I/O modules:
``_async_io`` (anyio deadline, ops as tasks) and ``_sync_io`` (watchdog deadline, ops in threads).
"""

from __future__ import annotations

from prefect_llamabatch.client._async_client import AsyncBatchClient
from prefect_llamabatch.client._base import DEFAULT_MAX_RESPONSE_BYTES, Credentials
from prefect_llamabatch.client._sync_client import BatchClient
from prefect_llamabatch.client.config import EU_BASE_URL, NA_BASE_URL
from prefect_llamabatch.client.stats import ClientStats

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "EU_BASE_URL",
    "NA_BASE_URL",
    "AsyncBatchClient",
    "BatchClient",
    "ClientStats",
    "Credentials",
]
