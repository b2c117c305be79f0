"""The pieces that the names (``names``) and the run's table (``table``) both use: the output
formats and their suffixes, the reserved manifest name, a document as the steps keep it, and a
name's clean and short forms. Everything here is re-exported by ``names``."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal, NamedTuple

OutputFormat = Literal["markdown", "text", "items", "extract"]
FORMATS: dict[str, str] = {"markdown": ".md", "text": ".txt", "items": ".json", "extract": ".json"}
"""Each output format and the suffix of its files."""
MANIFEST_NAME = "manifest.jsonl"


class DocumentRef(NamedTuple):
    """A document as the steps keep it: a few strings (10,000 of them are a few MB)."""

    name: str
    job_id: str
    item_id: str | None = None
    status: str | None = None


def clean_name(name: str) -> str:
    """A document's name as a relative path: never outside the destination (no absolute paths,
    no ``..``, no empty segments)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "document"


def short_name(clean: str, suffix: str) -> str:
    """A clean name with its suffix replaced by the output's (``a/q1.pdf`` → ``a/q1.md``)."""
    path = PurePosixPath(clean)
    if path.suffix and path.stem:
        return str(path.with_suffix(suffix))
    return clean + suffix
