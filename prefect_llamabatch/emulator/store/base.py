"""The store's plumbing: the SQLite schema, ids and page tokens, transactions and queries.

The store is used from one thread at a time (the server's event loop); it is not locked.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "StoreBase",
    "StoreError",
    "decode_cursor",
    "encode_cursor",
    "encode_offset",
    "new_id",
    "now_iso",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    external_file_id TEXT,
    purpose TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS directories (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    type TEXT,
    system_metadata TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    expires_at TEXT
);
CREATE INDEX IF NOT EXISTS directories_project ON directories(project_id, seq);
CREATE TABLE IF NOT EXISTS dir_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    directory_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    metadata TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dir_files_directory ON dir_files(directory_id, seq);
CREATE INDEX IF NOT EXISTS dir_files_unique ON dir_files(directory_id, unique_id);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    project_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,
    directory_id TEXT,
    job_config TEXT NOT NULL,
    parameters_hash TEXT NOT NULL,
    cache_lookup INTEGER NOT NULL,
    cache_store INTEGER NOT NULL,
    total_items INTEGER NOT NULL DEFAULT 0,
    n_pending INTEGER NOT NULL DEFAULT 0,
    n_processing INTEGER NOT NULL DEFAULT 0,
    n_completed INTEGER NOT NULL DEFAULT 0,
    n_failed INTEGER NOT NULL DEFAULT 0,
    n_skipped INTEGER NOT NULL DEFAULT 0,
    n_cancelled INTEGER NOT NULL DEFAULT 0,
    cycle_size INTEGER,
    cycle INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    cancel_reason TEXT,
    idempotency_key TEXT,
    request_hash TEXT,
    workflow_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_project ON jobs(project_id, seq);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency
    ON jobs(project_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS items (
    job_seq INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    item_name TEXT NOT NULL,
    status TEXT NOT NULL,
    job_id TEXT,
    error_message TEXT,
    skip_reason TEXT,
    started_at TEXT,
    completed_at TEXT,
    PRIMARY KEY (job_seq, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_status ON items(job_seq, status, pos);
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    result_id TEXT UNIQUE NOT NULL,
    item_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    job_seq INTEGER NOT NULL,
    job_type TEXT NOT NULL,
    parameters_hash TEXT NOT NULL,
    content_sha TEXT NOT NULL,
    cacheable INTEGER NOT NULL,
    output_s3_path TEXT NOT NULL,
    output_metadata TEXT,
    processed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_item ON results(item_id, seq);
"""

_TABLES = ("blobs", "directories", "dir_files", "jobs", "items", "results")
_ACTIVE_JOB_STATUSES = ("pending", "running", "dispatched")
_COUNTER = {
    "pending": "n_pending",
    "processing": "n_processing",
    "completed": "n_completed",
    "failed": "n_failed",
    "skipped": "n_skipped",
    "cancelled": "n_cancelled",
}


class StoreError(Exception):
    """A request the store refuses; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def now_iso() -> str:
    """The current UTC time, ISO-8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat()


def new_id(prefix: str = "") -> str:
    """A fresh id, ``<prefix>-<uuid4>`` or a bare uuid4."""
    value = str(uuid.uuid4())
    return f"{prefix}-{value}" if prefix else value


def encode_cursor(seq: int) -> str:
    """An opaque page token for keyset pagination."""
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def encode_offset(offset: int) -> str:
    """The ``next_page_token`` of an offset listing (filled like LlamaCloud's; never read back)."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    """The sequence number a page token stands for (400 if it is not one of ours)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, seq = raw.partition(":")
        if prefix != "seq":
            raise ValueError(raw)
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise StoreError(400, "page_token: not a token returned by this API") from None


def _dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None


class StoreBase:
    """The connection, transactions and the queries every part of the store shares."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        target = str(path) if path is not None else ":memory:"
        # One thread uses the connection at a time, but not always the one that opened it.
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._extra_tables: tuple[str, ...] = ()

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return _dict(self._db.execute(sql, params).fetchone())

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(sql, params).fetchall()]

    def extend(self, schema: str, tables: Sequence[str]) -> None:
        """Add the tables of another backend (the v2 API): created now, emptied by :meth:`reset`."""
        self._db.executescript(schema)
        self._extra_tables = (
            *self._extra_tables,
            *(t for t in tables if t not in self._extra_tables),
        )

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (for backends that :meth:`extend` the store)."""
        return self._tx()

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """One row of a query, or None."""
        return self._one(sql, params)

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query."""
        return self._all(sql, params)

    def reset(self) -> None:
        """Delete every row of every table."""
        with self._tx() as db:
            for table in (*_TABLES, *self._extra_tables):
                db.execute(f"DELETE FROM {table}")

    def recover(self) -> int:
        """After a restart: items left ``processing`` go back to ``pending``. Returns their count."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT job_seq, COUNT(*) AS n FROM items WHERE status = 'processing' GROUP BY job_seq"
            ).fetchall()
            db.execute(
                "UPDATE items SET status = 'pending', started_at = NULL, job_id = NULL "
                "WHERE status = 'processing'"
            )
            for row in rows:
                db.execute(
                    "UPDATE jobs SET n_processing = n_processing - ?, n_pending = n_pending + ?, "
                    "status = CASE WHEN status = 'dispatched' THEN 'running' ELSE status END "
                    "WHERE seq = ?",
                    (row["n"], row["n"], row["job_seq"]),
                )
        return sum(int(r["n"]) for r in rows)

    def _cursor_page(
        self,
        table: str,
        where: list[str],
        params: list[Any],
        include_deleted: bool,
        page_token: str | None,
        page_size: int,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a cursor-paginated listing: rows past the token's ``seq``, in order."""
        if not include_deleted:
            where.append("deleted_at IS NULL")
        if page_token:
            where.append("seq < ?" if newest_first else "seq > ?")
            params.append(decode_cursor(page_token))
        order = "DESC" if newest_first else "ASC"
        rows = self._all(
            f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
            [*params, page_size + 1],
        )
        return _page(rows, page_size)


def _page(rows: list[dict[str, Any]], page_size: int) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, encode_cursor(int(rows[-1]["seq"]))
    return rows, None
