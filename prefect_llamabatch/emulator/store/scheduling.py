"""Scheduling: items claimed for processing, finished, and the job counters kept in step."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from prefect_llamabatch.emulator.store.base import (
    _ACTIVE_JOB_STATUSES,
    _COUNTER,
    StoreBase,
    new_id,
    now_iso,
)

__all__ = ["ClaimedItem", "SchedulingRows"]


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


class SchedulingRows(StoreBase):
    """What the scheduler claims, finishes and finalises."""

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
