"""The run's sqlite3 table of ``download_outputs`` (``outputs/table.py``): the path rule on it is
exactly the documented one, a resume keeps the earlier manifest's untouched entries, listings are
drained into it as they arrive, and a run's memory does not grow with the number of documents."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import textwrap
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_llamabatch.orchestration.drivers import AsyncDriver, SyncDriver, adrive, drive
from prefect_llamabatch.orchestration.effects import ClientDrain, Effect, Gather, RequestsMade
from prefect_llamabatch.orchestration.outputs import (
    MANIFEST_NAME,
    DocumentRef,
    FetchParseOutput,
    FileWork,
    LookUp,
    OutputsResult,
    Publish,
    Staged,
    names,
    output_paths,
    outputs_steps,
    table,
)
from prefect_llamabatch.orchestration.outputs.table import DocumentTable

# ------------------------------------------------------------------ the path rule


def _reference_paths(documents: list[DocumentRef], suffix: str) -> list[str]:
    """The rule as ``output_paths``' docstring states it, written plainly over lists."""

    def clean(name: str) -> str:
        parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
        return "/".join(parts) or "document"

    def short(c: str) -> str:
        p = PurePosixPath(c)
        return str(p.with_suffix(suffix)) if p.suffix and p.stem else c + suffix

    cleaned = [clean(d.name) for d in documents]
    shorts = [short(c) for c in cleaned]
    # Same short path but for case: keep the whole name.
    first = [
        s if sum(t.casefold() == s.casefold() for t in shorts) == 1 else c + suffix
        for s, c in zip(shorts, cleaned, strict=True)
    ]
    # In (path, job id) order — ties in the given order — a taken path adds the job id.
    taken = {MANIFEST_NAME.casefold()}
    paths = [""] * len(documents)
    order = sorted(range(len(documents)), key=lambda i: (first[i], documents[i].job_id, i))
    for i in order:
        path = first[i]
        if path.casefold() in taken:
            path = f"{cleaned[i]}.{documents[i].job_id}{suffix}"
        taken.add(path.casefold())
        paths[i] = path
    return paths


_SEGMENTS = ["q1.pdf", "Q1.PDF", "q1.docx", "q1", "ß.md", "SS.md", "é.txt", "É.txt", "𝔸.pdf"]
_SEGMENTS += ["..", ".", "", "a", "A", "b.md", "b.md.md", "manifest.jsonl", ".hidden", "x.y.z"]
_names = st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=3).map("/".join)
_jobs = st.sampled_from(["j1", "j2", "J1", "j10", "pjb-é", "j2.md"])
_optional = st.none() | st.sampled_from(["", "dfl-1", "COMPLETED"])
_documents = st.lists(
    st.builds(DocumentRef, _names, _jobs, item_id=_optional, status=_optional), max_size=25
)
_formats = st.sampled_from(["markdown", "text", "items", "extract"])


@settings(max_examples=300, deadline=None)
@given(_documents, _formats)
def test_output_paths_match_the_documented_rule(docs: list[DocumentRef], fmt: str) -> None:
    expected = _reference_paths(docs, names.FORMATS[fmt])
    assert output_paths(docs, fmt) == expected
    assert MANIFEST_NAME not in expected


@settings(max_examples=150, deadline=None)
@given(_documents, st.randoms(use_true_random=False))
def test_a_runs_table_names_each_job_once_whatever_the_order(
    docs: list[DocumentRef], rnd: Any
) -> None:
    seen: dict[str, DocumentRef] = {}
    for d in docs:
        seen.setdefault(d.job_id, d)  # the first name wins
    unique = list(seen.values())
    pairs = names.as_documents((d.name, d.job_id) for d in docs)
    assert [(d.name, d.job_id) for d in unique] == [(d.name, d.job_id) for d in pairs]
    with DocumentTable(":memory:", "markdown") as t:
        t.add_many(docs)
        t.assign_paths()
        rows = list(t.rows(size=4))  # several windows
    assert [r.doc for r in rows] == unique
    assert [r.path for r in rows] == _reference_paths(unique, ".md")
    shuffled = unique[:]
    rnd.shuffle(shuffled)
    again = dict(zip(shuffled, output_paths(shuffled), strict=True))
    assert {d: again[d] for d in unique} == dict(zip(unique, [r.path for r in rows], strict=True))


def test_the_docstring_examples_of_the_rule_run() -> None:
    for obj in (names.output_paths, table):
        for example in re.findall(r"```python\n(.*?)```", obj.__doc__ or "", re.DOTALL):
            exec(compile(textwrap.dedent(example), obj.__name__, "exec"), {})


def test_v2_results_are_named_after_their_files_in_the_table() -> None:
    with DocumentTable(":memory:", "markdown") as t:
        t.add_name(("dfl-1", "old.pdf"))
        t.add_name(("dfl-1", "a/one.pdf"))  # a later pair for the same file wins (as a dict)
        t.add_name(("dfl-2", "two.txt"))
        t.add_results([("pjb-1", "dfl-1"), ("pjb-2", "dfl-3"), ("pjb-1", "dfl-2")])
        t.assign_paths()
        got = [(r.doc, r.path) for r in t.rows()]
        with pytest.raises(RuntimeError):
            t.assign_paths()
    assert got == [
        (DocumentRef("a/one.pdf", "pjb-1", "dfl-1"), "a/one.md"),
        (DocumentRef("dfl-3", "pjb-2", "dfl-3"), "dfl-3.md"),  # an unnamed file: its id
    ]


# ------------------------------------------------------------------ ClientDrain, both drivers


@dataclass
class _Client:
    log: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Numbers(ClientDrain[int]):
    n: int
    log: list[str]

    def sync(self, client: Any) -> Iterator[int]:
        for i in range(self.n):
            self.log.append(f"page {i}")
            yield i

    async def aio(self, client: Any) -> AsyncIterator[int]:
        for i in range(self.n):
            self.log.append(f"page {i}")
            yield i

    def put(self, element: int) -> None:
        self.log.append(f"put {element}")


def _drain(n: int, log: list[str]) -> Any:
    count = yield _Numbers(n, log)
    return count


def test_both_drivers_put_each_element_as_it_arrives_and_answer_the_count() -> None:
    expected = [f"{kind} {i}" for i in range(3) for kind in ("page", "put")]
    log: list[str] = []
    assert drive(_drain(3, log), SyncDriver(_Client())) == 3  # type: ignore[arg-type]
    assert log == expected
    log.clear()
    assert asyncio.run(adrive(_drain(3, log), AsyncDriver(_Client()))) == 3  # type: ignore[arg-type]
    assert log == expected


# ------------------------------------------------------------------ runs on an in-memory driver


@dataclass
class _Item:
    item_name: str
    job_id: str | None
    item_id: str
    status_value: str = "completed"


@dataclass
class _File:
    id: str
    display_name: str


@dataclass
class _FakeClient:
    items: list[_Item] = field(default_factory=list)

    def iter_items(self, job_id: str, **tenant: Any) -> Iterator[_Item]:
        yield from self.items

    def iter_directory_files(self, directory_id: str, **tenant: Any) -> Iterator[_File]:
        yield from ()


@dataclass
class _Performer:
    """Answers the outputs steps' effects: fetched outputs are ``content`` (files really staged
    and published when ``files``), file work runs for real, job lookups list nothing."""

    client: Any = field(default_factory=_FakeClient)
    files: bool = True
    content: bytes = b"# parsed\n"
    fetched: list[str] | None = field(default_factory=list)
    """The job ids fetched (``None``: not kept, for the memory test)."""

    def perform(self, effect: Effect[Any]) -> Any:
        match effect:
            case FetchParseOutput(job_id=job_id, staging=staging):
                if self.fetched is not None:
                    self.fetched.append(job_id)
                path = os.path.join(staging, f"{job_id}.part")
                if self.files:
                    Path(path).write_bytes(self.content + job_id.encode())
                content = self.content + job_id.encode()
                return Staged(path, len(content), hashlib.sha256(content).hexdigest())
            case Publish() if not self.files:
                return True
            case FileWork():
                return effect.run()
            case LookUp():
                return []
            case ClientDrain():
                n = 0
                for element in effect.sync(self.client):
                    effect.put(element)
                    n += 1
                return n
            case Gather(ops=ops):
                return [drive(op, self) for op in ops]
            case RequestsMade():
                return 0
        raise AssertionError(f"unexpected effect {effect!r}")


def _run(
    performer: _Performer, folder: Path, documents: Any = None, **options: Any
) -> OutputsResult:
    return drive(outputs_steps(folder, documents, **options), performer)


def _lines(folder: Path) -> list[str]:
    return (folder / MANIFEST_NAME).read_text().splitlines()


def test_a_resume_keeps_the_earlier_entries_it_does_not_touch(tmp_path: Path) -> None:
    first = _Performer()
    done = _run(first, tmp_path, [("a.pdf", "j-a"), ("b.pdf", "j-b"), ("c/c.pdf", "j-c")])
    assert done.written == 3 and first.fetched == ["j-a", "j-b", "j-c"]
    before = {json.loads(line)["output_path"]: line for line in _lines(tmp_path)}
    assert list(before) == ["a.md", "b.md", "c/c.md"]
    with (tmp_path / MANIFEST_NAME).open("a") as handle:
        handle.write('{"damaged": \n')  # ignored: its output would be fetched again

    second = _Performer()
    # a.pdf unchanged, c/c.pdf now another job, d.pdf new; b.pdf not in this run.
    again = _run(second, tmp_path, [("./a.pdf", "j-a"), ("c/c.pdf", "j-c2"), ("d.pdf", "j-d")])
    assert (again.written, again.unchanged, again.documents) == (2, 1, 3)
    assert second.fetched == ["j-c2", "j-d"]  # a.md resumed without a fetch
    after = _lines(tmp_path)
    entries = [json.loads(line) for line in after]
    assert [e["output_path"] for e in entries] == ["a.md", "b.md", "c/c.md", "d.md"]
    assert after[1] == before["b.md"]  # kept verbatim
    assert entries[0]["document"] == "./a.pdf"  # resumed under its new name
    assert entries[2]["job_id"] == "j-c2" and entries[3]["job_id"] == "j-d"
    assert (tmp_path / "c/c.md").read_bytes() == b"# parsed\nj-c2"
    assert not list(tmp_path.glob(".llamabatch-staging-*"))


def test_a_v1_listing_is_drained_into_the_table(tmp_path: Path) -> None:
    client = _FakeClient(
        [
            _Item("x/one.pdf", "j-1", "dfl-1"),
            _Item("no-job.pdf", None, "dfl-2"),  # no output
            _Item("X/ONE.docx", "j-3", "dfl-3", "failed"),
            _Item("again.pdf", "j-1", "dfl-4"),  # the same job: the first name wins
        ]
    )
    performer = _Performer(client)
    result = _run(performer, tmp_path, job_id="bjb-1")
    assert result.documents == 2 and result.written == 1
    assert [f.document for f in result.not_completed] == ["X/ONE.docx"]
    (entry,) = [json.loads(line) for line in _lines(tmp_path)]
    # x/one.md and X/ONE.md collide but for case: both keep their whole name.
    assert entry["output_path"] == "x/one.pdf.md" and entry["item_id"] == "dfl-1"


def _peak(tmp: Path, n: int) -> int:
    documents = ((f"folder-{i % 50}/document number {i:06}.pdf", f"pjb-{i:08}") for i in range(n))
    performer = _Performer(files=False, fetched=None)
    tracemalloc.start()
    try:
        result = _run(performer, tmp, documents, max_concurrency=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.written == n
    assert len(_lines(tmp)) == n
    return peak


def test_a_runs_memory_does_not_grow_with_the_number_of_documents(tmp_path: Path) -> None:
    small = _peak(tmp_path / "small", 2_000)
    large = _peak(tmp_path / "large", 20_000)
    # The manifest lines alone of 20,000 documents are ~5 MB of Python strings: a list- or
    # dict-based run would peak several times higher at 20,000 than at 2,000.
    assert large < 1.5 * small, f"peak {small:,} B at 2,000 documents, {large:,} B at 20,000"
