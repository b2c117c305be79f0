"""The pieces that the names (``names``) and the run's table (``table``) both use: the output
formats and their suffixes, the reserved manifest name, a document as the steps keep it, and a
name's clean and short forms. Everything here is re-exported by ``names``."""

from __future__ import annotations

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
    """A clean name with its suffix replaced by the output's (``a/q1.pdf`` → ``a/q1.md``), or
    with the output's suffix added if it has none (``README`` → ``README.md``).

    ``PurePosixPath(clean).with_suffix(suffix)`` when the name has a suffix (a ``.`` that neither
    starts nor ends the last segment), in string operations: pathlib interns every segment it
    parses, which would grow the interpreter's table of interned strings with the documents.
    """
    last = clean.rpartition("/")[2]
    dot = last.rfind(".")
    if 0 < dot < len(last) - 1:
        return clean[: len(clean) - len(last) + dot] + suffix
    return clean + suffix
