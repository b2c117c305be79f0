"""Uploading a local folder: the file walk, content hashes, and the sync into a directory.

A file's ``unique_id`` is its path relative to the folder and its metadata carries its SHA-256,
so a file already in the directory with the same hash is not uploaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from prefect_llamabatch.models import DirectoryFile
from prefect_llamabatch.orchestration.effects import (
    AllDirectories,
    AllDirectoryFiles,
    CreateDirectory,
    Gather,
    Monotonic,
    RequestsMade,
    Sleep,
    Steps,
    Tenant,
    UploadFile,
    tenant,
)
from prefect_llamabatch.orchestration.runtime import run_logger

if TYPE_CHECKING:
    from prefect.context import TaskRunContext

__all__ = [
    "HASH_KEY",
    "MAX_FILE_BYTES",
    "UPLOAD_CONCURRENCY",
    "UPLOAD_RATE_LIMIT",
    "UPLOAD_RATE_WINDOW",
    "FolderScan",
    "LocalFile",
    "UploadPace",
    "UploadedDirectory",
    "directory_named",
    "local_files",
    "scan_folder",
    "upload_cache_key",
    "upload_steps",
]

HASH_KEY = "sha256"
UPLOAD_CONCURRENCY = 16
"""Default uploads in flight at once: against a service that does not limit, 16 in flight
upload small files about 8× faster than one after the other at 50 ms per response (bench B8).
On LlamaCloud the rate limit below decides the pace, whatever the concurrency."""
UPLOAD_RATE_LIMIT = 50
"""Default uploads started per :data:`UPLOAD_RATE_WINDOW`: LlamaCloud's published per-project
upload limit (about 50 requests per 5 s; past it, 429 with no guaranteed ``Retry-After``). Pacing
below it keeps a large folder's uploads from running out of retries on a storm of 429s."""
UPLOAD_RATE_WINDOW = 5.0
"""Seconds of the upload rate limit's window."""


class UploadPace:
    """At most ``limit`` upload starts in any ``window`` seconds (thread-safe: the sync
    driver runs a ``Gather`` in threads).

    Example:
        ```python
        from prefect_llamabatch.orchestration.uploads import UploadPace

        pace = UploadPace(limit=2, window=5.0)
        assert [pace.reserve(now=0.0) for _ in range(3)] == [0.0, 0.0, 5.0]
        assert pace.reserve(now=6.0) == 0.0  # the window of the first two has passed
        ```
    """

    def __init__(self, limit: int, window: float = UPLOAD_RATE_WINDOW) -> None:
        if limit < 1:
            raise ValueError(f"rate_limit must be >= 1 or None (got {limit})")
        self.limit = limit
        self.window = window
        self._starts: deque[float] = deque(maxlen=limit)  # the latest `limit` reserved starts
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Reserve the next start at or after ``now``; the seconds to wait until it."""
        with self._lock:
            start = now
            if len(self._starts) == self.limit:
                start = max(now, self._starts[0] + self.window)
            self._starts.append(start)
            return start - now


def _paced(upload: UploadFile, pace: UploadPace | None) -> Steps[DirectoryFile]:
    if pace is not None:
        delay = pace.reserve((yield from Monotonic()))
        if delay > 0:
            yield from Sleep(delay)
    return (yield from upload)


class UploadedDirectory(BaseModel):
    """The result of ``upload_directory``: the directory, and what was (not) uploaded.

    ``files`` maps each relative path to its directory-file (item) id.

    Example:
        ```python
        from prefect_llamabatch.orchestration.uploads import UploadedDirectory

        result = UploadedDirectory(directory_id="dir-1", files={"a.txt": "dfl-1"}, unchanged=["a.txt"])
        assert list(result.files.values()) == ["dfl-1"]
        ```
    """

    directory_id: str
    files: dict[str, str] = Field(default_factory=dict)
    uploaded: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped_links: list[str] = Field(
        default_factory=list,
        description="Symlinks not uploaded: they point outside the folder (or nowhere), or "
        "to a folder.",
    )
    api_calls: int = 0


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: its path, path relative to the folder (the unique id), content hash.

    Example:
        ```python
        from pathlib import Path
        from prefect_llamabatch.orchestration.uploads import LocalFile

        f = LocalFile(Path("docs/a.txt"), "a.txt", "0" * 64, 5)
        assert f.relative == "a.txt"
        ```
    """

    path: Path
    relative: str
    sha256: str
    size: int


MAX_FILE_BYTES = 512 * 1024 * 1024
"""LlamaCloud's published maximum file size (512 MB): a larger file is refused before any upload."""


@dataclass(frozen=True)
class FolderScan:
    """What :func:`scan_folder` found: the files to upload, and the symlinks left out.

    Example:
        ```python
        from prefect_llamabatch.orchestration.uploads import FolderScan

        scan = FolderScan(files=[], skipped_links=["outside.pdf"])
        assert scan.skipped_links == ["outside.pdf"]
        ```
    """

    files: list[LocalFile]
    skipped_links: list[str]


def _shown(relative: str) -> str:
    # A name that is not UTF-8 is shown as the bytes it is on disk; control characters escaped.
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(relative))
    return repr(relative)


def _name_problem(relative: str) -> str | None:
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (the API takes names as text)"
    if not relative.isprintable():  # any control character (or other unprintable one)
        return "contains control characters"
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve(strict=True).relative_to(root)
    except (OSError, ValueError, RuntimeError):  # broken, outside, or a loop
        return False
    return True


def _sha256(path: str) -> tuple[str, int]:
    # The size is that of the bytes hashed, so the two always describe the same content.
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


_Walked = tuple[list[tuple[str, str, int]], list[str]]
"""The files found (path, relative path, size), sorted by relative path; the links left out."""


def _walk(local_path: str | os.PathLike[str]) -> _Walked:
    # Every check of scan_folder (and so every ValueError) is here, before any hashing.
    root = Path(local_path).expanduser()
    if not root.exists():
        raise ValueError(f"local_path {str(local_path)!r} does not exist")
    if not root.is_dir():
        raise ValueError(
            f"local_path {str(local_path)!r} is not a folder; give a folder of documents"
        )
    real_root = root.resolve()
    # One lstat per entry (and a stat for links): a folder of 10,000 files is walked in well
    # under a second, so a rerun costs little more than the directory's listing.
    candidates: list[tuple[str, str, int]] = []
    skipped: list[str] = []
    for directory, folders, names in os.walk(root, followlinks=False):
        here = Path(directory)
        inner = os.path.relpath(directory, root)
        prefix = "" if inner == os.curdir else Path(inner).as_posix() + "/"
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for folder in folders:
            if (here / folder).is_symlink():
                skipped.append(prefix + folder)
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(directory, name)  # a str: no Path per entry
            relative = prefix + name
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    if not _inside(Path(path), real_root):
                        skipped.append(relative)
                        continue
                    info = os.stat(path)
            except OSError:  # gone since the walk listed it
                continue
            if stat.S_ISREG(info.st_mode):
                candidates.append((path, relative, info.st_size))
    problems = []
    for _path, relative, size in candidates:
        problem = _name_problem(relative)
        if problem is None and size > MAX_FILE_BYTES:
            problem = f"is larger than LlamaCloud's 512 MB limit ({size} bytes)"
        if problem is not None:
            problems.append(f"{_shown(relative)} {problem}")
    if problems:
        raise ValueError(
            f"local_path {str(local_path)!r}: {len(problems)} file(s) cannot be uploaded, so "
            f"nothing was: {'; '.join(problems)}. Rename or move them and run again."
        )
    if not candidates:
        raise ValueError(
            f"local_path {str(local_path)!r} contains no files (hidden files are ignored)"
        )
    return sorted(candidates, key=lambda c: c[1]), sorted(skipped)


def _hashed(walked: _Walked) -> FolderScan:
    candidates, skipped = walked
    files = []
    for path, relative, _ in candidates:
        digest, size = _sha256(path)
        files.append(LocalFile(Path(path), relative, digest, size))
    return FolderScan(files=files, skipped_links=skipped)


def scan_folder(local_path: str | os.PathLike[str]) -> FolderScan:
    """The files under a folder, checked, sorted, with hashes; nothing is sent anywhere.

    Hidden files and folders are left out. Symlinks are never followed out of the folder: a
    link to a file inside it is uploaded under the link's name, a link that points outside
    (or nowhere) is skipped (and listed), and linked folders are not descended into (their
    files inside the folder are found at their real place; no loops).

    Raises:
        ValueError: The path does not exist, is not a folder, holds no file, or some file
            cannot be uploaded (a name that is not UTF-8 or holds control characters, a file
            over 512 MB): every such file is named, before any directory is created.
    """
    return _hashed(_walk(local_path))


def local_files(local_path: str | os.PathLike[str]) -> list[LocalFile]:
    """The files :func:`scan_folder` would upload (same checks, same errors)."""
    return scan_folder(local_path).files


def upload_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """The persisted-result key of an upload: the flow run, the target and the folder's manifest."""
    flow_run_id = context.task_run.flow_run_id
    if flow_run_id is None:
        return None
    try:
        root = Path(parameters["local_path"]).expanduser().resolve()
        # Sizes and mtimes (not contents): cheap, and any edit between attempts changes the key.
        manifest = [
            (p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))
            if p.is_file()
        ]
    except Exception:
        return None
    data = json.dumps(
        [
            str(flow_run_id),
            getattr(parameters.get("credentials"), "base_url", None),
            str(root),
            parameters.get("directory_id"),
            parameters.get("directory_name"),
            manifest,
        ],
        default=str,
    )
    return "llamabatch-upload-" + hashlib.sha256(data.encode()).hexdigest()[:48]


def directory_named(name: str, overrides: Tenant) -> Steps[str | None]:
    """The id of the newest live directory called ``name``, if there is one."""
    found = yield from AllDirectories(name, overrides)
    live = [d for d in found if d.name == name and d.deleted_at is None]
    if not live:
        return None
    # Names are not unique on LlamaCloud: the newest one is the one a previous run created.
    return max(live, key=lambda d: (d.created_at is not None, d.created_at or 0, d.id)).id


def _hashing(walked: _Walked) -> Steps[FolderScan]:
    # Steps with no effect, so that Gather can run the hashing beside the listing.
    yield from ()
    return _hashed(walked)


def _existing_files(
    directory_id: str | None, directory_name: str | None, overrides: Tenant
) -> Steps[tuple[str | None, dict[str, DirectoryFile]]]:
    # The target directory (by id, else the newest of that name, else none yet) and its files.
    if directory_id is None and directory_name is not None:
        directory_id = yield from directory_named(directory_name, overrides)
    existing: dict[str, DirectoryFile] = {}
    if directory_id is not None:
        for listed in (yield from AllDirectoryFiles(directory_id, overrides)):
            existing[listed.unique_id] = listed
    return directory_id, existing


def upload_steps(
    local_path: str | os.PathLike[str],
    *,
    directory_id: str | None,
    directory_name: str | None,
    directory_type: str,
    max_concurrency: int,
    organization_id: str | None,
    project_id: str | None,
    rate_limit: int | None = UPLOAD_RATE_LIMIT,
) -> Steps[UploadedDirectory]:
    """Sync a local folder into a directory (see ``upload_directory`` for the rules).

    ``rate_limit``: uploads started per :data:`UPLOAD_RATE_WINDOW` seconds (``None``: unpaced).
    """
    if directory_type not in ("ephemeral", "user"):
        raise ValueError(f"directory_type must be 'ephemeral' or 'user' (got {directory_type!r})")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 (got {max_concurrency})")
    pace = None if rate_limit is None else UploadPace(rate_limit)
    walked = _walk(local_path)  # every name checked before any request
    overrides = tenant(organization_id, project_id)
    # Hashing the folder runs beside the directory's listing: a rerun over an unchanged folder
    # costs about what the listing costs.
    scan, (directory_id, existing) = yield from Gather(
        [_hashing(walked), _existing_files(directory_id, directory_name, overrides)], 2
    )
    files = scan.files
    if scan.skipped_links:
        run_logger().warning(
            "Not uploaded: %d symlink(s) in %s that point outside it, nowhere, or to a folder "
            "(links are never followed out of the folder): %s",
            len(scan.skipped_links),
            local_path,
            ", ".join(_shown(link) for link in scan.skipped_links[:20]),
        )
    if directory_id is None:
        name = directory_name or Path(local_path).expanduser().resolve().name or "documents"
        directory = yield from CreateDirectory(name, directory_type, overrides)
        directory_id = directory.id
    todo: list[LocalFile] = []
    result = UploadedDirectory(directory_id=directory_id, skipped_links=scan.skipped_links)
    for f in files:
        entry = existing.get(f.relative)
        if entry is not None and (entry.metadata or {}).get(HASH_KEY) == f.sha256:
            result.unchanged.append(f.relative)
            result.files[f.relative] = entry.id
        else:
            todo.append(f)
    uploads = [
        UploadFile(
            directory_id,
            f.path,
            display_name=f.relative,
            unique_id=f.relative,
            metadata={HASH_KEY: f.sha256, "size": f.size},
            tenant=overrides,
        )
        for f in todo
    ]
    done = yield from Gather([_paced(upload, pace) for upload in uploads], max_concurrency)
    for f, uploaded in zip(todo, done, strict=True):
        result.uploaded.append(f.relative)
        result.files[f.relative] = uploaded.id
    result.api_calls = yield from RequestsMade()
    run_logger().info(
        "Directory %s: %d file(s) uploaded, %d unchanged",
        directory_id,
        len(result.uploaded),
        len(result.unchanged),
    )
    return result
