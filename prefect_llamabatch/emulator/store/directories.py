"""Blobs (uploaded bytes), directories and the files in them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from prefect_llamabatch.emulator.store.base import (
    StoreBase,
    StoreError,
    new_id,
    now_iso,
)

__all__ = ["DirectoryRows"]


class DirectoryRows(StoreBase):
    """Blobs, directories and directory files."""

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
        newest_first: bool = False,
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
            "directories", where, params, include_deleted, page_token, page_size, newest_first
        )

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

    def directory_files(self, directory_id: str) -> list[dict[str, Any]]:
        """Every live file of a directory, in upload order."""
        return self._all(
            "SELECT * FROM dir_files WHERE directory_id = ? AND deleted_at IS NULL ORDER BY seq",
            (directory_id,),
        )

    def count_files(self, directory_id: str) -> int:
        """How many live files a directory holds."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM dir_files WHERE directory_id = ? AND deleted_at IS NULL",
            (directory_id,),
        )
        return int(row["n"]) if row else 0

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
        newest_first: bool = False,
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
        return self._cursor_page(
            "dir_files", where, params, include_deleted, page_token, page_size, newest_first
        )

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
