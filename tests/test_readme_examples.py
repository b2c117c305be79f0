"""Every ```python block of README.md and docs/*.md runs as written.

A block runs against a real emulator and the session's real Prefect API, in a fresh working
directory holding ``./invoices``, as a script (``__name__ == "__main__"``), with the placeholder
ids it names (``"dir-123"``, ``"bjb-123"`` …) mapped onto real objects. The emulator, the seeded
objects and the saved blocks are the docstring examples' (:mod:`tests.test_docstring_examples`),
so both kinds of example see the same world. A block that defines pytest tests (the README's
"emulator for your own tests") is run by pytest itself, in a subprocess, with the package's
plugin, as a user's test suite would run it.

Blocks not meant to run (shell, yaml, signatures) carry another fence tag; the last tests check
that every fence is tagged and that the README says what the tasks return.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_llamabatch.emulator import Emulator
from tests import test_docstring_examples as docstring_examples

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(`{3,})(\S*)[^\n]*\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)

# The docstring examples' module-scoped fixtures: one emulator, seeded once, blocks saved.
emulator = docstring_examples.emulator
seeded = docstring_examples.seeded
placeholders = docstring_examples.placeholders


def _fences(path: Path) -> list[tuple[int, str, str]]:
    """``(line, tag, code)`` of every fenced block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(2), m.group(3)) for m in _FENCE.finditer(text)
    ]


def _python_blocks() -> list[tuple[str, str]]:
    return [
        (f"{path.relative_to(ROOT)}:{line}", code)
        for path in DOCUMENTS
        for line, tag, code in _fences(path)
        if tag == "python"
    ]


BLOCKS = _python_blocks()

EXPECTED_OUTPUT = {
    # A distinctive piece of a block -> what it prints when it did what it says.
    "async def job_status(": "completed: 3/3, 1 failed",
    "def parse_folder(": "[]",
    "print(result.summary())": "succeeded",
    "credentials.get_client()": " completed",
    "run.wait_for_completion()": "",
}


def _readme_ids(placeholders: dict[str, str]) -> dict[str, str]:
    # The README's flows example retries "bjb-456": the job with the transient failure.
    return {**placeholders, "bjb-456": placeholders["bjb-123"]}


def test_the_documents_have_python_examples() -> None:
    names = [name for name, _ in BLOCKS]
    assert sum(name.startswith("README.md") for name in names) >= 5
    assert any(name.startswith("docs/") for name in names)
    # The async example is among them, with the block loading Prefect users write.
    assert any("await LlamaCloudCredentials.aload(" in code for _, code in BLOCKS)


@pytest.mark.parametrize(("name", "code"), BLOCKS, ids=[n for n, _ in BLOCKS])
def test_block_runs_as_written(
    name: str,
    code: str,
    emulator: Emulator,
    placeholders: dict[str, str],
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if "def test_" in code:
        _run_with_pytest(code, prefect_api, tmp_path)
        return
    monkeypatch.delenv("LLAMA_PARSE_API_KEY", raising=False)
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", emulator.api_key)
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", emulator.base_url)
    (tmp_path / "invoices").mkdir()
    for file, content in docstring_examples.INVOICES.items():
        (tmp_path / "invoices" / file).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    before = sum(emulator.admin.request_counts().values())

    real = docstring_examples._with_real_ids(code, _readme_ids(placeholders))
    exec(compile(real, name, "exec"), {"__name__": "__main__"})

    if docstring_examples._talks_to_the_api(code):
        # A block that only defined a flow would pass without reaching the API.
        assert sum(emulator.admin.request_counts().values()) > before
    printed = capsys.readouterr().out
    for marker, expected in EXPECTED_OUTPUT.items():
        if marker in code:
            assert expected in printed


def _run_with_pytest(code: str, prefect_api: str, tmp_path: Path) -> None:
    """Runs a block of pytest tests the way a user's suite would: pytest, the package's plugin."""
    tests = tmp_path / "test_from_the_docs.py"
    tests.write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(tmp_path),
            str(tests),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    defined = len(re.findall(r"^def test_", code, re.MULTILINE))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{defined} passed" in done.stdout


def test_every_fence_says_what_it_holds() -> None:
    untagged = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in DOCUMENTS
        for line, tag, _ in _fences(path)
        if not tag
    ]
    assert untagged == []
    for name, code in BLOCKS:  # a signature listing tagged python would fail here first
        compile(code, name, "exec")


def test_the_task_table_names_what_each_task_returns() -> None:
    import prefect_llamabatch.orchestration.tasks as tasks
    from prefect_llamabatch.orchestration.item_results import fetch_item_results
    from prefect_llamabatch.orchestration.outputs import download_outputs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| task | does | returns |") :].split("\n\n", 1)[0]
    rows = {
        row.split("`")[1].split("(")[0]: row.rsplit("|", 2)[1] for row in table.splitlines()[2:]
    }
    public = {
        name: getattr(tasks, name)
        for name in tasks.__all__
        if callable(getattr(tasks, name)) and name.islower() and name != "default_idempotency_key"
    }
    public |= {"fetch_item_results": fetch_item_results, "download_outputs": download_outputs}
    assert set(rows) == set(public)
    for task, returned in rows.items():
        annotation = str(public[task].fn.__annotations__["return"])
        # "Steps[BatchJobStatus]" -> "BatchJobStatus"; the README's cell starts with that name.
        inner = annotation.removeprefix("Steps[").removesuffix("]")
        assert inner.replace("list[", "").rstrip("]") in returned, (task, inner, returned)


def test_an_unawaited_load_in_an_async_flow_is_named_for_what_it_is(
    placeholders: dict[str, str],
) -> None:
    """The mistake the README's async example used to make: ``load`` without ``await``.

    Prefect's ``load`` hands back a coroutine in an async flow; the task must say that and
    point to ``aload``, not talk about API keys (issue 12).
    """
    import asyncio

    from prefect import flow

    from prefect_llamabatch import LlamaCloudCredentials, get_batch_job

    @flow
    async def unawaited(job_id: str) -> None:
        credentials = LlamaCloudCredentials.load("llamacloud")  # the mistake
        await get_batch_job(credentials, job_id)

    with pytest.raises(TypeError) as raised:
        asyncio.run(unawaited(placeholders["bjb-123"]))
    message = str(raised.value)
    assert "coroutine" in message and "aload" in message
    assert "API key" not in message
