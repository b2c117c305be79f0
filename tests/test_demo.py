"""The ``make demo`` main job: ``llamabatch demo --emulator`` end to end, as a user runs it.

It runs as a subprocess with a fresh ``PREFECT_HOME`` (so Prefect's ephemeral API starts from an
empty database, as on a fresh clone), the emulator time-scaled.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_llamabatch.cli import ExitCode, run
from prefect_llamabatch.demo import FLAKY_PATTERN, SAMPLE_DOCS, SAMPLE_DOCUMENTS
from prefect_llamabatch.emulator import DEFAULT_API_KEY, Emulator

PERMANENT = sorted(d.name for d in SAMPLE_DOCUMENTS if d.expected == "failed")
RECOVERED = [d.name for d in SAMPLE_DOCUMENTS if d.expected == "recovered"]


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

    # The first run fails on the documented failures (4: three permanent, one flaky) …
    assert "completed with 4 of 11 items failed" in out
    for name in [*PERMANENT, *RECOVERED]:
        assert name in out
    assert "the file is empty" in out and "no %PDF- header" in out and "invalid UTF-8" in out
    # … the retry round recovers the flaky one only.
    assert f"recovered: {RECOVERED[0]}" in out
    assert f"still failing: {', '.join(PERMANENT)}" in out
    assert "did not behave as documented" not in out

    # Live progress of the wait, from the Prefect run logs.
    assert "processed" in err and "(100%)" in err
    # No tracebacks for expected failures, no shutdown noise, no key.
    assert "Traceback" not in err and "CancelledError" not in err
    assert DEFAULT_API_KEY not in out + err

    # Where to look: outputs, the export, Prefect's database and the artifacts.
    outputs = list((workdir / "emulator" / "data" / "outputs").rglob("*.md"))
    assert len(outputs) == 8  # 7 completed at once, plus the recovered one
    with (workdir / "failed-items.csv").open() as handle:
        exported = sorted(row["item_name"] for row in csv.DictReader(handle))
    assert exported == sorted([*PERMANENT, *RECOVERED])
    database = tmp_path / "prefect-home" / "prefect.db"
    assert database.exists() and str(database) in out
    assert "prefect server start" in out
    for key in ("llamabatch-summary-", "llamabatch-failed-items-", "llamabatch-still-failing-"):
        assert key in out


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

    from prefect_llamabatch.demo import run_demo

    emu = llamacloud_env
    printed = StringIO()
    report = run_demo(workdir=tmp_path, console=Console(file=printed, width=300))
    assert report.exit_code == ExitCode.OK
    assert report.backend == emu.base_url and report.prefect_api == prefect_api
    assert report.first.counts.total == 11 and report.first.counts.failed == 4
    assert sorted(f.item_name for f in report.retry.failed_items) == PERMANENT
    # Outputs are where the service says they are (s3:// URIs outside the in-process emulator).
    assert len(report.outputs) == 8
    assert all(path.startswith("s3://") for path in report.outputs.values())
    keys = [key for key, _ in report.artifacts]
    assert any(k.startswith("llamabatch-summary-") for k in keys)
    jobs = emu.admin.ground_truth().jobs
    assert sorted(j.total_items for j in jobs) == [4, 11]
    assert emu.api_key not in printed.getvalue()
