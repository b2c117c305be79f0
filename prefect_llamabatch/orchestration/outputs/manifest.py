"""The JSONL manifest: one entry per output (document, job, path, size, SHA-256), read to resume
and rewritten at the end of a run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import BaseModel

from prefect_llamabatch.orchestration.outputs.destination import Destination, FileWork


class ManifestEntry(BaseModel):
    """One line of the manifest: which document's output is where, its size and SHA-256."""

    document: str
    item_id: str | None
    job_id: str
    output_path: str
    bytes: int
    sha256: str
    format: str


class Kept(NamedTuple):
    """A manifest line of an earlier run, and what resuming compares."""

    job_id: str
    sha256: str
    format: str
    line: str


@dataclass(frozen=True)
class ReadManifest(FileWork):
    """The previous manifest's entries by output path (empty if there is none or it is damaged
    — a damaged line is ignored: its output is fetched again)."""

    destination: Destination
    name: str

    def run(self) -> dict[str, Kept]:
        entries: dict[str, Kept] = {}
        try:
            with self.destination.fs.open(self.destination.path(self.name), "rb") as handle:
                for line in handle:
                    try:
                        entry = ManifestEntry.model_validate_json(line)
                    except ValueError:
                        continue
                    line = line.decode().strip() if isinstance(line, bytes) else line.strip()
                    entries[entry.output_path] = Kept(
                        entry.job_id, entry.sha256, entry.format, line
                    )
        except FileNotFoundError:
            pass
        return entries


@dataclass(frozen=True)
class WriteManifest(FileWork):
    """Write the manifest (sorted by output path), replacing the previous one."""

    destination: Destination
    name: str
    entries: Mapping[str, str]
    """Each output path and its JSON line (the run's own map: no copy of 10,000 pairs)."""

    def run(self) -> str:
        path = self.destination.path(self.name)
        fs = self.destination.fs
        parent = path.rpartition("/")[0]
        if parent and self.destination.local:
            os.makedirs(parent, exist_ok=True)
        with fs.open(path, "wb") as handle:
            for output_path in sorted(self.entries):
                handle.write(self.entries[output_path].encode() + b"\n")
        return path
