"""Batch jobs, their items and results, and the ground truth the admin API reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from prefect_llamabatch.emulator.store.base import (
    _ACTIVE_JOB_STATUSES,
    _COUNTER,
    StoreError,
    new_id,
    now_iso,
)
from prefect_llamabatch.emulator.store.directories import DirectoryRows

__all__ = ["JobRows"]


class JobRows(DirectoryRows):
    """Jobs (created, listed, cancelled) over directories, their items and results."""

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
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        """One offset page of the project's jobs (oldest or newest first) and the filtered total."""
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
            f"SELECT * FROM jobs WHERE {clause} ORDER BY seq {'DESC' if newest_first else 'ASC'} "
            "LIMIT ? OFFSET ?",
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
        self,
        job: dict[str, Any],
        *,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], int]:
        """One offset page of a job's items (job order, or reversed) and the filtered total.

        The total comes from the job's counters, which are kept in step with the items.
        """
        order = "DESC" if newest_first else "ASC"
        if status is None:
            rows = self._all(
                f"SELECT * FROM items WHERE job_seq = ? ORDER BY pos {order} LIMIT ? OFFSET ?",
                (job["seq"], limit, offset),
            )
            return rows, int(job["total_items"])
        rows = self._all(
            "SELECT * FROM items WHERE job_seq = ? AND status = ? "
            f"ORDER BY pos {order} LIMIT ? OFFSET ?",
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
