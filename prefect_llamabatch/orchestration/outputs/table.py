"""A run's per-document state in a sqlite3 table, so that Python memory does not grow with the
number of documents: the documents (one per job id), their output paths, the previous
manifest's entries and the run's own, streamed back in windows and as sorted manifest lines.

A run keeps its table in a file of its staging directory; :func:`~.names.output_paths` uses the
same code on an in-memory database (``":memory:"``), so the path rule is written once, here.

Threads: the connection is opened with ``check_same_thread=False`` because the async driver runs
:class:`~.manifest.ReadManifest` / :class:`~.manifest.WriteManifest` (file work) in a worker
thread. The rule that keeps it safe: a table is used only by the run's top-level steps and by
those two effects, which a driver performs one at a time while the steps wait for their answer;
never from the steps inside a ``Gather`` (fetches, publishing), which run concurrently.

Example:
    ```python
    from prefect_llamabatch.orchestration.outputs.refs import DocumentRef
    from prefect_llamabatch.orchestration.outputs.table import DocumentTable

    with DocumentTable(":memory:", "markdown") as table:
        table.add(DocumentRef("a/q1.pdf", "j1"))
        table.add(DocumentRef("other name", "j1"))  # the same job again: the first name wins
        table.assign_paths()
        assert [(row.doc.name, row.path) for row in table.rows()] == [("a/q1.pdf", "a/q1.md")]
    ```
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import NamedTuple, Protocol

from prefect_llamabatch.orchestration.outputs.refs import (
    FORMATS,
    MANIFEST_NAME,
    DocumentRef,
    clean_name,
    short_name,
)

_PAGE = 512
"""Rows read from the table at once by default."""

_SCHEMA = """
CREATE TABLE documents (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL {unique},
    name TEXT NOT NULL,
    item_id TEXT,
    status TEXT,
    clean TEXT,
    short_key TEXT,
    first TEXT,
    path TEXT
);
CREATE TABLE names (file_id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE taken (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE previous (
    output_path TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE TABLE entries (output_path TEXT PRIMARY KEY, line TEXT NOT NULL);
"""


class Kept(NamedTuple):
    """A manifest line of an earlier run, and what resuming compares."""

    job_id: str
    sha256: str
    format: str
    line: str


class Row(NamedTuple):
    """A document of the run, its output path and the previous manifest's entry at that path."""

    seq: int
    doc: DocumentRef
    path: str
    kept: Kept | None


class _Document(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def item_id(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...


class DocumentTable:
    """The documents of a run and their output paths, in sqlite (a file, or ``":memory:"``).

    ``unique_jobs``: one document per job id, the first name winning (a run's rule); without
    it every document added is kept (what :func:`~.names.output_paths` names).
    """

    def __init__(self, database: str, output_format: str, *, unique_jobs: bool = True) -> None:
        self.suffix = FORMATS[output_format]
        self._assigned = False
        db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        try:
            # A scratch database, deleted with its run: no durability wanted.
            db.execute("PRAGMA journal_mode=MEMORY")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.create_function("clean_name", 1, clean_name, deterministic=True)
            db.create_function("short_name", 2, short_name, deterministic=True)
            db.create_function("casefold", 1, str.casefold, deterministic=True)
            db.executescript(_SCHEMA.format(unique="UNIQUE" if unique_jobs else ""))
        except BaseException:
            db.close()
            raise
        self._db = db

    # ---------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Close the connection (a file database is removed with the staging directory)."""
        self._db.close()

    def __enter__(self) -> DocumentTable:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---------------------------------------------------------------- documents

    def add(self, doc: _Document) -> None:
        """Add one document (ignored if its job id is already there, with ``unique_jobs``)."""
        self._db.execute(
            "INSERT OR IGNORE INTO documents (job_id, name, item_id, status) VALUES (?, ?, ?, ?)",
            (doc.job_id, doc.name, doc.item_id, doc.status),
        )

    def add_many(self, docs: Iterable[_Document]) -> None:
        """Add documents in order (see :meth:`add`)."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO documents (job_id, name, item_id, status) "
                "VALUES (?, ?, ?, ?)",
                ((d.job_id, d.name, d.item_id, d.status) for d in docs),
            )

    def add_name(self, pair: tuple[str, str]) -> None:
        """Name a source file: ``(file id, display name)`` (a later pair for the same id wins)."""
        self._db.execute("INSERT OR REPLACE INTO names (file_id, name) VALUES (?, ?)", pair)

    def add_results(self, results: Iterable[tuple[str, str]]) -> None:
        """Add v2 results, ``(job id, source file id)``: each document is named after its file
        (:meth:`add_name`), or after the file id if the file is not named; its item id is the
        file id."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO documents (job_id, name, item_id) "
                "VALUES (?1, coalesce((SELECT name FROM names WHERE file_id = ?2), ?2), ?2)",
                results,
            )

    def count(self) -> int:
        """How many documents there are."""
        (n,) = self._db.execute("SELECT count(*) FROM documents").fetchone()
        return int(n)

    # ---------------------------------------------------------------- paths

    def assign_paths(self) -> None:
        """Give every document its output path, the rule of :func:`~.names.output_paths`.

        Each document's short path (``reports/q1.md``) is kept if no other document's short path
        is the same but for case; otherwise it keeps its whole name (``reports/q1.pdf.md``). Then,
        in the order of (that path, job id) — and of addition for a tie — a path already taken
        (compared casefolded; :data:`MANIFEST_NAME` is taken from the start) becomes the whole
        name plus the job id (``reports/q1.pdf.pjb-2.md``). The set of taken paths is a table.
        """
        if self._assigned:
            raise RuntimeError("the output paths are assigned once, after every document")
        self._assigned = True
        db, suffix = self._db, self.suffix
        with self._transaction():
            db.execute("UPDATE documents SET clean = clean_name(name)")
            db.execute("UPDATE documents SET short_key = casefold(short_name(clean, ?))", (suffix,))
            db.execute("CREATE INDEX documents_short_key ON documents (short_key)")
            db.execute(
                "UPDATE documents SET first = CASE "
                "WHEN (SELECT count(*) FROM documents AS d WHERE d.short_key = documents.short_key)"
                " = 1 THEN short_name(clean, ?1) ELSE clean || ?1 END",
                (suffix,),
            )
            db.execute("CREATE INDEX documents_first ON documents (first, job_id, seq)")
            db.execute("INSERT INTO taken (key) VALUES (?)", (MANIFEST_NAME.casefold(),))
            take = "INSERT OR IGNORE INTO taken (key) VALUES (?)"
            query = "SELECT seq, first, clean, job_id FROM documents ORDER BY first, job_id, seq"
            after: tuple[str, str, int] | None = None
            while True:
                if after is None:
                    window = db.execute(f"{query} LIMIT ?", (_PAGE,)).fetchall()
                else:
                    window = db.execute(
                        "SELECT seq, first, clean, job_id FROM documents "
                        "WHERE (first, job_id, seq) > (?, ?, ?) "
                        "ORDER BY first, job_id, seq LIMIT ?",
                        (*after, _PAGE),
                    ).fetchall()
                if not window:
                    break
                updates = []
                for seq, first, clean, job_id in window:
                    path = first
                    if db.execute(take, (path.casefold(),)).rowcount == 0:
                        path = f"{clean}.{job_id}{suffix}"
                        db.execute(take, (path.casefold(),))
                    updates.append((path, seq))
                db.executemany("UPDATE documents SET path = ? WHERE seq = ?", updates)
                seq, first, _, job_id = window[-1]
                after = (first, job_id, seq)
            db.execute("CREATE INDEX documents_path ON documents (path)")

    def paths(self) -> Iterator[str]:
        """Every document's output path, in the order the documents were added."""
        for row in self.rows():
            yield row.path

    def rows(self, size: int = _PAGE) -> Iterator[Row]:
        """The documents in the order they were added, read ``size`` at a time."""
        for window in self.windows(size):
            yield from window

    def windows(self, size: int = _PAGE) -> Iterator[list[Row]]:
        """The documents (:class:`Row` s) in the order they were added, ``size`` at a time."""
        if not self._assigned:
            raise RuntimeError("assign_paths() first")
        after = 0
        while True:
            found = self._db.execute(
                "SELECT d.seq, d.name, d.job_id, d.item_id, d.status, d.path, "
                "p.job_id, p.sha256, p.format, p.line "
                "FROM documents AS d LEFT JOIN previous AS p ON p.output_path = d.path "
                "WHERE d.seq > ? ORDER BY d.seq LIMIT ?",
                (after, size),
            ).fetchall()
            if not found:
                return
            yield [
                Row(
                    seq,
                    DocumentRef(name, job_id, item_id, status),
                    path,
                    None if kept_job is None else Kept(kept_job, sha256, fmt, line),
                )
                for seq, name, job_id, item_id, status, path, kept_job, sha256, fmt, line in found
            ]
            after = found[-1][0]

    # ---------------------------------------------------------------- manifest

    def keep_previous(self, entries: Iterable[tuple[str, Kept]]) -> int:
        """Store the previous manifest's entries, ``(output path, kept)`` (a later entry for the
        same path wins); how many were stored."""
        n = 0

        def rows() -> Iterator[tuple[str, str, str, str, str]]:
            nonlocal n
            for path, kept in entries:
                n += 1
                yield path, *kept

        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO previous (output_path, job_id, sha256, format, line) "
                "VALUES (?, ?, ?, ?, ?)",
                rows(),
            )
        return n

    def record(self, entries: Iterable[tuple[str, str]]) -> None:
        """Record the run's manifest lines, ``(output path, JSON line)``."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO entries (output_path, line) VALUES (?, ?)", entries
            )

    def manifest_lines(self) -> Iterator[str]:
        """The manifest to write, sorted by output path: the run's lines, and the previous
        manifest's lines whose path is none of this run's documents' (outputs of earlier runs
        that this run did not touch stay listed)."""
        cursor = self._db.execute(
            "SELECT output_path, line FROM entries "
            "UNION ALL "
            "SELECT output_path, line FROM previous WHERE output_path NOT IN "
            "(SELECT path FROM documents WHERE path IS NOT NULL) "
            "ORDER BY 1"
        )
        try:
            for _, line in cursor:
                yield line
        finally:
            cursor.close()
