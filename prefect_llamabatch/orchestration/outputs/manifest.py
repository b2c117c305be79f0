"""The JSONL manifest: one entry per output (document, job, path, size, SHA-256), read to resume
and rewritten at the end of a run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from prefect_llamabatch.orchestration.outputs.destination import Destination, FileWork
from prefect_llamabatch.orchestration.outputs.table import DocumentTable, Kept

__all__ = ["Kept", "ManifestEntry", "ReadManifest", "WriteManifest"]


class ManifestEntry(BaseModel):
    """One line of the manifest: which document's output is where, its size and SHA-256."""

    document: str
    item_id: str | None
    job_id: str
    output_path: str
    bytes: int
    sha256: str
    format: str


@dataclass(frozen=True)
class ReadManifest(FileWork):
    """Read the previous manifest's entries into the run's table, by output path (none if there
    is no manifest; a damaged line is ignored: its output is fetched again). Answered with how
    many lines were kept."""

    destination: Destination
    name: str
    table: DocumentTable

    def _entries(self, handle: Any) -> Iterator[tuple[str, Kept]]:
        for line in handle:
            try:
                entry = ManifestEntry.model_validate_json(line)
            except ValueError:
                continue
            line = line.decode().strip() if isinstance(line, bytes) else line.strip()
            yield entry.output_path, Kept(entry.job_id, entry.sha256, entry.format, line)

    def run(self) -> int:
        try:
            with self.destination.fs.open(self.destination.path(self.name), "rb") as handle:
                return self.table.keep_previous(self._entries(handle))
        except FileNotFoundError:
            return 0


@dataclass(frozen=True)
class WriteManifest(FileWork):
    """Write the manifest (sorted by output path), replacing the previous one: the table's
    lines (:meth:`~.table.DocumentTable.manifest_lines`), streamed."""

    destination: Destination
    name: str
    table: DocumentTable

    def run(self) -> str:
        path = self.destination.path(self.name)
        fs = self.destination.fs
        parent = path.rpartition("/")[0]
        if parent and self.destination.local:
            os.makedirs(parent, exist_ok=True)
        with fs.open(path, "wb") as handle:
            for line in self.table.manifest_lines():
                handle.write(line.encode() + b"\n")
        return path
