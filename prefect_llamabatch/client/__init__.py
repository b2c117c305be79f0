"""The SDK: clients of the LlamaCloud batch-processing and directories APIs. Never imports Prefect.

Inside, one I/O-free core and two thin drivers:

* ``effects`` — the effect vocabulary (``Send``, ``Sleep``, ``Gather``, ``Emit``) that every
  operation, here and in the Prefect layer, yields;
* ``core`` — ``ClientCore``: every endpoint, written once as an effect generator; its parts live in
  ``config`` (hosts, env), ``request`` (argument checks, query encoding), ``response`` (error
  mapping, parsing), ``paging``, ``reconcile``, ``uploads``, ``stats``;
* ``errors`` — the exception tree; ``retries`` — ``RetryPolicy`` (tenacity);
* ``clients`` — ``AsyncBatchClient`` / ``BatchClient``, which only execute effects.

Importing the package loads the v1 API only: the v2 endpoints (``core_v2``, ``jobs_v2`` and the
``models.v2`` they parse) load on a v2 method's first call, each client's I/O driver (asyncio for
the async one) when that client is built (``tests/client/test_import_cost.py``; times: bench B5).
"""

from __future__ import annotations

from prefect_llamabatch.client.clients import (
    EU_BASE_URL,
    NA_BASE_URL,
    AsyncBatchClient,
    BatchClient,
    ClientStats,
)
from prefect_llamabatch.client.retries import RetryPolicy

__all__ = [
    "EU_BASE_URL",
    "NA_BASE_URL",
    "AsyncBatchClient",
    "BatchClient",
    "ClientStats",
    "RetryPolicy",
]
