"""The emulator's state in SQLite: blobs, directories, files, jobs, items and results.

Every read is a bounded, indexed query (keyset or offset pages), so listing a 100,000-item job
never loads it whole. Item status changes and the job counters that summarise them are written in
one transaction, so a client can never observe a job whose counters disagree with its items.

The store is used from one thread at a time (the server's event loop); it is not locked.

One class, :class:`Store`, in parts by what they own: ``base`` (schema, ids, page tokens,
transactions), ``directories`` (blobs, directories, files), ``jobs`` (jobs over directories, items,
results, the ground truth) and ``scheduling`` (claiming and finishing items, job counters).
"""

from __future__ import annotations

from prefect_llamabatch.emulator.store.base import (
    StoreError,
    decode_cursor,
    encode_cursor,
    encode_offset,
    new_id,
    now_iso,
)
from prefect_llamabatch.emulator.store.jobs import JobRows
from prefect_llamabatch.emulator.store.scheduling import ClaimedItem, SchedulingRows

__all__ = [
    "ClaimedItem",
    "Store",
    "StoreError",
    "decode_cursor",
    "encode_cursor",
    "encode_offset",
    "new_id",
    "now_iso",
]


class Store(JobRows, SchedulingRows):
    """SQLite-backed state. ``path=None`` keeps everything in memory.

    Example:
        ```python
        from prefect_llamabatch.emulator.store import Store

        store = Store(None)
        directory = store.create_directory("proj-1", name="docs")
        assert store.get_directory("proj-1", directory["id"])["name"] == "docs"
        ```
    """
