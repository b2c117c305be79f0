"""Every ```python example in the docstrings of the package's public API runs as written.

"Public API" is everything ``prefect_llamabatch/__init__.py`` exports, the methods and properties
of those classes (and of their package base classes), and the class of an exported instance when
the package defines it (the ``DualTask`` of the tasks). Each example runs against a real emulator
and the session's real Prefect API, in a fresh working directory holding ``./invoices``.

Examples name placeholder ids as a user would (``"dir-123"``, ``"bjb-123"``, ...); the emulator
mints its own ids, so :data:`PLACEHOLDERS` maps each quoted placeholder onto a real object seeded
for it (a directory, its files, a completed job) before the example runs. Blocks are saved under
the names the examples load: ``"llamacloud"``, ``"BLOCK_NAME"`` (Prefect's convention for block
docstrings) and ``"nightly-invoices"``.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.blocks.core import Block

import prefect_llamabatch as package
from prefect_llamabatch import BatchClient, LlamaBatchJob, LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator, EmulatorConfig, run_emulator

_EXAMPLE = re.compile(r"```python\n(.*?)```", re.DOTALL)

INVOICES = {"invoice-001.txt": b"Total due: 120 EUR", "invoice-002.md": b"# Invoice 2\n\n80 EUR"}
"""The ``./invoices`` folder of the examples' working directory (every file parses)."""


def _in_package(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "")).startswith(package.__name__)


def _own_doc(obj: Any) -> str:
    # Not inspect.getdoc: it falls back to an overridden method's docstring (Prefect's own
    # Flow.with_options examples would then be collected as ours).
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _documented(obj: Any) -> list[tuple[str, Any]]:
    """``(name, object)`` pairs whose docstrings belong to ``obj``'s public surface, ``obj`` first."""
    if inspect.isclass(obj):
        pairs: list[tuple[str, Any]] = [(f"{obj.__module__}.{obj.__qualname__}", obj)]
        for klass in reversed(inspect.getmro(obj)):
            if not _in_package(klass):
                continue
            for attr, value in vars(klass).items():
                if isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                elif isinstance(value, property):
                    value = value.fget
                if inspect.isfunction(value) and not attr.startswith("_"):
                    pairs.append((f"{klass.__module__}.{klass.__qualname__}.{attr}", value))
        return pairs
    if not callable(obj):
        return []  # __version__
    fn = getattr(obj, "fn", obj)  # a Prefect task or flow: its function carries the docstring
    pairs = [(f"{fn.__module__}.{fn.__qualname__}", fn)]
    if _in_package(type(obj)) and not inspect.isfunction(obj):
        pairs += _documented(type(obj))  # DualTask, LlamaBatchFlow
    return pairs


def _blocks(obj: Any) -> list[str]:
    return [textwrap.dedent(block) for block in _EXAMPLE.findall(_own_doc(obj))]


def _examples() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for exported in package.__all__:
        for name, obj in _documented(getattr(package, exported)):
            for number, code in enumerate(_blocks(obj), 1):
                found.setdefault(name if number == 1 else f"{name}#{number}", code)
    return sorted(found.items())


EXAMPLES = _examples()


def test_every_public_task_flow_and_block_has_an_example() -> None:
    # Tasks, flows and functions are the non-class exports; blocks are the Block subclasses.
    required = [
        name
        for name in package.__all__
        if name != "__version__"
        and (not inspect.isclass(obj := getattr(package, name)) or issubclass(obj, Block))
    ]
    assert len(required) >= 18
    assert [n for n in required if not _blocks(_documented(getattr(package, n))[0][1])] == []
    names = {name for name, _ in EXAMPLES}
    # Collection reaches methods and the package's own classes of exported instances.
    assert "prefect_llamabatch.orchestration.dispatch.DualTask" in names
    assert "prefect_llamabatch.flows.base.LlamaBatchFlow" in names
    assert not any(name.endswith("with_options") for name in names)  # Prefect's, not ours


BLOCK_NAMES = ("llamacloud", "BLOCK_NAME", "nightly-invoices")
"""Block names the examples use (``BLOCK_NAME`` is Prefect's placeholder): each test saves its own."""


def _save_blocks(emu: Emulator, directory_id: str) -> dict[str, str]:
    """Blocks under names unique to this test, pointing at this module's emulator.

    A name shared between tests (another module on the worker's Prefect API, or this module's
    previous emulator after the worker came back to it) could hand an example a block whose
    emulator has stopped; fresh names cannot.
    """
    suffix = uuid.uuid4().hex[:8]
    names = {name: f"{name.lower().replace('_', '-')}-{suffix}" for name in BLOCK_NAMES}
    credentials = LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url)
    credentials.save(names["llamacloud"])
    credentials.save(names["BLOCK_NAME"])
    for name in (names["BLOCK_NAME"], names["nightly-invoices"]):
        LlamaBatchJob(credentials=credentials, directory_id=directory_id).save(name)
    return names


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(
        time_scale=0.01, failure_patterns=["bad-*"], transient_failure_patterns=["flaky-*"]
    )
    with run_emulator(config) as emu:
        yield emu


@pytest.fixture(scope="module")
def seeded(emulator: Emulator, prefect_api: str) -> dict[str, str]:
    """Seeds the emulator (once per module); placeholder id -> real id."""
    emu = emulator
    # "dir-123" and its job "bjb-123": the job's one failure is transient (a retry succeeds, and
    # later jobs over the directory succeed).
    invoices = emu.admin.seed_directory(
        {
            "invoice-001.txt": b"Total due: 120 EUR",
            "contract-001.md": b"# Contract\n\nSigned.",
            "flaky-scan.txt": b"readable on the second try",
        },
        name="invoices",
    )
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        job = client.create_job({"directory_id": invoices.id, "job_config": {}})
    truth = emu.admin.wait_for_job(job.id)
    assert truth.status_value == "completed" and truth.counts["failed"] == 1
    # "dir-1": a permanent failure, so process_directory raises BatchItemsFailed.
    mixed = emu.admin.seed_directory(
        {"a.txt": b"fine", "bad-scan.txt": b"unreadable"}, name="mixed"
    )

    return {
        "dir-123": invoices.id,
        "dfl-1": invoices.files["invoice-001.txt"],
        "dfl-2": invoices.files["contract-001.md"],
        "dir-1": mixed.id,
        "bjb-123": job.id,
    }


@pytest.fixture
def placeholders(emulator: Emulator, seeded: dict[str, str]) -> dict[str, str]:
    """The seeded ids, and the examples' block names mapped onto blocks saved for this test."""
    return {**seeded, **_save_blocks(emulator, seeded["dir-123"])}


EXPECTED_OUTPUT = {
    "prefect_llamabatch.orchestration.dispatch.DualTask": "completedcompleted",
    "prefect_llamabatch.flows.retry.retry_failed_items": "0 still failing after 1 rounds",
    "prefect_llamabatch.orchestration.item_results.fetch_item_results": "s3://llamabatch-emulator/",
    "prefect_llamabatch.orchestration.exceptions.BatchRunError": "['bad-scan.txt']",
    "prefect_llamabatch.orchestration.tasks.get_batch_job": "100.0",
    "prefect_llamabatch.orchestration.tasks.list_job_items": "['flaky-scan.txt']",
    "prefect_llamabatch.orchestration.tasks.wait_for_batch_job": "1 failed item(s) accepted",
}
"""What an example prints that shows it did what it says (a substring of its stdout)."""


def _with_real_ids(code: str, placeholders: dict[str, str]) -> str:
    for placeholder, real in placeholders.items():
        code = code.replace(f'"{placeholder}"', f'"{real}"')
    return code


def _talks_to_the_api(code: str) -> bool:
    # A saved block, the environment's client or a saved job: the example is meant to call the API.
    return any(s in code for s in (".load(", "Client.from_env(", "run_llama_batch_job("))


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_runs(
    name: str,
    code: str,
    emulator: Emulator,
    placeholders: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LLAMA_PARSE_API_KEY", raising=False)
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", emulator.api_key)
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", emulator.base_url)
    (tmp_path / "invoices").mkdir()
    for file, content in INVOICES.items():
        (tmp_path / "invoices" / file).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    before = sum(emulator.admin.request_counts().values())

    exec(compile(_with_real_ids(code, placeholders), name, "exec"), {"__name__": "__example__"})

    if _talks_to_the_api(code):
        # An example that only defines a flow would pass without ever reaching the API.
        assert sum(emulator.admin.request_counts().values()) > before
    printed = capsys.readouterr().out
    assert EXPECTED_OUTPUT.get(name, "") in printed
