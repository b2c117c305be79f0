"""Files for multipart uploads: accepted inputs, size limit, re-reading on retries, identity."""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Union

from pydantic import TypeAdapter, ValidationError

from prefect_llamabatch.client.response import format_validation_errors
from prefect_llamabatch.models import FileMetadataValue

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, BinaryIO]
MAX_FILE_BYTES = 512 * 1024 * 1024
_METADATA: TypeAdapter[dict[str, FileMetadataValue]] = TypeAdapter(dict[str, FileMetadataValue])


class Upload:
    """A file for a multipart upload, re-readable on every attempt."""

    def __init__(self, file: FileInput, filename: str | None) -> None:
        self._path: Path | None = None
        self._data: bytes | None = None
        self._stream: BinaryIO | None = None
        self._start = 0
        if isinstance(file, (str, os.PathLike)):
            path = Path(file)
            if not path.is_file():
                raise ValueError(f"file: no such file {str(path)!r}; pass an existing file path")
            size = path.stat().st_size
            self._path = path
            default_name = path.name
        elif isinstance(file, (bytes, bytearray)):
            self._data = bytes(file)
            size = len(self._data)
            default_name = ""
        elif isinstance(file, io.TextIOBase):
            raise ValueError("file: open the file in binary mode ('rb'), not text mode")
        elif hasattr(file, "read"):
            default_name = Path(str(getattr(file, "name", ""))).name
            if getattr(file, "seekable", lambda: False)():
                self._stream = file
                self._start = file.tell()
                size = file.seek(0, io.SEEK_END) - self._start
                file.seek(self._start)
            else:
                # A stream we cannot rewind must be buffered to be retryable.
                self._data = file.read()
                if not isinstance(self._data, bytes):
                    raise ValueError("file: open the file in binary mode ('rb')")
                size = len(self._data)
        else:
            raise ValueError(
                f"file: expected a path, bytes or a binary file object, got {type(file).__name__}"
            )
        if size > MAX_FILE_BYTES:
            raise ValueError(
                f"file: {size / 1024 / 1024:.0f} MB exceeds LlamaCloud's 512 MB file size limit"
            )
        self.named = bool(filename or default_name)
        self.filename = filename or default_name or "upload"
        self.content_type = mimetypes.guess_type(self.filename)[0] or "application/octet-stream"

    def identity(self) -> str:
        """The file's name, or for unnamed content ``sha256:<hex of the content>``."""
        if self.named:
            return self.filename
        digest = hashlib.sha256()
        with self.open() as content:
            if isinstance(content, bytes):
                digest.update(content)
            else:
                for chunk in iter(partial(content.read, 1024 * 1024), b""):
                    digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"

    @contextmanager
    def open(self) -> Iterator[Any]:
        if self._path is not None:
            with self._path.open("rb") as handle:
                yield handle
        elif self._stream is not None:
            self._stream.seek(self._start)
            yield self._stream
        else:
            yield self._data


def metadata_field(metadata: Mapping[str, Any] | None) -> str | None:
    """The ``metadata`` form field: the checked mapping as compact JSON (``None`` if not given)."""
    if metadata is None:
        return None
    try:
        checked = _METADATA.validate_python(dict(metadata))
    except ValidationError as exc:
        raise ValueError(f"metadata: {format_validation_errors(exc)}") from None
    return json.dumps(checked, separators=(",", ":"))
