"""The emulator's v2 backend: saved configurations, batches, per-file parse/extract jobs, outputs.

It owns its tables in the same SQLite database as the v1 store (emptied by the same reset) and a
small runner in the server's event loop that moves batches and their jobs forward:

* a ``PENDING`` batch starts when its project runs fewer than ``v2_max_running_batches`` batches
  (otherwise it waits as ``THROTTLED``); starting maps every file of the source directory to one
  job (``results``), then the batch is ``RUNNING``;
* each running batch has up to ``concurrency`` jobs ``RUNNING``; a job takes the item duration and
  ends ``COMPLETED`` or ``FAILED`` by the v1 outcome rules (:func:`outcomes.decide_outcome`);
* a batch is ``COMPLETED`` when every job is finished (whatever their outcomes), ``FAILED`` when
  its source directory disappeared before it started, ``CANCELLED`` when cancelled.

Outputs (markdown, text, items, extract results) are derived from the file's bytes when asked for,
so a v1 item's parse job (its ``job_id``) yields the same outputs as a v2 job.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect_llamabatch.emulator.layout import blob_path
from prefect_llamabatch.emulator.outcomes import (
    UnreadableDocument,
    decide_outcome,
    document_text,
    render_markdown,
)
from prefect_llamabatch.emulator.store import StoreError, new_id
from prefect_llamabatch.models import BatchParseJobRecordCreate
from prefect_llamabatch.models.v2 import PARSE_PRESETS, TERMINAL_BATCH_STATUSES

if TYPE_CHECKING:
    from prefect_llamabatch.emulator.state import EmulatorState

__all__ = ["V2Backend", "V2Document", "extract_values", "markdown_items", "v2_time"]

logger = logging.getLogger("prefect_llamabatch.emulator")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS v2_configurations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    product_type TEXT NOT NULL,
    parameters TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS v2_configurations_key
    ON v2_configurations(project_id, name, product_type);
CREATE TABLE IF NOT EXISTS v2_batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    project_id TEXT NOT NULL,
    source_directory_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    configuration_id TEXT NOT NULL,
    parameters TEXT NOT NULL,
    webhooks TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS v2_batches_project ON v2_batches(project_id, seq);
CREATE INDEX IF NOT EXISTS v2_batches_status ON v2_batches(status, seq);
CREATE TABLE IF NOT EXISTS v2_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    project_id TEXT NOT NULL,
    batch_seq INTEGER NOT NULL,
    source_directory_file_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    name TEXT NOT NULL,
    configuration_id TEXT NOT NULL,
    tier TEXT,
    status TEXT NOT NULL,
    error_message TEXT,
    due_at REAL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS v2_jobs_project ON v2_jobs(kind, project_id, seq);
CREATE INDEX IF NOT EXISTS v2_jobs_batch ON v2_jobs(batch_seq, status);
CREATE INDEX IF NOT EXISTS v2_jobs_due ON v2_jobs(status, due_at);
CREATE TABLE IF NOT EXISTS v2_results (
    batch_seq INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    source_directory_file_id TEXT NOT NULL,
    job_id TEXT,
    job_type TEXT NOT NULL,
    error_message TEXT,
    PRIMARY KEY (batch_seq, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_job_id ON items(job_id);
"""
_TABLES = ("v2_configurations", "v2_batches", "v2_jobs", "v2_results")
_ACTIVE_BATCH = ("PENDING", "THROTTLED", "RUNNING")
_V1_STATUS = {
    "pending": "PENDING",
    "processing": "RUNNING",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
}
_PRESET_CREATED = "2026-01-01T00:00:00.000000+00:00"


def v2_time(value: datetime | None = None) -> str:
    """A UTC timestamp in one fixed ISO-8601 form (microseconds always), so text order is time
    order in SQL comparisons."""
    moment = value if value is not None else datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _encode(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v2:{seq}".encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, seq = raw.partition(":")
        if prefix != "v2":
            raise ValueError(raw)
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        raise StoreError(400, "page_token: not a token returned by this API") from None


@dataclass(frozen=True)
class V2Document:
    """What the outputs of one parse/extract job are derived from."""

    job: dict[str, Any]
    name: str
    data: bytes | None


def markdown_items(markdown: str) -> list[dict[str, Any]]:
    """Structured items of a markdown page: ``#`` lines become headings, other blocks text."""
    items: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        if not block.strip():
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", block.strip())
        if heading and "\n" not in block.strip():
            items.append(
                {
                    "type": "heading",
                    "level": len(heading.group(1)),
                    "md": block.strip(),
                    "value": heading.group(2).strip(),
                }
            )
        else:
            items.append({"type": "text", "md": block.strip(), "value": block.strip()})
    return items


def extract_values(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """An extract result for a JSON schema: each top-level property found as ``name: value`` in
    the text (any case, ``_`` matching a space), cast to its type; null when not found."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    result: dict[str, Any] = {}
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        label = re.escape(str(name)).replace("_", "[ _]")
        found = re.search(rf"(?im)\b{label}\b\s*[:=]?\s*(.+?)\s*$", text)
        raw = found.group(1) if found else None
        result[str(name)] = _cast(raw, kind)
    return result


def _cast(raw: str | None, kind: Any) -> Any:
    if raw is None:
        return None
    if kind in ("number", "integer"):
        number = re.search(r"-?\d+(?:\.\d+)?", raw.replace(",", ""))
        if number is None:
            return None
        value = float(number.group(0))
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return raw.strip().lower() in ("true", "yes", "1")
    return raw


class V2Backend:
    """State and processing of the v2 API for one emulator (see the module docstring)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        state.store.extend(_SCHEMA, _TABLES)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def _store(self) -> Any:
        return self.state.store

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self._store.fetch_one(sql, params)
        return dict(row) if row is not None else None

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._store.fetch_all(sql, params)]

    def _page(
        self,
        table: str,
        where: list[str],
        params: list[Any],
        page_size: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; the token is the last row's ``seq`` (keyset, stable under inserts)."""
        if page_token:
            where = [*where, "seq < ?"]
            params = [*params, _decode(page_token)]
        clause = " AND ".join(where) if where else "1"
        rows = self._all(
            f"SELECT * FROM {table} WHERE {clause} ORDER BY seq DESC LIMIT ?",
            [*params, page_size + 1],
        )
        if len(rows) > page_size:
            rows = rows[:page_size]
            return rows, _encode(int(rows[-1]["seq"]))
        return rows, None

    def start(self) -> None:
        """Start the runner (in the server's event loop)."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the runner."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def wake(self) -> None:
        """Run a step now (after a change that may let something move)."""
        self._wake.set()

    # ------------------------------------------------------------------ configurations

    @staticmethod
    def preset(configuration_id: str) -> dict[str, Any] | None:
        """A built-in parse preset (``cfg-PARSE_<TIER>``), as a configuration row."""
        tier = PARSE_PRESETS.get(configuration_id)
        if tier is None:
            return None
        return {
            "id": configuration_id,
            "name": configuration_id.removeprefix("cfg-"),
            "product_type": "parse_v2",
            "parameters": json.dumps(
                {"product_type": "parse_v2", "tier": tier, "version": "latest"}
            ),
            "version": _PRESET_CREATED,
            "created_at": _PRESET_CREATED,
            "updated_at": _PRESET_CREATED,
        }

    def upsert_configuration(
        self, project_id: str, name: str, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        """Create a configuration, or update the one with the same name and product type."""
        product_type = str(parameters["product_type"])
        now = v2_time()
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO v2_configurations (id, project_id, name, product_type, parameters,"
                " version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(project_id, name, product_type) DO UPDATE SET "
                "parameters = excluded.parameters, version = excluded.version, "
                "updated_at = excluded.updated_at",
                (
                    new_id("cfg"),
                    project_id,
                    name,
                    product_type,
                    json.dumps(parameters),
                    now,
                    now,
                    now,
                ),
            )
        row = self._one(
            "SELECT * FROM v2_configurations WHERE project_id = ? AND name = ? AND product_type = ?",
            (project_id, name, product_type),
        )
        assert row is not None
        return row

    def get_configuration(self, project_id: str, configuration_id: str) -> dict[str, Any] | None:
        """A configuration of the project or a built-in preset."""
        return self.preset(configuration_id) or self._one(
            "SELECT * FROM v2_configurations WHERE id = ? AND project_id = ?",
            (configuration_id, project_id),
        )

    def require_configuration(self, project_id: str, configuration_id: str) -> dict[str, Any]:
        """:meth:`get_configuration`, or 404."""
        row = self.get_configuration(project_id, configuration_id)
        if row is None:
            raise StoreError(404, f"Configuration {configuration_id} not found")
        return row

    def list_configurations(
        self,
        project_id: str,
        *,
        name: str | None,
        product_types: Sequence[str],
        page_size: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the project's saved configurations (presets are not listed)."""
        where, params = ["project_id = ?"], [project_id]
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if product_types:
            where.append(f"product_type IN ({','.join('?' * len(product_types))})")
            params.extend(product_types)
        return self._page("v2_configurations", where, params, page_size, page_token)

    def update_configuration(
        self,
        project_id: str,
        configuration_id: str,
        *,
        name: str | None,
        parameters: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Change a saved configuration's name and/or parameters (presets are read-only)."""
        if self.preset(configuration_id) is not None:
            raise StoreError(400, f"Configuration {configuration_id} is a built-in preset")
        row = self.require_configuration(project_id, configuration_id)
        new_name = name if name is not None else row["name"]
        new_type = (
            str(parameters["product_type"]) if parameters is not None else row["product_type"]
        )
        if (new_name, new_type) != (row["name"], row["product_type"]):
            clash = self._one(
                "SELECT id FROM v2_configurations WHERE project_id = ? AND name = ? "
                "AND product_type = ? AND id != ?",
                (project_id, new_name, new_type, configuration_id),
            )
            if clash is not None:
                raise StoreError(409, f"A {new_type} configuration named {new_name!r} exists")
        now = v2_time()
        with self._store.transaction() as db:
            db.execute(
                "UPDATE v2_configurations SET name = ?, product_type = ?, parameters = ?, "
                "version = ?, updated_at = ? WHERE id = ?",
                (
                    new_name,
                    new_type,
                    json.dumps(parameters) if parameters is not None else row["parameters"],
                    now,
                    now,
                    configuration_id,
                ),
            )
        return self.require_configuration(project_id, configuration_id)

    def delete_configuration(self, project_id: str, configuration_id: str) -> None:
        """Delete a saved configuration (batches keep the snapshot they started with)."""
        if self.preset(configuration_id) is not None:
            raise StoreError(400, f"Configuration {configuration_id} is a built-in preset")
        self.require_configuration(project_id, configuration_id)
        with self._store.transaction() as db:
            db.execute("DELETE FROM v2_configurations WHERE id = ?", (configuration_id,))

    # ------------------------------------------------------------------ batches

    def create_batch(
        self,
        project_id: str,
        *,
        source_directory_id: str,
        job_type: str,
        configuration: dict[str, Any],
        webhooks: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Record a ``PENDING`` batch (files are mapped to jobs when it starts)."""
        now = v2_time()
        batch_id = new_id("bat")
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO v2_batches (id, project_id, source_directory_id, job_type,"
                " configuration_id, parameters, webhooks, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'PENDING', ?, ?)",
                (
                    batch_id,
                    project_id,
                    source_directory_id,
                    job_type,
                    configuration["id"],
                    configuration["parameters"],
                    json.dumps(webhooks) if webhooks else None,
                    now,
                    now,
                ),
            )
        self.wake()
        batch = self.get_batch(project_id, batch_id)
        assert batch is not None
        return batch

    def get_batch(self, project_id: str, batch_id: str) -> dict[str, Any] | None:
        """A batch of the project, or None."""
        return self._one(
            "SELECT * FROM v2_batches WHERE id = ? AND project_id = ?", (batch_id, project_id)
        )

    def list_batches(
        self,
        project_id: str,
        *,
        source_directory_id: str | None,
        status: str | None,
        created_after: str | None,
        created_before: str | None,
        page_size: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the project's batches, newest first."""
        where, params = ["project_id = ?"], [project_id]
        for column, op, value in (
            ("source_directory_id", "=", source_directory_id),
            ("status", "=", status),
            ("created_at", ">=", created_after),
            ("created_at", "<=", created_before),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        return self._page("v2_batches", where, params, page_size, page_token)

    def batch_results(self, batch: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The per-file mappings of a finished batch (None while it is not finished)."""
        if batch["status"] not in TERMINAL_BATCH_STATUSES:
            return None
        return self._all(
            "SELECT * FROM v2_results WHERE batch_seq = ? ORDER BY pos", (batch["seq"],)
        )

    def cancel_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Cancel an unfinished batch: its pending jobs are cancelled, running ones finish.

        Raises:
            StoreError: 400 for a batch already in a final status.
        """
        if batch["status"] in TERMINAL_BATCH_STATUSES:
            raise StoreError(
                400,
                f"Batch {batch['id']} is already {batch['status']} and cannot be cancelled",
            )
        now = v2_time()
        with self._store.transaction() as db:
            db.execute(
                "UPDATE v2_batches SET status = 'CANCELLED', updated_at = ? WHERE seq = ?",
                (now, batch["seq"]),
            )
            db.execute(
                "UPDATE v2_jobs SET status = 'CANCELLED', updated_at = ?, due_at = NULL "
                "WHERE batch_seq = ? AND status = 'PENDING'",
                (now, batch["seq"]),
            )
        self.wake()
        fresh = self.get_batch(batch["project_id"], batch["id"])
        assert fresh is not None
        return fresh

    # ------------------------------------------------------------------ jobs

    def list_jobs(
        self,
        kind: str,
        project_id: str,
        *,
        job_ids: Sequence[str],
        status: str | None,
        created_after: str | None,
        created_before: str | None,
        configuration_id: str | None,
        page_size: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the project's parse or extract jobs, newest first."""
        where, params = ["kind = ?", "project_id = ?"], [kind, project_id]
        if job_ids:
            where.append(f"id IN ({','.join('?' * len(job_ids))})")
            params.extend(job_ids)
        for column, op, value in (
            ("status", "=", status),
            ("created_at", ">=", created_after),
            ("created_at", "<=", created_before),
            ("configuration_id", "=", configuration_id),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        return self._page("v2_jobs", where, params, page_size, page_token)

    def get_job(self, kind: str, project_id: str, job_id: str) -> dict[str, Any] | None:
        """A v2 job of the project; for ``parse``, also the parse job behind a v1 item."""
        row = self._one(
            "SELECT * FROM v2_jobs WHERE id = ? AND kind = ? AND project_id = ?",
            (job_id, kind, project_id),
        )
        if row is not None or kind != "parse":
            return row
        item = self._one(
            "SELECT i.*, j.project_id, j.job_type, j.created_at AS batch_created_at "
            "FROM items i JOIN jobs j ON j.seq = i.job_seq WHERE i.job_id = ?",
            (job_id,),
        )
        if item is None or item["project_id"] != project_id or item["job_type"] != "parse":
            return None
        status = _V1_STATUS.get(item["status"], "COMPLETED")
        error = item["error_message"]
        if item["status"] == "skipped":
            # An item skipped as already processed has that output; one over the size limit none.
            if item["skip_reason"] != "already_processed":
                status, error = "FAILED", f"Skipped: {item['skip_reason']}"
        dir_file = self._store.get_file_by_id(item["item_id"])
        created = item["started_at"] or item["batch_created_at"]
        return {
            "id": job_id,
            "kind": "parse",
            "project_id": project_id,
            "source_directory_file_id": item["item_id"],
            "file_id": dir_file["file_id"] if dir_file else "",
            "name": item["item_name"],
            "configuration_id": "",
            "tier": None,
            "status": status,
            "error_message": error,
            "created_at": v2_time(datetime.fromisoformat(created)),
            "updated_at": v2_time(datetime.fromisoformat(item["completed_at"] or created)),
            "parameters": None,
        }

    def document(self, job: dict[str, Any]) -> V2Document:
        """The job's file name and bytes (bytes None if the file is gone)."""
        blob = self._store.get_blob(job["file_id"]) if job["file_id"] else None
        if blob is None:
            return V2Document(job, job["name"], None)
        path: Path = blob_path(self.state.data_dir, blob["id"])
        return V2Document(job, job["name"], path.read_bytes() if path.exists() else None)

    def job_parameters(self, job: dict[str, Any]) -> dict[str, Any]:
        """The configuration parameters the job's batch snapshotted."""
        row = self._one("SELECT parameters FROM v2_batches WHERE seq = ?", (job["batch_seq"],))
        if row is None:
            return {}
        loaded: dict[str, Any] = json.loads(row["parameters"])
        return loaded

    # ------------------------------------------------------------------ presigned output URLs

    def sign_output(self, job_id: str, output: str) -> str:
        """A presigned URL of one output of a job, valid ``v2_presigned_url_ttl_seconds``."""
        expires = int(time.time()) + self.state.config.v2_presigned_url_ttl_seconds
        signature = self._signature(job_id, output, expires)
        return (
            f"{self.state.base_url}/_emulator/v2/outputs/{job_id}/{output}"
            f"?expires={expires}&signature={signature}"
        )

    def check_output(self, job_id: str, output: str, expires: int, signature: str) -> bool:
        """Whether an output URL's signature is valid and it has not expired."""
        if expires < time.time():
            return False
        return hmac.compare_digest(self._signature(job_id, output, expires), signature)

    def _signature(self, job_id: str, output: str, expires: int) -> str:
        key = self.state.config.admin_token.get_secret_value().encode()
        message = f"v2:{job_id}:{output}:{expires}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ the runner

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            delay = 0.5
            if not self.state.scheduler.frozen:
                try:
                    delay = self.step(time.time())
                except Exception:  # keep serving; a broken step must not kill the loop
                    logger.exception("emulator v2 runner step failed")
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)

    def step(self, now: float) -> float:
        """Move everything that can move at ``now``; returns seconds until the next change."""
        self._start_batches()
        self._finish_due_jobs(now)
        started_any = self._start_jobs(now)
        self._complete_batches()
        if started_any and self.state.scheduler.settings.item_seconds <= 0:
            return 0.0
        row = self._one("SELECT MIN(due_at) AS due FROM v2_jobs WHERE status = 'RUNNING'")
        if row is None or row["due"] is None:
            return 0.5
        return max(0.0, min(0.5, float(row["due"]) - time.time()))

    def _start_batches(self) -> None:
        limit = self.state.config.v2_max_running_batches
        waiting = self._all(
            "SELECT * FROM v2_batches WHERE status IN ('PENDING', 'THROTTLED') ORDER BY seq"
        )
        for batch in waiting:
            if limit is not None:
                running = self._one(
                    "SELECT COUNT(*) AS n FROM v2_batches WHERE project_id = ? AND status = 'RUNNING'",
                    (batch["project_id"],),
                )
                if running is not None and int(running["n"]) >= limit:
                    if batch["status"] != "THROTTLED":
                        self._set_batch_status(batch["seq"], "THROTTLED")
                    continue
            self._map_batch(batch)

    def _set_batch_status(self, seq: int, status: str) -> None:
        with self._store.transaction() as db:
            db.execute(
                "UPDATE v2_batches SET status = ?, updated_at = ? WHERE seq = ?",
                (status, v2_time(), seq),
            )

    def _map_batch(self, batch: dict[str, Any]) -> None:
        """Map every file of the source directory to a new job; the batch is then RUNNING."""
        directory = self._store.get_directory(batch["project_id"], batch["source_directory_id"])
        if directory is None:
            self._set_batch_status(batch["seq"], "FAILED")
            return
        files = self._store.directory_files(batch["source_directory_id"])
        kind = "extract" if batch["job_type"] == "extract_v2" else "parse"
        prefix = "exj" if kind == "extract" else "pjb"
        parameters = json.loads(batch["parameters"])
        tier = parameters.get("tier") if isinstance(parameters, dict) else None
        now = v2_time()
        with self._store.transaction() as db:
            for pos, dir_file in enumerate(files):
                blob = self._store.get_blob(dir_file["file_id"])
                job_id = None
                error = None
                if blob is None:
                    error = f"File {dir_file['file_id']} of {dir_file['id']} not found"
                else:
                    job_id = new_id(prefix)
                    db.execute(
                        "INSERT INTO v2_jobs (id, kind, project_id, batch_seq,"
                        " source_directory_file_id, file_id, name, configuration_id, tier,"
                        " status, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?, ?)",
                        (
                            job_id,
                            kind,
                            batch["project_id"],
                            batch["seq"],
                            dir_file["id"],
                            dir_file["file_id"],
                            dir_file["display_name"],
                            batch["configuration_id"],
                            tier if isinstance(tier, str) else None,
                            now,
                            now,
                        ),
                    )
                db.execute(
                    "INSERT INTO v2_results VALUES (?, ?, ?, ?, ?, ?)",
                    (batch["seq"], pos, dir_file["id"], job_id, batch["job_type"], error),
                )
            db.execute(
                "UPDATE v2_batches SET status = 'RUNNING', updated_at = ? WHERE seq = ?",
                (now, batch["seq"]),
            )

    def _start_jobs(self, now: float) -> bool:
        settings = self.state.scheduler.settings
        started = False
        for batch in self._all("SELECT seq FROM v2_batches WHERE status = 'RUNNING'"):
            running = self._one(
                "SELECT COUNT(*) AS n FROM v2_jobs WHERE batch_seq = ? AND status = 'RUNNING'",
                (batch["seq"],),
            )
            free = settings.concurrency - (int(running["n"]) if running else 0)
            if free <= 0:
                continue
            pending = self._all(
                "SELECT seq FROM v2_jobs WHERE batch_seq = ? AND status = 'PENDING' "
                "ORDER BY seq LIMIT ?",
                (batch["seq"], free),
            )
            if not pending:
                continue
            stamp = v2_time()
            with self._store.transaction() as db:
                db.executemany(
                    "UPDATE v2_jobs SET status = 'RUNNING', due_at = ?, updated_at = ? "
                    "WHERE seq = ?",
                    [(now + settings.item_seconds, stamp, r["seq"]) for r in pending],
                )
            started = True
        return started

    def _finish_due_jobs(self, now: float) -> None:
        due = self._all(
            "SELECT * FROM v2_jobs WHERE status = 'RUNNING' AND due_at <= ? ORDER BY due_at LIMIT 500",
            (now,),
        )
        outcome_settings = self.state.scheduler.settings.outcome
        for job in due:
            blob = self._store.get_blob(job["file_id"])
            attempted = False
            if blob is None:
                status, error = "FAILED", f"File {job['file_id']} not found"
            else:
                size = int(blob["size"])
                too_big = (
                    outcome_settings.max_file_size_bytes is not None
                    and size > outcome_settings.max_file_size_bytes
                )
                data = None if too_big else blob_path(self.state.data_dir, blob["id"]).read_bytes()
                outcome = decide_outcome(
                    name=job["name"],
                    size=size,
                    data=data,
                    config=BatchParseJobRecordCreate(),
                    settings=outcome_settings,
                    previous_attempts=self._attempts_of_file(job["file_id"]),
                    cached=False,
                )
                attempted = outcome.attempted
                if outcome.status == "completed":
                    status, error = "COMPLETED", None
                elif outcome.status == "skipped":
                    status = "FAILED"
                    error = f"File {job['name']} is larger than the maximum file size"
                else:
                    status, error = "FAILED", outcome.error_message
            with self._store.transaction() as db:
                db.execute(
                    "UPDATE v2_jobs SET status = ?, error_message = ?, due_at = NULL, "
                    "updated_at = ? WHERE seq = ? AND status = 'RUNNING'",
                    (status, error, v2_time(), job["seq"]),
                )
                if attempted:
                    db.execute(
                        "UPDATE dir_files SET attempts = attempts + 1 WHERE id = ?",
                        (job["source_directory_file_id"],),
                    )

    def _attempts_of_file(self, file_id: str) -> int:
        """Processings of an uploaded file in any directory: a v2 retry (or a shard) adds the
        same file to a new directory, and a transient failure succeeds on a later job with the
        same file (docs/emulator.md, outcome rule 4), as on v1."""
        row = self._one(
            "SELECT COALESCE(SUM(attempts), 0) AS n FROM dir_files WHERE file_id = ?", (file_id,)
        )
        return int(row["n"]) if row else 0

    def _complete_batches(self) -> None:
        done = self._all(
            "SELECT b.seq FROM v2_batches b WHERE b.status = 'RUNNING' AND NOT EXISTS "
            "(SELECT 1 FROM v2_jobs j WHERE j.batch_seq = b.seq AND j.status IN ('PENDING', 'RUNNING'))"
        )
        for row in done:
            self._set_batch_status(row["seq"], "COMPLETED")


def render_outputs(document: V2Document) -> tuple[str, str]:
    """The markdown and text outputs of a document.

    Raises:
        UnreadableDocument: the file cannot be read as its type.
    """
    if document.data is None:
        raise UnreadableDocument(f"File of {document.name} not found")
    return render_markdown(document.name, document.data), document_text(
        document.name, document.data
    )
