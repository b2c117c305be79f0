"""The destination (an fsspec filesystem and a root) and the file work on it: digests, publishing
a staged output (a rename on a local disk), discarding one. Blocking calls: the async driver
runs them in a worker thread."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import fsspec
from fsspec.implementations.local import LocalFileSystem as FsspecLocal

from prefect_llamabatch.orchestration.effects import ClientCall

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem

    from prefect_llamabatch.client import AsyncBatchClient, BatchClient


CHUNK = 1 << 20
"""Bytes read or written at once (hashing, streaming a download)."""


@dataclass(frozen=True)
class Destination:
    """An fsspec filesystem and the root path under it (what a URL or block resolves to)."""

    fs: Any
    root: str
    shown: str

    def path(self, relative: str) -> str:
        """The full path of an output (``relative`` uses ``/``)."""
        return f"{self.root.rstrip('/')}/{relative}" if self.root else relative

    @property
    def local(self) -> bool:
        """Whether the destination is the local disk (outputs are moved, not copied)."""
        return isinstance(self.fs, FsspecLocal)


def open_destination(
    destination: str | os.PathLike[str] | WritableFileSystem,
    storage_options: Mapping[str, Any] | None = None,
) -> Destination:
    """Resolve a local folder, an fsspec URL (``s3://bucket/prefix``) or a Prefect
    ``LocalFileSystem`` / ``RemoteFileSystem`` block into a :class:`Destination`.

    Raises:
        TypeError: Another kind of filesystem block (it cannot stream; copy from a local
            folder instead).
    """
    from prefect.filesystems import LocalFileSystem, RemoteFileSystem

    options = dict(storage_options or {})
    if isinstance(destination, RemoteFileSystem):
        fs, root = destination.filesystem, destination.basepath
        _, _, root = root.partition("://") if "://" in root else ("", "", root)
        return Destination(fs, root.rstrip("/"), destination.basepath)
    if isinstance(destination, LocalFileSystem):
        destination = destination.basepath or "."
    if not isinstance(destination, (str, os.PathLike)):
        raise TypeError(
            "destination must be a folder, an fsspec URL (e.g. 's3://bucket/outputs') or a "
            "Prefect LocalFileSystem / RemoteFileSystem block, not "
            f"{type(destination).__name__}"
        )
    url = os.fspath(destination)
    if "://" not in url:
        url = str(Path(url).expanduser().resolve())
    fs, root = fsspec.core.url_to_fs(url, **options)
    # The URL without credentials a user may have put in it (user:password@host).
    scheme, sep, rest = url.partition("://")
    shown = f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url
    return Destination(fs, str(root).rstrip("/") or str(root), shown)


@dataclass(frozen=True)
class Staged:
    """An output fetched into a local staging file."""

    path: str
    size: int
    sha256: str


class FileWork(ClientCall[Any]):
    """Work on the destination's filesystem: blocking calls, in a worker thread when async."""

    __slots__ = ()

    def run(self) -> Any:
        raise NotImplementedError

    def sync(self, client: BatchClient) -> Any:
        return self.run()

    async def aio(self, client: AsyncBatchClient) -> Any:
        return await anyio.to_thread.run_sync(self.run)


def _digest(fs: Any, path: str) -> str | None:
    try:
        digest = hashlib.sha256()
        with fs.open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class ExistingDigest(FileWork):
    """The SHA-256 of the file at ``path`` (``None`` if there is none)."""

    destination: Destination
    path: str

    def run(self) -> str | None:
        return _digest(self.destination.fs, self.path)


@dataclass(frozen=True)
class Publish(FileWork):
    """Put a staged output at its path, unless the same content is there already.

    Returns whether it was written.
    """

    destination: Destination
    staged: Staged
    path: str

    def run(self) -> bool:
        fs = self.destination.fs
        try:
            if _digest(fs, self.path) == self.staged.sha256:
                return False
            parent = self.path.rpartition("/")[0]
            # A staging file is private (0600); an output is a document like any other.
            os.chmod(self.staged.path, 0o644)
            if self.destination.local:
                os.makedirs(parent or ".", exist_ok=True)
                # Same disk: a rename, so a reader never sees half a file.
                shutil.move(self.staged.path, self.path)
            else:
                if parent and hasattr(fs, "makedirs"):
                    fs.makedirs(parent, exist_ok=True)
                fs.put_file(self.staged.path, self.path)
            return True
        finally:
            if os.path.exists(self.staged.path):
                os.unlink(self.staged.path)


@dataclass(frozen=True)
class Discard(FileWork):
    """Remove a staged file."""

    staged: Staged

    def run(self) -> None:
        if os.path.exists(self.staged.path):
            os.unlink(self.staged.path)
