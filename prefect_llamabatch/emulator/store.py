"""The emulator's state in SQLite: blobs, directories, files, jobs, items and results.

Every read is a bounded, indexed query (keyset or offset pages), so listing a 100,000-item job
never loads it whole. Item status changes and the job counters that summarise them are written in
one transaction, so a client can never observe a job whose counters disagree with its items.

The store is used from one thread at a time (the server's event loop); it is not locked.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["ClaimedItem", "Store", "StoreError", "new_id", "now_iso"]

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


@dataclass(frozen=True)
class ClaimedItem:
    """An item the scheduler handed out for processing, with what its outcome depends on."""

    job_seq: int
    job_id: str
    project_id: str
    pos: int
    item_id: str
    item_name: str
    underlying_job_id: str


def _dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None


class Store:
    """SQLite-backed state. ``path=None`` keeps everything in memory.

    Example:
        ```python
        from prefect_llamabatch.emulator.store import Store

        store = Store(None)
        directory = store.create_directory("proj-1", name="docs")
        assert store.get_directory("proj-1", directory["id"])["name"] == "docs"
        ```
    """

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

    def reset(self) -> None:
        """Delete every row of every table."""
        with self._tx() as db:
            for table in _TABLES:
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

    # ------------------------------------------------------------------ blobs

    def add_blob(
        self,
        project_id: str,
        *,
        name: str,
        size: int,
        sha256: str,
        external_file_id: str | None = None,
        purpose: str | None = None,
        blob_id: str | None = None,
    ) -> dict[str, Any]:
        """Record an uploaded file's content (stored on disk by the caller under its id)."""
        row = {
            "id": blob_id or new_id(),
            "project_id": project_id,
            "name": name,
            "size": size,
            "sha256": sha256,
            "external_file_id": external_file_id,
            "purpose": purpose,
            "created_at": now_iso(),
        }
        with self._tx() as db:
            db.execute(
                "INSERT INTO blobs VALUES (:id, :project_id, :name, :size, :sha256, "
                ":external_file_id, :purpose, :created_at)",
                row,
            )
        return row

    def get_blob(self, blob_id: str, project_id: str | None = None) -> dict[str, Any] | None:
        """A blob by id (restricted to a project when one is given)."""
        if project_id is None:
            return self._one("SELECT * FROM blobs WHERE id = ?", (blob_id,))
        return self._one(
            "SELECT * FROM blobs WHERE id = ? AND project_id = ?", (blob_id, project_id)
        )

    # ------------------------------------------------------------------ directories

    def create_directory(
        self,
        project_id: str,
        *,
        name: str,
        description: str | None = None,
        type: str | None = None,
        system_metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a directory. ``ephemeral`` ones get an ``expires_at`` 24 hours ahead."""
        now = datetime.now(timezone.utc)
        kind = type or "user"
        directory_id = new_id("dir")
        row = {
            "id": directory_id,
            "project_id": project_id,
            "name": name,
            "description": description,
            "type": kind,
            "system_metadata": json.dumps(system_metadata) if system_metadata is not None else None,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
            "deleted_at": None,
            "expires_at": (now + timedelta(hours=24)).isoformat() if kind == "ephemeral" else None,
        }
        with self._tx() as db:
            db.execute(
                "INSERT INTO directories (id, project_id, name, description, type, system_metadata,"
                " created_at, updated_at, deleted_at, expires_at) VALUES (:id, :project_id, :name,"
                " :description, :type, :system_metadata, :created_at, :updated_at, :deleted_at,"
                " :expires_at)",
                row,
            )
        return self._require_directory(project_id, directory_id)

    def get_directory(
        self, project_id: str, directory_id: str, *, include_deleted: bool = False
    ) -> dict[str, Any] | None:
        """A directory of the project, or None."""
        sql = "SELECT * FROM directories WHERE id = ? AND project_id = ?"
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        return self._one(sql, (directory_id, project_id))

    def _require_directory(self, project_id: str, directory_id: str) -> dict[str, Any]:
        row = self.get_directory(project_id, directory_id)
        if row is None:
            raise StoreError(404, f"Directory {directory_id} not found")
        return row

    def list_directories(
        self,
        project_id: str,
        *,
        name: str | None = None,
        types: Sequence[str] = (),
        include_deleted: bool = False,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One keyset page of the project's directories and the next page's token."""
        where = ["project_id = ?"]
        params: list[Any] = [project_id]
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        return self._cursor_page(
            "directories", where, params, include_deleted, page_token, page_size
        )

    def _cursor_page(
        self,
        table: str,
        where: list[str],
        params: list[Any],
        include_deleted: bool,
        page_token: str | None,
        page_size: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a cursor-paginated listing: rows after the token's ``seq``, in order."""
        if not include_deleted:
            where.append("deleted_at IS NULL")
        if page_token:
            where.append("seq > ?")
            params.append(decode_cursor(page_token))
        rows = self._all(
            f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            [*params, page_size + 1],
        )
        return _page(rows, page_size)

    def update_directory(
        self, project_id: str, directory_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply ``name``/``description`` changes."""
        self._require_directory(project_id, directory_id)
        allowed = {k: v for k, v in changes.items() if k in ("name", "description")}
        if allowed:
            sets = ", ".join(f"{k} = :{k}" for k in allowed)
            with self._tx() as db:
                db.execute(
                    f"UPDATE directories SET {sets}, updated_at = :now WHERE id = :id",
                    {**allowed, "now": now_iso(), "id": directory_id},
                )
        return self._require_directory(project_id, directory_id)

    def delete_directory(self, project_id: str, directory_id: str) -> None:
        """Soft-delete a directory and its files (jobs already created keep their items)."""
        self._require_directory(project_id, directory_id)
        now = now_iso()
        with self._tx() as db:
            db.execute(
                "UPDATE directories SET deleted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, directory_id),
            )
            db.execute(
                "UPDATE dir_files SET deleted_at = ?, updated_at = ? "
                "WHERE directory_id = ? AND deleted_at IS NULL",
                (now, now, directory_id),
            )

    # ------------------------------------------------------------------ directory files

    def add_file(
        self,
        project_id: str,
        directory_id: str,
        *,
        file_id: str,
        display_name: str | None = None,
        unique_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Put a blob into a directory; the same ``unique_id`` again replaces that entry."""
        self._require_directory(project_id, directory_id)
        blob = self.get_blob(file_id, project_id)
        if blob is None:
            raise StoreError(404, f"File {file_id} not found")
        name = display_name or blob["name"]
        unique = unique_id or blob["external_file_id"] or name
        now = now_iso()
        meta = json.dumps(metadata) if metadata is not None else None
        with self._tx() as db:
            existing = db.execute(
                "SELECT id FROM dir_files WHERE directory_id = ? AND unique_id = ? "
                "AND deleted_at IS NULL",
                (directory_id, unique),
            ).fetchone()
            if existing is not None:
                dfl_id = existing["id"]
                db.execute(
                    "UPDATE dir_files SET display_name = ?, file_id = ?, metadata = ?, "
                    "updated_at = ? WHERE id = ?",
                    (name, file_id, meta, now, dfl_id),
                )
            else:
                dfl_id = new_id("dfl")
                db.execute(
                    "INSERT INTO dir_files (id, directory_id, project_id, display_name, unique_id,"
                    " file_id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (dfl_id, directory_id, project_id, name, unique, file_id, meta, now, now),
                )
        row = self.get_file(project_id, directory_id, dfl_id)
        assert row is not None
        return row

    def get_file(
        self, project_id: str, directory_id: str, directory_file_id: str
    ) -> dict[str, Any] | None:
        """A live file of a live directory of the project, or None."""
        return self._one(
            "SELECT f.* FROM dir_files f JOIN directories d ON d.id = f.directory_id "
            "WHERE f.id = ? AND f.directory_id = ? AND f.project_id = ? "
            "AND f.deleted_at IS NULL AND d.deleted_at IS NULL",
            (directory_file_id, directory_id, project_id),
        )

    def get_file_by_id(self, directory_file_id: str) -> dict[str, Any] | None:
        """Any file (deleted or not), for the processing of items already snapshotted."""
        return self._one("SELECT * FROM dir_files WHERE id = ?", (directory_file_id,))

    def list_files(
        self,
        project_id: str,
        directory_id: str,
        *,
        display_name: str | None = None,
        display_name_contains: str | None = None,
        file_id: str | None = None,
        unique_id: str | None = None,
        include_deleted: bool = False,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One keyset page of a directory's files and the next page's token."""
        self._require_directory(project_id, directory_id)
        where = ["directory_id = ?"]
        params: list[Any] = [directory_id]
        for column, value in (
            ("display_name", display_name),
            ("file_id", file_id),
            ("unique_id", unique_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if display_name_contains is not None:
            where.append("instr(display_name, ?) > 0")
            params.append(display_name_contains)
        return self._cursor_page("dir_files", where, params, include_deleted, page_token, page_size)

    def update_file(
        self,
        project_id: str,
        directory_id: str,
        directory_file_id: str,
        changes: dict[str, Any],
    ) -> dict[str, Any]:
        """Change display name, unique id or metadata, or move to ``target_directory_id``."""
        if self.get_file(project_id, directory_id, directory_file_id) is None:
            raise StoreError(404, f"Directory file {directory_file_id} not found")
        target = changes.get("target_directory_id")
        if target:
            self._require_directory(project_id, target)
        sets: dict[str, Any] = {}
        if changes.get("display_name") is not None:
            sets["display_name"] = changes["display_name"]
        if changes.get("unique_id") is not None:
            sets["unique_id"] = changes["unique_id"]
        if "metadata" in changes:
            meta = changes["metadata"]
            sets["metadata"] = json.dumps(meta) if meta is not None else None
        if target:
            sets["directory_id"] = target
        if sets:
            assignments = ", ".join(f"{k} = :{k}" for k in sets)
            with self._tx() as db:
                db.execute(
                    f"UPDATE dir_files SET {assignments}, updated_at = :now WHERE id = :id",
                    {**sets, "now": now_iso(), "id": directory_file_id},
                )
        row = self.get_file(project_id, target or directory_id, directory_file_id)
        assert row is not None
        return row

    def delete_file(self, project_id: str, directory_id: str, directory_file_id: str) -> None:
        """Soft-delete a file of a directory."""
        if self.get_file(project_id, directory_id, directory_file_id) is None:
            raise StoreError(404, f"Directory file {directory_file_id} not found")
        now = now_iso()
        with self._tx() as db:
            db.execute(
                "UPDATE dir_files SET deleted_at = ?, updated_at = ? WHERE id = ?",
                (now, now, directory_file_id),
            )

    # ------------------------------------------------------------------ jobs

    def find_job_by_idempotency_key(self, project_id: str, key: str) -> dict[str, Any] | None:
        """The job created earlier with this Idempotency-Key in this project."""
        return self._one(
            "SELECT * FROM jobs WHERE project_id = ? AND idempotency_key = ?", (project_id, key)
        )

    def create_job(
        self,
        *,
        project_id: str,
        organization_id: str,
        job_type: str,
        job_config: str,
        parameters_hash: str,
        cache_lookup: bool,
        cache_store: bool,
        directory_id: str | None,
        item_ids: Sequence[str] | None,
        cycle_size: int | None,
        idempotency_key: str | None,
        request_hash: str | None,
    ) -> dict[str, Any]:
        """Create a job and its items in one transaction.

        ``directory_id`` snapshots the directory's live files (in upload order); ``item_ids``
        takes exactly those directory files, all of which must belong to the project.
        """
        if directory_id is not None:
            self._require_directory(project_id, directory_id)
        job_id = new_id("bjb")
        now = now_iso()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, project_id, organization_id, job_type, status, directory_id,"
                " job_config, parameters_hash, cache_lookup, cache_store, cycle_size,"
                " idempotency_key, request_hash, workflow_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    project_id,
                    organization_id,
                    job_type,
                    directory_id,
                    job_config,
                    parameters_hash,
                    int(cache_lookup),
                    int(cache_store),
                    cycle_size,
                    idempotency_key,
                    request_hash,
                    f"batch-{job_id}",
                    now,
                    now,
                ),
            )
            seq = db.execute("SELECT seq FROM jobs WHERE id = ?", (job_id,)).fetchone()["seq"]
            if directory_id is not None:
                cursor = db.execute(
                    "INSERT INTO items (job_seq, pos, item_id, item_name, status) "
                    "SELECT ?, ROW_NUMBER() OVER (ORDER BY seq) - 1, id, display_name, 'pending' "
                    "FROM dir_files WHERE directory_id = ? AND deleted_at IS NULL",
                    (seq, directory_id),
                )
                total = cursor.rowcount
            else:
                assert item_ids is not None
                cursor = db.executemany(
                    "INSERT INTO items (job_seq, pos, item_id, item_name, status) "
                    "SELECT ?, ?, id, display_name, 'pending' FROM dir_files "
                    "WHERE id = ? AND project_id = ? AND deleted_at IS NULL",
                    ((seq, pos, item, project_id) for pos, item in enumerate(item_ids)),
                )
                total = cursor.rowcount
                if total != len(item_ids):
                    missing = self._missing_items(db, project_id, item_ids)
                    raise StoreError(
                        400,
                        f"item_ids: {len(missing)} item(s) not found in this project: "
                        + ", ".join(missing[:10])
                        + (" …" if len(missing) > 10 else ""),
                    )
            db.execute(
                "UPDATE jobs SET total_items = ?, n_pending = ? WHERE seq = ?", (total, total, seq)
            )
        job = self.get_job(project_id, job_id)
        assert job is not None
        return job

    @staticmethod
    def _missing_items(
        db: sqlite3.Connection, project_id: str, item_ids: Sequence[str]
    ) -> list[str]:
        missing: list[str] = []
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            found = {
                r["id"]
                for r in db.execute(
                    f"SELECT id FROM dir_files WHERE project_id = ? AND deleted_at IS NULL "
                    f"AND id IN ({','.join('?' * len(chunk))})",
                    [project_id, *chunk],
                )
            }
            missing.extend(i for i in chunk if i not in found)
        return missing

    def get_job(self, project_id: str | None, job_id: str) -> dict[str, Any] | None:
        """A job of the project (any project when ``project_id`` is None), or None."""
        if project_id is None:
            return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._one("SELECT * FROM jobs WHERE id = ? AND project_id = ?", (job_id, project_id))

    def list_jobs(
        self,
        project_id: str,
        *,
        directory_id: str | None = None,
        job_type: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One offset page of the project's jobs (oldest first) and the filtered total."""
        where = ["project_id = ?"]
        params: list[Any] = [project_id]
        for column, value in (
            ("directory_id", directory_id),
            ("job_type", job_type),
            ("status", status),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = " AND ".join(where)
        total = self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE {clause}", params).fetchone()[0]
        rows = self._all(
            f"SELECT * FROM jobs WHERE {clause} ORDER BY seq LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return rows, int(total)

    def cancel_job(self, job: dict[str, Any], reason: str | None) -> tuple[dict[str, Any], bool]:
        """Cancel pending items and the job. Returns the job and whether it was still active."""
        if job["status"] not in _ACTIVE_JOB_STATUSES:
            return job, False
        now = now_iso()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET status = 'cancelled', completed_at = ? "
                "WHERE job_seq = ? AND status = 'pending'",
                (now, job["seq"]),
            )
            cancelled = cursor.rowcount
            db.execute(
                "UPDATE jobs SET status = 'cancelled', n_pending = n_pending - ?, "
                "n_cancelled = n_cancelled + ?, cancel_reason = ?, completed_at = ?, "
                "updated_at = ? WHERE seq = ?",
                (cancelled, cancelled, reason, now, now, job["seq"]),
            )
        fresh = self.get_job(job["project_id"], job["id"])
        assert fresh is not None
        return fresh, True

    # ------------------------------------------------------------------ items and results

    def list_items(
        self, job: dict[str, Any], *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """One offset page of a job's items (in job order) and the filtered total.

        The total comes from the job's counters, which are kept in step with the items.
        """
        if status is None:
            rows = self._all(
                "SELECT * FROM items WHERE job_seq = ? ORDER BY pos LIMIT ? OFFSET ?",
                (job["seq"], limit, offset),
            )
            return rows, int(job["total_items"])
        rows = self._all(
            "SELECT * FROM items WHERE job_seq = ? AND status = ? ORDER BY pos LIMIT ? OFFSET ?",
            (job["seq"], status, limit, offset),
        )
        counter = _COUNTER.get(status)
        return rows, int(job[counter]) if counter else 0

    def item_results(
        self, project_id: str, item_id: str, *, job_type: str | None = None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """An item (directory file) of the project and its processing results, oldest first."""
        item = self._one(
            "SELECT id, display_name FROM dir_files WHERE id = ? AND project_id = ?",
            (item_id, project_id),
        )
        if item is None:
            return None, []
        sql = (
            "SELECT r.*, j.job_config FROM results r JOIN jobs j ON j.seq = r.job_seq "
            "WHERE r.item_id = ? AND r.project_id = ?"
        )
        params: list[Any] = [item_id, project_id]
        if job_type is not None:
            sql += " AND r.job_type = ?"
            params.append(job_type)
        return item, self._all(sql + " ORDER BY r.seq", params)

    def has_cached_result(
        self, item_id: str, job_type: str, parameters_hash: str, content_sha: str
    ) -> bool:
        """Whether the item was already processed successfully with these parameters."""
        row = self._db.execute(
            "SELECT 1 FROM results WHERE item_id = ? AND job_type = ? AND parameters_hash = ? "
            "AND content_sha = ? AND cacheable = 1 LIMIT 1",
            (item_id, job_type, parameters_hash, content_sha),
        ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ scheduling

    def active_jobs(self) -> list[dict[str, Any]]:
        """Jobs that are not finished, oldest first."""
        return self._all(
            "SELECT * FROM jobs WHERE status IN ('pending', 'running', 'dispatched') ORDER BY seq"
        )

    def claim_items(
        self, job: dict[str, Any], limit: int, *, dispatched_status: bool, id_prefix: str
    ) -> list[ClaimedItem]:
        """Hand out up to ``limit`` pending items of the job's current cycle.

        A cycle is ``cycle_size`` consecutive items; the next cycle starts only when every item of
        the current one is finished (the service's continue-as-new loop).
        """
        if limit <= 0:
            return []
        seq = job["seq"]
        with self._tx() as db:
            fresh = db.execute("SELECT * FROM jobs WHERE seq = ?", (seq,)).fetchone()
            if fresh is None or fresh["status"] not in _ACTIVE_JOB_STATUSES:
                return []
            cycle = int(fresh["cycle"])
            size = fresh["cycle_size"]
            bound = (cycle + 1) * size if size else fresh["total_items"]
            rows = db.execute(
                "SELECT pos, item_id, item_name FROM items WHERE job_seq = ? AND status = 'pending'"
                " AND pos < ? ORDER BY pos LIMIT ?",
                (seq, bound, limit),
            ).fetchall()
            if not rows and size and fresh["n_pending"] > 0 and fresh["n_processing"] == 0:
                # Every item of this cycle is finished: continue as new with the next one.
                cycle += 1
                db.execute("UPDATE jobs SET cycle = ? WHERE seq = ?", (cycle, seq))
                rows = db.execute(
                    "SELECT pos, item_id, item_name FROM items WHERE job_seq = ? "
                    "AND status = 'pending' AND pos < ? ORDER BY pos LIMIT ?",
                    (seq, (cycle + 1) * size, limit),
                ).fetchall()
            if not rows:
                return []
            now = now_iso()
            claimed = []
            for row in rows:
                underlying = new_id(id_prefix)
                db.execute(
                    "UPDATE items SET status = 'processing', started_at = ?, job_id = ? "
                    "WHERE job_seq = ? AND pos = ?",
                    (now, underlying, seq, row["pos"]),
                )
                claimed.append(
                    ClaimedItem(
                        job_seq=seq,
                        job_id=fresh["id"],
                        project_id=fresh["project_id"],
                        pos=int(row["pos"]),
                        item_id=row["item_id"],
                        item_name=row["item_name"],
                        underlying_job_id=underlying,
                    )
                )
            n = len(claimed)
            remaining = int(fresh["n_pending"]) - n
            status = "dispatched" if dispatched_status and remaining == 0 else "running"
            db.execute(
                "UPDATE jobs SET n_pending = n_pending - ?, n_processing = n_processing + ?, "
                "status = ?, started_at = COALESCE(started_at, ?), updated_at = ? WHERE seq = ?",
                (n, n, status, now, now, seq),
            )
        return claimed

    def is_processing(self, job_seq: int, pos: int) -> bool:
        """Whether an item is still ``processing`` (not finished by ``advance`` or a reset)."""
        row = self._db.execute(
            "SELECT 1 FROM items WHERE job_seq = ? AND pos = ? AND status = 'processing'",
            (job_seq, pos),
        ).fetchone()
        return row is not None

    def processing_items(self, job_seq: int | None = None) -> list[dict[str, Any]]:
        """Items currently ``processing`` (of one job or all), in claim order."""
        sql = (
            "SELECT i.*, j.id AS batch_id, j.project_id FROM items i JOIN jobs j ON j.seq = i.job_seq"
            " WHERE i.status = 'processing'"
        )
        params: list[Any] = []
        if job_seq is not None:
            sql += " AND i.job_seq = ?"
            params.append(job_seq)
        return self._all(sql + " ORDER BY i.started_at, i.job_seq, i.pos", params)

    def finish_item(
        self,
        item: ClaimedItem,
        *,
        status: str,
        error_message: str | None = None,
        skip_reason: str | None = None,
        attempted: bool = False,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Record an item's outcome, its result and the job's counters in one transaction.

        Returns False when the item was no longer processing (already finished elsewhere).
        """
        now = now_iso()
        counter = _COUNTER[status]
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET status = ?, completed_at = ?, error_message = ?, skip_reason = ? "
                "WHERE job_seq = ? AND pos = ? AND status = 'processing'",
                (status, now, error_message, skip_reason, item.job_seq, item.pos),
            )
            if cursor.rowcount == 0:
                return False
            db.execute(
                f"UPDATE jobs SET n_processing = n_processing - 1, {counter} = {counter} + 1, "
                "updated_at = ? WHERE seq = ?",
                (now, item.job_seq),
            )
            if attempted:
                db.execute(
                    "UPDATE dir_files SET attempts = attempts + 1 WHERE id = ?", (item.item_id,)
                )
            if result is not None:
                db.execute(
                    "INSERT INTO results (result_id, item_id, project_id, job_seq, job_type,"
                    " parameters_hash, content_sha, cacheable, output_s3_path, output_metadata,"
                    " processed_at) VALUES (:result_id, :item_id, :project_id, :job_seq, :job_type,"
                    " :parameters_hash, :content_sha, :cacheable, :output_s3_path,"
                    " :output_metadata, :processed_at)",
                    {**result, "processed_at": now},
                )
            self._finalize(db, item.job_seq, now)
        return True

    def finalize_job(self, job_seq: int) -> None:
        """End a job with nothing left to do (e.g. one with no items)."""
        with self._tx() as db:
            self._finalize(db, job_seq, now_iso())

    @staticmethod
    def _finalize(db: sqlite3.Connection, job_seq: int, now: str) -> None:
        job = db.execute("SELECT * FROM jobs WHERE seq = ?", (job_seq,)).fetchone()
        if job is None or job["status"] not in _ACTIVE_JOB_STATUSES:
            return
        if job["n_pending"] or job["n_processing"]:
            return
        total, failed = int(job["total_items"]), int(job["n_failed"])
        if total > 0 and failed == total:
            status, message = "failed", f"All {total} items failed"
        else:
            status, message = "completed", None
        db.execute(
            "UPDATE jobs SET status = ?, error_message = ?, completed_at = ?, updated_at = ?, "
            "started_at = COALESCE(started_at, ?) WHERE seq = ?",
            (status, message, now, now, now, job_seq),
        )

    def fail_job(self, job_seq: int, message: str) -> None:
        """End a job as failed after an internal error; its unfinished items are cancelled."""
        now = now_iso()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE items SET status = 'cancelled', completed_at = ? "
                "WHERE job_seq = ? AND status = 'pending'",
                (now, job_seq),
            )
            n = cursor.rowcount
            db.execute(
                "UPDATE jobs SET status = 'failed', error_message = ?, completed_at = ?, "
                "updated_at = ?, n_pending = n_pending - ?, n_cancelled = n_cancelled + ? "
                "WHERE seq = ?",
                (message, now, now, n, n, job_seq),
            )

    # ------------------------------------------------------------------ ground truth

    def all_jobs(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """Every job (of every project), or the one named."""
        if job_id is not None:
            return self._all("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self._all("SELECT * FROM jobs ORDER BY seq")

    def snapshot(self, job_id: str | None, max_items: int) -> list[dict[str, Any]]:
        """Jobs with up to ``max_items`` items each, read in one transaction (a consistent view)."""
        with self._tx():
            jobs = self.all_jobs(job_id)
            for job in jobs:
                job["items"] = self._all(
                    "SELECT i.*, r.output_s3_path, r.parameters_hash, r.result_id "
                    "FROM items i LEFT JOIN results r "
                    "ON r.job_seq = i.job_seq AND r.item_id = i.item_id "
                    "WHERE i.job_seq = ? ORDER BY i.pos LIMIT ?",
                    (job["seq"], max_items),
                )
        return jobs


def _page(rows: list[dict[str, Any]], page_size: int) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, encode_cursor(int(rows[-1]["seq"]))
    return rows, None
