"""The ``make demo`` main job: ``llamabatch demo --emulator`` end to end, as a user runs it.

It runs as a subprocess with a fresh ``PREFECT_HOME`` (so Prefect's ephemeral API starts from an
empty database, as on a fresh clone), the emulator time-scaled.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_llamabatch.cli import ExitCode, run
from prefect_llamabatch.cli.demo import FLAKY_PATTERN, SAMPLE_DOCS, SAMPLE_DOCUMENTS
from prefect_llamabatch.emulator import DEFAULT_API_KEY, Emulator
from prefect_llamabatch.emulator.outcomes import render_markdown

PERMANENT = sorted(d.name for d in SAMPLE_DOCUMENTS if d.expected == "failed")
RECOVERED = [d.name for d in SAMPLE_DOCUMENTS if d.expected == "recovered"]
COMPLETED = sorted(d.name for d in SAMPLE_DOCUMENTS if d.expected == "completed")
# The v2 part runs no retry round, so its flaky document stays failed: no markdown for it.
PARSED = {"v2": COMPLETED, "v1": sorted([*COMPLETED, *RECOVERED])}


def markdown_name(document: str) -> str:
    return str(Path(document).with_suffix(".md"))


def assert_parsed_markdown(folder: Path, documents: list[str]) -> None:
    """One markdown file per document, named after it, holding the emulator's parse of it."""
    assert sorted(p.name for p in folder.glob("*.md")) == sorted(map(markdown_name, documents))
    for document in documents:
        written = (folder / markdown_name(document)).read_text(encoding="utf-8")
        assert written.strip()
        assert written == render_markdown(document, (SAMPLE_DOCS / document).read_bytes())
    manifest = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert sorted(entry["document"] for entry in manifest) == documents


def test_every_sample_document_is_documented() -> None:
    on_disk = sorted(p.name for p in SAMPLE_DOCS.iterdir() if p.is_file())
    assert on_disk == sorted(d.name for d in SAMPLE_DOCUMENTS)
    assert PERMANENT and RECOVERED
    from fnmatch import fnmatchcase

    assert [n for n in on_disk if fnmatchcase(n, FLAKY_PATTERN)] == RECOVERED


def test_demo_end_to_end(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "LLAMA_CLOUD_", "LLAMA_PARSE_"))
    }
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["COLUMNS"] = "300"  # rich wraps at 80 columns without a terminal
    script = Path(sys.executable).with_name("llamabatch")
    proc = subprocess.run(
        [str(script), "demo", "--emulator", "--time-scale", "0.05", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == ExitCode.OK, out + err

    # v2 first, then v1: each first run fails on the documented failures (4: three
    # permanent, one flaky) …
    assert out.index("v2 Batches API") < out.index("v1 batch-processing API")
    assert out.count("completed with 4 of 11 items failed") == 2
    assert "Report of v2 batch bat-" in out and "Report of v1 batch job bjb-" in out
    for name in [*PERMANENT, *RECOVERED]:
        assert name in out
    assert "the file is empty" in out and "no %PDF- header" in out and "invalid UTF-8" in out
    # … the (v1) retry round recovers the flaky one only.
    assert f"recovered: {RECOVERED[0]}" in out
    assert f"still failing: {', '.join(PERMANENT)}" in out
    assert "did not behave as documented" not in out

    # Live progress of the wait, from the Prefect run logs.
    assert "processed" in err and "(100%)" in err
    # No tracebacks for expected failures, no shutdown noise, no key.
    assert "Traceback" not in err and "CancelledError" not in err
    assert DEFAULT_API_KEY not in out + err

    # The parsed markdown of every completed document, named after it, for both APIs; the
    # report names each file.
    for api, documents in PARSED.items():
        assert_parsed_markdown(workdir / "outputs" / api, documents)
        assert f"{api} outputs (markdown per document" in out
        for document in documents:
            assert f"outputs/{api}/{markdown_name(document)}" in out
    # What the emulator stored for the v1 jobs: 7 completed at once, plus the recovered one.
    outputs = list((workdir / "emulator" / "data" / "outputs").rglob("*.md"))
    assert len(outputs) == 8

    # Where to look: the exports, Prefect's database and the artifacts.
    for api in PARSED:
        with (workdir / f"failed-items-{api}.csv").open() as handle:
            exported = sorted(row["item_name"] for row in csv.DictReader(handle))
        assert exported == sorted([*PERMANENT, *RECOVERED])
    database = tmp_path / "prefect-home" / "prefect.db"
    assert database.exists() and str(database) in out
    assert "prefect server start" in out
    for key in ("llamabatch-summary-", "llamabatch-failed-items-", "llamabatch-still-failing-"):
        assert key in out
    assert "llamabatch-summary-bat-" in out  # the v2 batch's own summary


def test_demo_without_key_or_emulator_exits_3(
    clean_llamacloud_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["demo"]) == ExitCode.AUTH
    err = capsys.readouterr().err
    assert "LLAMA_CLOUD_API_KEY" in err and "--emulator" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--docs", "/nonexistent/folder"], "is not a folder"),
        (["--time-scale", "-1"], "--time-scale"),
    ],
)
def test_demo_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["demo", "--emulator", *args]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_demo_refuses_an_empty_docs_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["demo", "--emulator", "--docs", str(tmp_path)]) == ExitCode.USAGE
    assert "has no files" in capsys.readouterr().err


@pytest.mark.llamacloud_emulator(transient_failure_patterns=[FLAKY_PATTERN])
def test_demo_without_emulator_flag_uses_the_configured_api(
    llamacloud_env: Emulator, prefect_api: str, tmp_path: Path
) -> None:
    """Without --emulator the demo talks to $LLAMA_CLOUD_BASE_URL (here: an emulator we run)."""
    from io import StringIO

    from rich.console import Console

    from prefect_llamabatch.cli.demo import run_demo

    emu = llamacloud_env
    printed = StringIO()
    report = run_demo(workdir=tmp_path, console=Console(file=printed, width=300))
    assert report.exit_code == ExitCode.OK
    assert report.backend == emu.base_url and report.prefect_api == prefect_api
    assert report.v1 is not None and report.v2 is not None
    for run_ in (report.v1, report.v2):
        assert run_.first.counts.total == 11 and run_.first.counts.failed == 4
    assert sorted(f.item_name for f in report.v1.retry.failed_items) == PERMANENT
    assert report.v2.retry is None and len(report.v2.first.shards) == 1
    # The markdown is fetched through the API (not read from the emulator's disk), so a
    # service outside this process delivers it the same way.
    for api, run_ in (("v1", report.v1), ("v2", report.v2)):
        assert Path(run_.output_folder) == tmp_path / "outputs" / api
        assert sorted(run_.outputs) == PARSED[api]
        assert_parsed_markdown(Path(run_.output_folder), PARSED[api])
    keys = [key for key, _ in report.artifacts]
    assert any(k.startswith("llamabatch-summary-") for k in keys)
    jobs = emu.admin.ground_truth().jobs
    assert sorted(j.total_items for j in jobs) == [4, 11]
    assert emu.api_key not in printed.getvalue()
