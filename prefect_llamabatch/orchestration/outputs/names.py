"""The documents whose outputs are written, and the output path of each: deterministic, without
collisions, never outside the destination."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

from pydantic import BaseModel

from prefect_llamabatch.orchestration.outputs.refs import FORMATS as FORMATS
from prefect_llamabatch.orchestration.outputs.refs import MANIFEST_NAME as MANIFEST_NAME
from prefect_llamabatch.orchestration.outputs.refs import DocumentRef as DocumentRef
from prefect_llamabatch.orchestration.outputs.refs import OutputFormat as OutputFormat
from prefect_llamabatch.orchestration.outputs.refs import clean_name as clean_name
from prefect_llamabatch.orchestration.outputs.refs import short_name as short_name
from prefect_llamabatch.orchestration.outputs.table import DocumentTable


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


DocumentInput = Union[DocumentJob, tuple[str, str], Mapping[str, Any]]
"""A :class:`DocumentJob`, a ``(document name, job id)`` pair, or a mapping of its fields."""


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
    # One implementation of the rule: the run's table (``table.py``), in memory.
    with DocumentTable(":memory:", output_format, unique_jobs=False) as table:
        table.add_many(documents)
        table.assign_paths()
        return list(table.paths())


def as_document(doc: DocumentInput) -> DocumentRef:
    """One document given as a :class:`DocumentJob`, a ``(name, job id)`` pair or a mapping."""
    if isinstance(doc, DocumentJob):
        parsed = doc
    elif isinstance(doc, (list, tuple)) and len(doc) == 2:
        parsed = DocumentJob(name=doc[0], job_id=doc[1])
    else:
        parsed = DocumentJob.model_validate(doc)
    return DocumentRef(parsed.name, parsed.job_id, parsed.item_id, parsed.status)


def as_documents(documents: Iterable[DocumentInput]) -> list[DocumentRef]:
    """The documents as :class:`DocumentRef` s, one per job id (the first name wins)."""
    seen: dict[str, DocumentRef] = {}
    for doc in documents:
        ref = as_document(doc)
        seen.setdefault(ref.job_id, ref)
    return list(seen.values())
