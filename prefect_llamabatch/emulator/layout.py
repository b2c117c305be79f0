"""Where the emulator keeps files on disk, and the ``s3://`` URIs that stand for them.

``<data_dir>/files/<file_id>`` holds uploaded bytes; ``<data_dir>/outputs/<project>/<job>/<item>.md``
(``.json`` for classify) holds outputs, published as
``s3://llamabatch-emulator/<project>/<job>/<item>.md``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["OUTPUT_BUCKET", "blob_path", "output_path", "s3_output_path"]

OUTPUT_BUCKET = "llamabatch-emulator"


def blob_path(data_dir: Path, file_id: str) -> Path:
    """The local file holding an uploaded file's bytes."""
    return data_dir / "files" / file_id


def s3_output_path(project_id: str, job_id: str, item_id: str, suffix: str) -> str:
    """The documented ``s3://`` URI of an item's output."""
    return f"s3://{OUTPUT_BUCKET}/{project_id}/{job_id}/{item_id}{suffix}"


def output_path(data_dir: Path, s3_path: str) -> Path:
    """The local file an ``s3://llamabatch-emulator/…`` URI maps to.

    Raises:
        ValueError: the URI is not one of the emulator's outputs.
    """
    prefix = f"s3://{OUTPUT_BUCKET}/"
    if not s3_path.startswith(prefix):
        raise ValueError(f"s3_path must start with {prefix!r}")
    parts = s3_path[len(prefix) :].split("/")
    if len(parts) != 3 or any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise ValueError(f"s3_path must look like {prefix}<project>/<job>/<file>")
    return data_dir.joinpath("outputs", *parts)
