"""The CLI on v2 batches (``bat-…``) and ``llamabatch outputs``, against the emulator over HTTP.

v2 batches go through the same commands as v1 jobs (``submit``, ``status``, ``wait``,
``cancel``, ``items``) with the same exit codes; ``outputs`` writes parsed documents of either.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest

from prefect_llamabatch import BatchClient
from prefect_llamabatch.cli import ExitCode
from prefect_llamabatch.emulator import Emulator, FaultRule
from tests.client.v2_jobs.helpers import api_client, eventually

GOOD = {"a.txt": "alpha document", "b.md": "# beta\n\nbody", "c.csv": "x,y\n1,2\n"}
WITH_FAILURES = {**GOOD, "empty.txt": b"", "fake.pdf": b"not a pdf at all"}
NESTED = {"reports/q1.md": "# Q1\n\nrevenue up", "notes/a.txt": "alpha", "b.md": "# B\n\nbeta"}
PARSE_FAST = {"product_type": "parse_v2", "tier": "fast", "version": "latest"}


def _api_requests(emu: Emulator) -> int:
    return sum(emu.admin.request_counts().values())


def _client(emu: Emulator) -> BatchClient:
    return BatchClient(emu.api_key, base_url=emu.base_url)


def _submit_v2(cli: Any, directory_id: str, *extra: str) -> str:
    result = cli(
        "submit", "--directory-id", directory_id, "--configuration-id", "cfg-PARSE_FAST", "--json",
        *extra,
    )  # fmt: skip
    assert result.code == ExitCode.OK, result.err
    printed = result.json()
    batch_id: str = printed["batch"]["id"] if "--wait" in extra else printed["id"]
    return batch_id


def _markdown(emu: Emulator, job_id: str) -> bytes:
    with api_client(emu) as api:
        got = api.get(f"/api/v2/parse/{job_id}", params={"expand": "markdown_full"}).json()
    return str(got["markdown_full"]).encode()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _manifest(folder: Path) -> dict[str, dict[str, Any]]:
    lines = (folder / "manifest.jsonl").read_text().splitlines()
    return {e["document"]: e for e in map(json.loads, lines)}


# --------------------------------------------------------------------------------------------
# v2 batches: submit -> wait -> status -> items -> cancel
# --------------------------------------------------------------------------------------------


def test_v2_submit_wait_status_items_round_trip(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id)
    assert batch_id.startswith("bat-")
    with _client(emu) as client:
        remote = client.get_batch(batch_id)
    assert remote.source_directory_id == docs.id
    assert remote.config.job.configuration_id == "cfg-PARSE_FAST"

    waited = cli("wait", batch_id, "--poll-interval", "0.02", "--json")
    assert waited.code == ExitCode.OK, waited.err
    assert waited.json()["batch"]["status"] == "COMPLETED"
    assert waited.json()["counts"] == {
        "total": 3, "completed": 3, "failed": 0, "cancelled": 0, "pending": 0,
    }  # fmt: skip
    assert f"{batch_id} COMPLETED" in waited.err and "3/3 succeeded" in waited.err

    status = cli("status", batch_id, "--json")
    assert status.code == ExitCode.OK, status.err
    assert status.json()["batch"]["id"] == batch_id
    assert status.json()["counts"]["completed"] == 3
    human = cli("status", batch_id)
    assert "COMPLETED" in human.out and docs.id in human.out and "cfg-PARSE_FAST" in human.out

    listed = cli("items", batch_id, "--json")
    assert listed.code == ExitCode.OK, listed.err
    by_name = {i["item_name"]: i for i in listed.json()}
    assert set(by_name) == set(GOOD)
    assert {i["item_id"] for i in listed.json()} == set(docs.files.values())
    assert all(
        i["status"] == "completed" and i["job_id"].startswith("pjb-") for i in by_name.values()
    )
    assert [i["item_name"] for i in listed.json()] == sorted(GOOD)  # by name
    assert len(cli("items", batch_id, "--limit", "2", "--json").json()) == 2
    table = cli("items", batch_id).out
    assert all(name in table for name in GOOD) and by_name["a.txt"]["job_id"] in table


def test_v2_failed_files_exit_1_and_items_lists_them(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="mixed")
    result = cli(
        "submit", "--directory-id", docs.id, "--configuration-id", "cfg-PARSE_FAST",
        "--wait", "--poll-interval", "0.02",
    )  # fmt: skip
    assert result.code == ExitCode.FAILED
    assert "2 of 5 items failed" in result.err
    with _client(emu) as client:
        (batch,) = client.iter_batches(source_directory_id=docs.id)
    assert f"llamabatch items {batch.id} --status failed" in result.err

    failed = cli("items", batch.id, "--status", "failed", "--json")
    assert failed.code == ExitCode.OK
    by_name = {i["item_name"]: i for i in failed.json()}
    assert set(by_name) == {"empty.txt", "fake.pdf"}
    assert "empty" in by_name["empty.txt"]["error_message"]
    assert "PDF" in by_name["fake.pdf"]["error_message"]
    # The same judgement as v1: within --max-failed-fraction is a success.
    accepted = cli("wait", batch.id, "--max-failed-fraction", "0.4")
    assert accepted.code == ExitCode.OK, accepted.err
    assert "accepted" in accepted.err


def test_v2_parameters_are_saved_once_as_a_configuration(cli: Any, emu: Emulator) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    config = json.dumps(PARSE_FAST)
    first = cli("submit", "--api", "v2", "--directory-id", docs.id, "--config", config, "--json")
    assert first.code == ExitCode.OK, first.err
    again = cli("submit", "--api", "v2", "--directory-id", docs.id, "--config", config, "--json")
    assert again.code == ExitCode.OK, again.err
    saved = first.json()["config"]["job"]["configuration_id"]
    assert saved.startswith("cfg-") and saved != "cfg-PARSE_FAST"
    assert again.json()["config"]["job"]["configuration_id"] == saved
    assert emu.admin.request_counts()["create_configuration"] == 1
    assert first.json()["id"] != again.json()["id"]  # two batches, one configuration


def test_v2_cancel_cancels_the_batch_and_is_idempotent(cli: Any, emu: Emulator) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id)
    cancelled = cli("cancel", batch_id, "--json")
    assert cancelled.code == ExitCode.OK, cancelled.err
    assert cancelled.json()["id"] == batch_id
    with _client(emu) as client:
        eventually(lambda: client.get_batch(batch_id).status == "CANCELLED")
    again = cli("cancel", batch_id)
    assert again.code == ExitCode.OK and f"{batch_id} CANCELLED" in again.out
    # Waiting on a cancelled batch is an outcome scripts must see as not-OK.
    assert cli("wait", batch_id).code == ExitCode.FAILED


def test_v2_wait_timeout_exits_6_and_leaves_the_batch_running(cli: Any, emu: Emulator) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id)
    result = cli("wait", batch_id, "--timeout", "0.3", "--poll-interval", "0.05")
    assert result.code == ExitCode.TIMEOUT
    assert "did not finish within 0.3s" in result.err
    assert "it keeps running" in result.err and f"llamabatch cancel {batch_id}" in result.err
    assert emu.admin.request_counts().get("cancel_batch", 0) == 0
    with _client(emu) as client:
        assert client.get_batch(batch_id).status not in ("CANCELLED", "COMPLETED", "FAILED")


def test_v2_wait_rides_out_a_short_outage(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id)
    emu.admin.set_faults([FaultRule(route="get_batch", kind="http_503", count=3, retry_after=0)])
    result = cli("wait", batch_id, "--poll-interval", "0.02", "--max-retries", "0")
    assert result.code == ExitCode.OK, result.err
    assert emu.admin.fault_stats()[0]["fired"] == 3
    assert "riding it out" in result.err


def test_v2_interrupt_exits_130_without_cancelling(
    cli: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id)

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("prefect_llamabatch.cli.batches.time.sleep", ctrl_c)
    result = cli("wait", batch_id)
    assert result.code == ExitCode.INTERRUPTED
    assert f"llamabatch cancel {batch_id}" in result.err
    assert emu.admin.request_counts().get("cancel_batch", 0) == 0


def test_api_option_overrides_the_id_prefix(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id)
    before = emu.admin.request_counts()
    # --api v1 sends a bat- id to the v1 API, which does not know it.
    as_v1 = cli("status", batch_id, "--api", "v1")
    assert as_v1.code == ExitCode.NOT_FOUND and "404" in as_v1.err
    after = emu.admin.request_counts()
    assert after.get("get_job", 0) == before.get("get_job", 0) + 1
    assert after.get("get_batch", 0) == before.get("get_batch", 0)
    # And an id without the documented prefix reaches v2 only when asked.
    as_v2 = cli("status", "bjb-not-a-batch", "--api", "v2")
    assert as_v2.code == ExitCode.NOT_FOUND
    assert "/api/v2/batches/bjb-not-a-batch" in as_v2.err


@pytest.mark.parametrize("command", ["status", "wait", "items", "cancel", "outputs"])
def test_unknown_v2_batch_exits_4(cli: Any, emu: Emulator, tmp_path: Path, command: str) -> None:
    extra = ("--to", str(tmp_path / "out")) if command == "outputs" else ()
    result = cli(command, "bat-missing", *extra)
    assert result.code == ExitCode.NOT_FOUND, result.err
    assert "404" in result.err and "bat-missing" in result.err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# outputs JOB --to DEST
# --------------------------------------------------------------------------------------------


def _check_outputs(emu: Emulator, out: Path, files: dict[str, str]) -> None:
    entries = _manifest(out)
    assert set(entries) == set(files)
    for entry in entries.values():
        content = (out / entry["output_path"]).read_bytes()
        assert content == _markdown(emu, entry["job_id"])
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()


def test_outputs_of_a_v1_job_are_named_after_the_documents(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    docs = emu.admin.seed_directory(NESTED, name="nested")
    job = cli("submit", "--directory-id", docs.id, "--json").json()["id"]
    emu.admin.wait_for_job(job)
    out = tmp_path / "parsed"
    first = cli("outputs", job, "--to", str(out))
    assert first.code == ExitCode.OK, first.err
    assert "3 written" in first.out and "0 unchanged" in first.out and "0 failed" in first.out
    assert f"manifest: {out / 'manifest.jsonl'}" in first.out
    assert _files(out) == ["b.md", "manifest.jsonl", "notes/a.md", "reports/q1.md"]
    _check_outputs(emu, out, NESTED)
    assert (out / "reports/q1.md").read_text().startswith("# Q1")

    stamps = {p: (out / p).stat().st_mtime_ns for p in _files(out) if p != "manifest.jsonl"}
    before = emu.admin.request_counts()
    again = cli("outputs", job, "--to", str(out), "--json")
    assert again.code == ExitCode.OK, again.err
    assert (again.json()["written"], again.json()["unchanged"]) == (0, 3)
    assert {p: (out / p).stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten
    fetched = emu.admin.request_counts().get("get_parse_job", 0) - before.get("get_parse_job", 0)
    assert fetched == 0


def test_outputs_of_a_v2_batch_with_failures_and_other_formats(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    docs = emu.admin.seed_directory({**NESTED, "empty.txt": b""}, name="nested")
    batch_id = _submit_v2(cli, docs.id)
    assert cli("wait", batch_id, "--poll-interval", "0.02").code == ExitCode.FAILED
    out = tmp_path / "parsed"
    written = cli("outputs", batch_id, "--to", str(out))
    # A document whose parse failed is listed, not an error of the outputs command.
    assert written.code == ExitCode.OK, written.err
    assert "3 written" in written.out and "1 not completed" in written.out
    assert "empty.txt" in written.out and "FAILED" in written.out
    assert _files(out) == ["b.md", "manifest.jsonl", "notes/a.md", "reports/q1.md"]
    _check_outputs(emu, out, NESTED)

    rerun = cli("outputs", batch_id, "--to", str(out), "--json").json()
    assert (rerun["written"], rerun["unchanged"]) == (0, 3)

    text = cli("outputs", batch_id, "--to", str(tmp_path / "text"), "--format", "text")
    assert text.code == ExitCode.OK, text.err
    assert "notes/a.txt" in _files(tmp_path / "text")
    items = cli("outputs", batch_id, "--to", str(tmp_path / "items"), "--format", "items")
    assert items.code == ExitCode.OK, items.err
    assert isinstance(json.loads((tmp_path / "items/b.json").read_text()), (list, dict))


def test_outputs_to_an_fsspec_url(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(NESTED, name="nested")
    batch_id = _submit_v2(cli, docs.id, "--wait", "--poll-interval", "0.02")
    result = cli("outputs", batch_id, "--to", "memory://cli-outputs/run1")
    assert result.code == ExitCode.OK, result.err
    fs = fsspec.filesystem("memory")
    try:
        found = sorted(p.removeprefix("/cli-outputs/run1/") for p in fs.find("/cli-outputs/run1"))
        assert found == ["b.md", "manifest.jsonl", "notes/a.md", "reports/q1.md"]
        assert fs.cat("/cli-outputs/run1/b.md").startswith(b"# B")
    finally:
        fs.rm("/cli-outputs", recursive=True)


def test_outputs_that_cannot_be_fetched_exit_1(cli: Any, emu: Emulator, tmp_path: Path) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    batch_id = _submit_v2(cli, docs.id, "--wait", "--poll-interval", "0.02")
    emu.admin.set_faults([FaultRule(route="get_parse_job", kind="http_500")])
    result = cli("outputs", batch_id, "--to", str(tmp_path), "--max-retries", "0")
    assert result.code == ExitCode.FAILED, result.err
    assert "3 failed" in result.out and "a rerun retries them" in result.err
    emu.admin.clear_faults()
    fixed = cli("outputs", batch_id, "--to", str(tmp_path))
    assert fixed.code == ExitCode.OK, fixed.err
    assert "3 written" in fixed.out


def test_outputs_to_a_file_is_refused_before_any_request(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    before = _api_requests(emu)
    result = cli("outputs", "bjb-1", "--to", str(target))
    assert result.code == ExitCode.USAGE
    assert "--to" in result.err and "not a folder" in result.err
    assert _api_requests(emu) == before


def test_no_secret_appears_in_v2_and_outputs_output(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="mixed")
    batch_id = _submit_v2(cli, docs.id)
    printed = []
    for args in (
        ("wait", batch_id, "--poll-interval", "0.02", "--json"),
        ("status", batch_id),
        ("items", batch_id),
        ("outputs", batch_id, "--to", str(tmp_path)),
        ("outputs", batch_id, "--to", "nope://user:SECRET-pw@host/x"),
        ("cancel", batch_id),
    ):
        result = cli(*args)
        printed.append(result.out + result.err)
    assert "--to: cannot write to 'nope://host/x'" in printed[4]
    assert emu.api_key not in "".join(printed) and "SECRET" not in "".join(printed)


def test_console_script_exit_codes_for_v2_and_outputs(emu: Emulator, tmp_path: Path) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="mixed")
    env = {**os.environ, **emu.env()}
    script = Path(sys.executable).with_name("llamabatch")

    def shell(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )

    submitted = shell(
        "submit", "--directory-id", docs.id, *CFG, "--wait", "--poll-interval", "0.02"
    )
    assert submitted.returncode == ExitCode.FAILED, submitted.stderr  # 2 of 5 files failed
    # Found in what it says, not at a fixed word: an older Prefect may print warnings before it.
    announced = re.search(r"\bbat-[\w-]+", submitted.stderr)
    assert announced, submitted.stderr
    batch_id = announced.group(0)
    written = shell("outputs", batch_id, "--to", str(tmp_path / "out"))
    assert written.returncode == ExitCode.OK, written.stderr
    assert "3 written" in written.stdout and "2 not completed" in written.stdout
    assert shell("status", "bat-missing").returncode == ExitCode.NOT_FOUND
    bad = shell("outputs", batch_id, "--to", "nope://x")
    assert bad.returncode == ExitCode.USAGE and "Traceback" not in bad.stderr


# --------------------------------------------------------------------------------------------
# Bad input: a clear message naming the option, exit 2, and not one request sent
# --------------------------------------------------------------------------------------------

CFG = ("--configuration-id", "cfg-PARSE_FAST")
BAD_TIER = {**PARSE_FAST, "tier": "best"}
BAD_INPUT = [
    (("submit", *CFG, "--item-id", "dfl-1"), "--item-id"),
    (("submit", *CFG), "--directory-id"),
    (("submit", *CFG, "--directory-id", "d", "--idempotency-key", "k"), "--idempotency-key"),
    (("submit", *CFG, "--directory-id", "d", "--config", "{}"), "--configuration-id"),
    (("submit", "--api", "v2", "--directory-id", "d"), "--configuration-id"),
    (("submit", "--api", "v1", *CFG, "--directory-id", "d"), "--configuration-id"),
    (("submit", "--configuration-id", "cfg/x", "--directory-id", "d"), "--configuration-id"),
    (("submit", *CFG, "--directory-id", "../d"), "--directory-id"),
    (
        ("submit", "--api", "v2", "--directory-id", "d", "--config", '{"tier": "fast"}'),
        "--config: parameters.product_type",
    ),
    (
        ("submit", "--api", "v2", "--directory-id", "d", "--config", json.dumps(BAD_TIER)),
        "--config: parse_v2.tier",
    ),
    (("submit", *CFG, "--directory-id", "d", "--wait", "--poll-interval", "0"), "--poll-interval"),
    (("status", "bat-1/../x"), "JOB_ID"),
    (("wait", "bat-1", "--timeout", "-1"), "--timeout"),
    (("cancel", "bat-1", "--reason", "why"), "--reason"),
    (("items", "bat-1", "--limit", "0"), "--limit"),
    (("status", "bat-1", "--api", "v3"), "--api"),
    (("outputs", "bjb-1"), "--to"),
    (("outputs", "bjb-1", "--to", ""), "--to: must not be empty"),
    (("outputs", "bjb-1", "--to", "nope://x"), "--to: cannot write to 'nope://x'"),
    (("outputs", "bjb-1", "--to", "out", "--format", "pdf"), "--format"),
    (("outputs", "bjb-1", "--to", "out", "--max-concurrency", "0"), "--max-concurrency"),
    (("outputs", " ", "--to", "out"), "JOB_ID"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_v2_and_outputs_input_exits_2_before_any_request(
    cli: Any, emu: Emulator, args: tuple[str, ...], message: str
) -> None:
    before = _api_requests(emu)
    result = cli(*args)
    assert result.code == ExitCode.USAGE, result.err
    assert message in result.err
    assert _api_requests(emu) == before
