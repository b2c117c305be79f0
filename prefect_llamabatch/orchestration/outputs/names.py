"""The documents whose outputs are written, and the output path of each: deterministic, without
collisions, never outside the destination."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, NamedTuple, Union

from pydantic import BaseModel

OutputFormat = Literal["markdown", "text", "items", "extract"]
FORMATS: dict[str, str] = {"markdown": ".md", "text": ".txt", "items": ".json", "extract": ".json"}
"""Each output format and the suffix of its files."""
MANIFEST_NAME = "manifest.jsonl"


class DocumentJob(BaseModel):
    """One document whose output to write: its name (with relative path) and its job.

    ``status`` is the job's status when already known (a v1 item listing says it); otherwise it
    is looked up, in batches.

    Example:
        ```python
        from prefect_llamabatch.orchestration.outputs import DocumentJob

        doc = DocumentJob(name="reports/q1.pdf", job_id="pjb-1", item_id="dfl-1")
        assert doc.status is None
        ```
    """

    name: str
    job_id: str
    item_id: str | None = None
    status: str | None = None


class DocumentRef(NamedTuple):
    """A document as the steps keep it: a few strings (10,000 of them are a few MB)."""

    name: str
    job_id: str
    item_id: str | None = None
    status: str | None = None


DocumentInput = Union[DocumentJob, tuple[str, str], Mapping[str, Any]]
"""A :class:`DocumentJob`, a ``(document name, job id)`` pair, or a mapping of its fields."""


def _clean(name: str) -> str:
    # Never outside the destination: no absolute paths, no "..", no empty segments.
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "document"


def _short(clean: str, suffix: str) -> str:
    path = PurePosixPath(clean)
    if path.suffix and path.stem:
        return str(path.with_suffix(suffix))
    return clean + suffix


def output_paths(
    documents: Sequence[DocumentJob | DocumentRef], output_format: str = "markdown"
) -> list[str]:
    """The relative output path of each document, deterministic and without collisions.

    ``reports/q1.pdf`` → ``reports/q1.md``. Documents whose names would give the same path
    (compared case-insensitively, as on macOS and Windows disks) keep their whole name:
    ``q1.pdf.md``, ``q1.docx.md``; the same name twice adds the job id:
    ``q1.pdf.pjb-2.md`` (the lower job id keeps the plain name). The result depends only on
    the set of documents, not on their order.

    Example:
        ```python
        from prefect_llamabatch.orchestration.outputs import DocumentJob, output_paths

        docs = [DocumentJob(name="a/q1.pdf", job_id="j1"), DocumentJob(name="a/Q1.docx", job_id="j2"),
                DocumentJob(name="b.txt", job_id="j3")]
        assert output_paths(docs) == ["a/q1.pdf.md", "a/Q1.docx.md", "b.md"]
        ```
    """
    suffix = FORMATS[output_format]
    clean = [_clean(d.name) for d in documents]
    short = [_short(c, suffix) for c in clean]
    counts = Counter(s.casefold() for s in short)
    first = [
        s if counts[s.casefold()] == 1 else c + suffix for s, c in zip(short, clean, strict=True)
    ]
    taken: set[str] = {MANIFEST_NAME}
    paths = [""] * len(documents)
    for i in sorted(range(len(documents)), key=lambda i: (first[i], documents[i].job_id)):
        path = first[i]
        if path.casefold() in taken:
            path = f"{clean[i]}.{documents[i].job_id}{suffix}"
        taken.add(path.casefold())
        paths[i] = path
    return paths


def as_documents(documents: Iterable[DocumentInput]) -> list[DocumentRef]:
    """The documents as :class:`DocumentRef` s, one per job id (the first name wins)."""
    seen: dict[str, DocumentRef] = {}
    for doc in documents:
        if isinstance(doc, DocumentJob):
            parsed = doc
        elif isinstance(doc, (list, tuple)) and len(doc) == 2:
            parsed = DocumentJob(name=doc[0], job_id=doc[1])
        else:
            parsed = DocumentJob.model_validate(doc)
        seen.setdefault(parsed.job_id, DocumentRef(*parsed.model_dump().values()))
    return list(seen.values())
