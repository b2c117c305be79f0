"""The ``llamabatch`` CLI against a real emulator over HTTP: output, exit codes, bad input.

Commands run in-process through ``prefect_llamabatch.cli.run`` (the function the console script
calls); a few run as real subprocesses to check the exit codes a shell sees.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prefect_llamabatch import BatchClient, BatchJob, BatchJobStatus
from prefect_llamabatch.cli import ExitCode, run
from prefect_llamabatch.emulator import Emulator, FaultRule

GOOD = {"a.txt": "alpha document", "b.md": "# beta\n\nbody", "c.csv": "x,y\n1,2\n"}
WITH_FAILURES = {**GOOD, "empty.txt": b"", "fake.pdf": b"not a pdf at all"}


def _api_requests(emu: Emulator) -> int:
    return sum(emu.admin.request_counts().values())


def _submit(cli: Any, directory_id: str, *extra: str) -> str:
    result = cli("submit", "--directory-id", directory_id, "--json", *extra)
    assert result.code == ExitCode.OK, result.err
    job_id: str = result.json()["id"]
    return job_id


# --------------------------------------------------------------------------------------------
# Commands against the emulator
# --------------------------------------------------------------------------------------------


def test_submit_wait_status_jobs_round_trip(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id, "--config", '{"parameters": {"fast_mode": true}}')

    truth = emu.admin.ground_truth(job_id).job(job_id)
    assert truth.directory_id == docs.id and truth.total_items == 3

    waited = cli("wait", job_id, "--poll-interval", "0.02", "--json")
    assert waited.code == ExitCode.OK, waited.err
    assert waited.json()["job"]["status"] == "completed"
    assert "3/3 succeeded" in waited.err

    status = cli("status", job_id, "--json")
    assert status.code == ExitCode.OK
    assert status.json()["job"]["processed_items"] == 3
    assert status.json()["progress_percentage"] == 100.0

    listed = cli("jobs", "--directory-id", docs.id, "--status", "completed", "--json")
    assert [j["id"] for j in listed.json()] == [job_id]
    assert cli("jobs", "--status", "running", "--json").json() == []

    human = cli("status", job_id)
    assert "completed" in human.out and docs.id in human.out


def test_submit_with_wait_exits_1_and_items_lists_the_failures(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="mixed")
    result = cli("submit", "--directory-id", docs.id, "--wait", "--poll-interval", "0.02")
    assert result.code == ExitCode.FAILED
    assert "2 of 5 items failed" in result.err
    job_id = emu.admin.ground_truth().jobs[0].id
    assert f"llamabatch items {job_id} --status failed" in result.err

    failed = cli("items", job_id, "--status", "failed", "--json")
    assert failed.code == ExitCode.OK
    by_name = {i["item_name"]: i for i in failed.json()}
    assert set(by_name) == {"empty.txt", "fake.pdf"}
    assert "empty" in by_name["empty.txt"]["error_message"]
    assert "PDF" in by_name["fake.pdf"]["error_message"]

    table = cli("items", job_id, "--status", "failed")
    assert "empty.txt" in table.out and "fake.pdf" in table.out and "a.txt" not in table.out
    assert len(cli("items", job_id, "--limit", "2", "--json").json()) == 2


def test_failures_within_max_failed_fraction_exit_0(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="mixed")
    job_id = _submit(cli, docs.id)
    assert cli("wait", job_id, "--poll-interval", "0.02").code == ExitCode.FAILED
    accepted = cli("wait", job_id, "--max-failed-fraction", "0.4")
    assert accepted.code == ExitCode.OK
    assert "accepted" in accepted.err


def test_submit_item_ids_processes_only_those(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    wanted = [docs.files["a.txt"], docs.files["c.csv"]]
    job = cli("submit", "--item-id", *wanted, "--json").json()
    assert job["total_items"] == 2
    emu.admin.wait_for_job(job["id"])
    items = cli("items", job["id"], "--json").json()
    assert sorted(i["item_id"] for i in items) == sorted(wanted)


def test_results_shows_where_the_output_is(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id)
    emu.admin.wait_for_job(job_id)
    item_id = docs.files["b.md"]
    found = cli("results", item_id, "--json")
    assert found.code == ExitCode.OK
    (result,) = found.json()["processing_results"]
    assert emu.admin.read_output(result["output_s3_path"]).startswith("# beta")
    human = cli("results", item_id)
    assert result["result_id"][:8] in human.out and "b.md" in human.out


def test_cancel_cancels_the_remote_job_and_is_idempotent(cli: Any, emu: Emulator) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id)
    cancelled = cli("cancel", job_id, "--reason", "operator says stop", "--json")
    assert cancelled.code == ExitCode.OK
    truth = emu.admin.ground_truth(job_id).job(job_id)
    assert truth.status_value == "cancelled" and truth.cancel_reason == "operator says stop"
    again = cli("cancel", job_id)
    assert again.code == ExitCode.OK and "cancelled" in again.out
    # Waiting on a cancelled job is an outcome scripts must see as not-OK.
    assert cli("wait", job_id).code == ExitCode.FAILED


def test_wait_timeout_exits_6_and_leaves_the_job_running(cli: Any, emu: Emulator) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id)
    result = cli("wait", job_id, "--timeout", "0.3", "--poll-interval", "0.05")
    assert result.code == ExitCode.TIMEOUT
    assert "did not finish within 0.3s" in result.err
    # Leaving it running is the CLI's documented behaviour, not a failed cancel: say so.
    assert "it keeps running" in result.err and f"llamabatch cancel {job_id}" in result.err
    assert "cancel_on_timeout" not in result.err and "cancel failed" not in result.err
    assert emu.admin.ground_truth(job_id).job(job_id).status_value != "cancelled"


def test_wait_rides_out_a_short_outage(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id)
    emu.admin.set_faults([FaultRule(route="get_job", kind="http_503", count=3, retry_after=0)])
    result = cli("wait", job_id, "--poll-interval", "0.02", "--max-retries", "0")
    assert result.code == ExitCode.OK, result.err
    assert emu.admin.fault_stats()[0]["fired"] == 3


def test_interrupt_exits_130_without_cancelling(
    cli: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.admin.freeze()
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id)

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("prefect_llamabatch.orchestration.drivers.time.sleep", ctrl_c)
    result = cli("wait", job_id)
    assert result.code == ExitCode.INTERRUPTED
    assert f"llamabatch cancel {job_id}" in result.err
    assert emu.admin.ground_truth(job_id).job(job_id).status_value != "cancelled"


def test_unknown_job_and_item_exit_4(cli: Any, emu: Emulator) -> None:
    for args in (("status", "bjb-missing"), ("wait", "bjb-missing"), ("results", "dfl-missing")):
        result = cli(*args)
        assert result.code == ExitCode.NOT_FOUND, args
        assert "404" in result.err


def test_wrong_key_exits_3_and_is_never_printed(
    cli: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "llx-wrong-key-0123456789SECRET"
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", wrong)
    for args in (("jobs",), ("status", "bjb-1", "--json"), ("submit", "--directory-id", "d")):
        result = cli(*args)
        assert result.code == ExitCode.AUTH, args
        assert "401" in result.err
        assert wrong not in result.out + result.err
        assert "SECRET" not in result.out + result.err


def test_the_real_key_never_appears_in_output(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="mixed")
    outputs = []
    job_id = _submit(cli, docs.id)
    for args in (
        ("wait", job_id, "--poll-interval", "0.02", "--json"),
        ("status", job_id),
        ("jobs", "--json"),
        ("items", job_id),
        ("cancel", job_id),
    ):
        result = cli(*args)
        outputs.append(result.out + result.err)
    assert emu.api_key not in "".join(outputs)


def test_unreachable_api_exits_5(cli: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.
    result = cli("jobs", "--base-url", f"http://127.0.0.1:{port}", "--max-retries", "0")
    assert result.code == ExitCode.UNAVAILABLE
    assert "127.0.0.1" in result.err


# --------------------------------------------------------------------------------------------
# Bad input: a clear message, exit 2, and not one request sent
# --------------------------------------------------------------------------------------------

BAD_INPUT = [
    (
        ("submit", "--directory-id", "d", "--config", '{"parametrs": {}}'),
        "did you mean 'parameters'",
    ),
    (("submit", "--directory-id", "d", "--config", "{not json"), "--config: not valid JSON"),
    (("submit", "--directory-id", "d", "--config", "[1, 2]"), "must be a JSON object"),
    (("submit", "--directory-id", "d", "--item-id", "x"), "--directory-id/--item-id"),
    (("submit",), "neither was given"),
    (("submit", "--item-id", "x", "x"), "duplicates"),
    (("submit", "--directory-id", "d", "--config", '{"rules": []}'), "--config (rules)"),
    (
        ("submit", "--directory-id", "d", "--config", '{"parameters": {"parse_mode": "fast"}}'),
        "--config (parameters.parse_mode)",
    ),
    (("submit", "--directory-id", "d", "--wait", "--poll-interval", "0"), "--poll-interval"),
    (("submit", "--directory-id", "d", "--max-failed-fraction", "1.5"), "--max-failed-fraction"),
    (("submit", "--directory-id", "d", "--config", "{}", "--config-file", "x"), "not both"),
    (("submit", "--directory-id", "d", "--config-file", "/nonexistent/c.json"), "cannot read"),
    (("jobs", "--limit", "0"), "--limit"),
    (("jobs", "--status", "bogus"), "bogus"),
    (("jobs", "--offset", "-1"), "--offset"),
    (("jobs", "--max-retries", "-1"), "--max-retries"),
    (("items", "bjb-1", "--status", "broken"), "broken"),
    (("items", "bjb-1", "--limit", "0"), "--limit"),
    (("wait", "bjb-1", "--timeout", "-5"), "--timeout"),
    (("wait", "bjb-1", "--max-failed-fraction", "-0.1"), "--max-failed-fraction"),
    (("status", " "), "JOB_ID"),
    (("cancel", ""), "JOB_ID"),
    (("jobs", "--base-url", "ftp://example.com"), "base_url"),
    (("status",), "job"),
    (("frobnicate",), "frobnicate"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_before_any_request(
    cli: Any, emu: Emulator, args: tuple[str, ...], message: str
) -> None:
    before = _api_requests(emu)
    result = cli(*args)
    assert result.code == ExitCode.USAGE, result.err
    assert message in result.err
    assert _api_requests(emu) == before


def test_config_file_and_stdin(
    cli: Any, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    rules = {"rules": [{"type": "table", "description": "rows and columns x y"}]}
    config = tmp_path / "classify.json"
    config.write_text(json.dumps(rules))
    job = cli("submit", "--directory-id", docs.id, "--config-file", str(config), "--json").json()
    assert job["job_type"] == "classify"

    monkeypatch.setattr("sys.stdin", _Stdin('{"parameters": {"fast_mode": true}}'))
    job = cli("submit", "--directory-id", docs.id, "--config-file", "-", "--json").json()
    assert job["job_type"] == "parse"


class _Stdin:
    def __init__(self, text: str) -> None:
        self._text = text

    def read(self) -> str:
        return self._text


def test_missing_key_exits_3_without_a_request(
    cli: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMA_CLOUD_API_KEY")
    before = _api_requests(emu)
    result = cli("jobs")
    assert result.code == ExitCode.AUTH
    assert "LLAMA_CLOUD_API_KEY" in result.err and "--block" in result.err
    assert _api_requests(emu) == before


def test_llama_parse_api_key_is_a_fallback(
    cli: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMA_CLOUD_API_KEY")
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", emu.api_key)
    assert cli("jobs", "--json").code == ExitCode.OK


# --------------------------------------------------------------------------------------------
# --block: credentials from a saved LlamaCloudCredentials block (real Prefect API)
# --------------------------------------------------------------------------------------------


def test_block_credentials(
    cli: Any, llamacloud_emulator: Emulator, prefect_api: str, clean_llamacloud_env: None
) -> None:
    from prefect_llamabatch.credentials import LlamaCloudCredentials

    emu = llamacloud_emulator
    LlamaCloudCredentials(
        api_key=emu.api_key, base_url=emu.base_url, project_id=emu.project_id
    ).save("cli-test-creds", overwrite=True)
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job = cli("submit", "--block", "cli-test-creds", "--directory-id", docs.id, "--json")
    assert job.code == ExitCode.OK, job.err
    assert emu.admin.ground_truth().jobs[0].id == job.json()["id"]
    listed = cli("jobs", "--block", "cli-test-creds", "--max-retries", "0", "--json")
    assert [j["id"] for j in listed.json()] == [job.json()["id"]]

    missing = cli("jobs", "--block", "no-such-block")
    assert missing.code == ExitCode.NOT_FOUND
    assert "no LlamaCloudCredentials block named 'no-such-block'" in missing.err


# --------------------------------------------------------------------------------------------
# The console script, as a shell sees it
# --------------------------------------------------------------------------------------------


def _console_script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("llamabatch")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_console_script_exit_codes(emu: Emulator) -> None:
    env = {**os.environ, **emu.env()}
    assert _console_script("--help", env=env).returncode == 0
    usage = _console_script("jobs", "--limit", "nope", env=env)
    assert usage.returncode == ExitCode.USAGE
    missing = _console_script("status", "bjb-missing", env=env)
    assert missing.returncode == ExitCode.NOT_FOUND
    assert "Traceback" not in missing.stderr


def test_emulator_command_serves_the_api(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = Path(sys.executable).with_name("llamabatch")
    proc = subprocess.Popen(
        [
            str(script),
            "emulator",
            "--port",
            str(port),
            "--time-scale",
            "0.01",
            "--failure-pattern",
            "*broken*",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        while not banner or "export LLAMA_CLOUD_BASE_URL" not in banner[-1]:
            line = proc.stdout.readline()
            assert line, (
                f"emulator exited early: {banner} {proc.stderr.read() if proc.stderr else ''}"
            )
            banner.append(line)
        exports = banner[-1:]
        env = {**os.environ}
        for assignment in exports[0].split()[1:]:
            name, _, value = assignment.partition("=")
            env[name] = value.strip("'")
        assert env["LLAMA_CLOUD_BASE_URL"] == f"http://127.0.0.1:{port}"
        listed = _console_script("jobs", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_emulator_command_rejects_a_remote_host() -> None:
    assert run(["emulator", "--host", "0.0.0.0"]) == ExitCode.USAGE


# --------------------------------------------------------------------------------------------
# What a new user meets (issue 12): order, whole ids, inert server text, pipes, upload
# --------------------------------------------------------------------------------------------


def _recency(item: dict[str, Any]) -> str:
    return max(item.get(k) or "" for k in ("completed_at", "started_at", "effective_at"))


def test_jobs_are_listed_newest_first_and_paged_in_that_order(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    submitted = [_submit(cli, docs.id) for _ in range(3)]
    listed = cli("jobs", "--json").json()
    assert [job["id"] for job in listed] == submitted[::-1]
    created = [job["created_at"] for job in listed]
    assert created == sorted(created, reverse=True)
    # --offset/--limit page through that order, not the API's.
    assert [j["id"] for j in cli("jobs", "--offset", "1", "--limit", "1", "--json").json()] == [
        submitted[1]
    ]
    table = cli("jobs").out
    assert "3 of 3 jobs, newest first" in table
    positions = [table.index(job_id) for job_id in submitted]
    assert positions == sorted(positions, reverse=True)


def test_items_are_listed_newest_first(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="docs")
    job_id = _submit(cli, docs.id)
    assert cli("wait", job_id, "--poll-interval", "0.02").code == ExitCode.FAILED
    listed = cli("items", job_id, "--json").json()
    assert len(listed) == len(WITH_FAILURES)
    assert [_recency(i) for i in listed] == sorted((_recency(i) for i in listed), reverse=True)
    assert cli("items", job_id, "--limit", "2", "--json").json() == listed[:2]


def test_tables_print_whole_ids_on_one_line(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(WITH_FAILURES, name="docs")
    job_id = _submit(cli, docs.id)
    cli("wait", job_id, "--poll-interval", "0.02")
    items = cli("items", job_id, "--json").json()
    lines = cli("items", job_id).out.splitlines() + cli("jobs").out.splitlines()
    for whole in [job_id, *(i["item_id"] for i in items), *(i["job_id"] for i in items)]:
        assert len(whole) > 30  # long enough to have been cut at 80 columns before
        assert any(whole in line for line in lines), whole


HOSTILE_NAMES = {
    "[/unbalanced].txt": b"",  # empty: fails, so its name is also in an error message
    "[bold red]loud[/bold red].txt": b"fine",
    "\x1b]0;pwned\x07\x1b[31mred.txt": b"fine",
}


def test_server_text_is_printed_inert(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(HOSTILE_NAMES, name="docs")
    job_id = _submit(cli, docs.id)
    cli("wait", job_id, "--poll-interval", "0.02")
    table = cli("items", job_id)
    assert table.code == ExitCode.OK, table.err  # unbalanced markup does not crash it
    assert "[/unbalanced].txt" in table.out
    assert "[bold red]loud[/bold red].txt" in table.out  # shown, not applied
    assert "\x1b" not in table.out and "\x07" not in table.out
    assert "\\x1b]0;pwned\\x07\\x1b[31mred.txt" in table.out
    # JSON stays exact (json escapes control characters itself).
    names = {i["item_name"] for i in cli("items", job_id, "--json").json()}
    assert names == set(HOSTILE_NAMES)


def test_a_closed_stdout_pipe_ends_quietly(emu: Emulator) -> None:
    """`llamabatch wait JOB --json | head -0`: no BrokenPipeError traceback, exit 141."""
    docs = emu.admin.seed_directory(GOOD, name="docs")
    env = {**os.environ, **emu.env()}
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        job_id = client.create_job({"directory_id": docs.id, "job_config": {}}).id
    emu.admin.wait_for_job(job_id)
    script = Path(sys.executable).with_name("llamabatch")
    for args in (("wait", job_id, "--json"), ("jobs", "--json"), ("items", job_id)):
        proc = subprocess.Popen(
            [str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before anything was written
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == ExitCode.CLOSED_PIPE, err
        assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err


def test_upload_a_folder_then_list_directories(cli: Any, emu: Emulator, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name, content in GOOD.items():
        (folder / name).write_text(content)
    first = cli("upload", str(folder), "--directory-name", "inbox", "--json")
    assert first.code == ExitCode.OK, first.err
    uploaded = first.json()
    assert sorted(uploaded["uploaded"]) == sorted(GOOD) and uploaded["unchanged"] == []
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        files = list(client.iter_directory_files(uploaded["directory_id"]))
    assert sorted(f.display_name for f in files) == sorted(GOOD)

    (folder / "a.txt").write_text("alpha, edited")
    again = cli("upload", str(folder), "--directory-name", "inbox")
    assert again.code == ExitCode.OK, again.err
    assert "1 uploaded, 2 unchanged" in again.out
    assert again.out.strip().endswith(f"directory: {uploaded['directory_id']}")

    other = cli("upload", str(folder), "--json").json()["directory_id"]  # a new one, named inbox
    listed = cli("directories", "--json").json()
    assert [d["id"] for d in listed] == [other, uploaded["directory_id"]]  # newest first
    assert [d["id"] for d in cli("directories", "--limit", "1", "--json").json()] == [other]
    table = cli("directories").out
    assert other in table and uploaded["directory_id"] in table

    before = _api_requests(emu)
    missing = cli("upload", str(tmp_path / "nope"))
    assert missing.code == ExitCode.USAGE and "does not exist" in missing.err
    both = cli("upload", str(folder), "--directory-id", "dir-1", "--directory-name", "x")
    assert both.code == ExitCode.USAGE
    assert _api_requests(emu) == before


def _status(total: int, done: int, failed: int = 0, status: str = "running") -> BatchJobStatus:
    job = BatchJob(
        id="bjb-1",
        job_type="parse",
        project_id="p",
        status=status,
        total_items=total,
        processed_items=done,
        failed_items=failed,
    )
    return BatchJobStatus(job=job, progress_percentage=100.0 * done / total)


def test_wait_progress_shows_percent_counts_rate_and_eta() -> None:
    from rich.console import Console

    from prefect_llamabatch.cli.app import _WaitDisplay

    display = _WaitDisplay(Console(file=io.StringIO()), "bjb-1")
    assert display.detail(_status(10, 0), now=100.0) == "0% · 0/10 done (0 failed, 0 skipped)"
    assert display.detail(_status(10, 4, failed=1), now=102.0) == (
        "40% · 4/10 done (1 failed, 0 skipped) · 2.0 items/s · ETA 0:00:03"
    )
    final = display.detail(_status(10, 10, failed=1, status="completed"), now=104.0)
    assert final == "100% · 10/10 done (1 failed, 0 skipped) · 2.5 items/s"  # no ETA at the end


def test_wait_prints_plain_progress_lines_when_not_a_terminal(cli: Any, emu: Emulator) -> None:
    docs = emu.admin.seed_directory(GOOD, name="docs")
    job_id = _submit(cli, docs.id)
    result = cli("wait", job_id, "--poll-interval", "0.02")
    assert result.code == ExitCode.OK, result.err
    lines = result.err.splitlines()
    assert f"{job_id} completed 100% · 3/3 done (0 failed, 0 skipped)" in "\n".join(lines)
    assert not any("━" in line or "\x1b" in line for line in lines)  # no bar, no escapes
    assert len(lines) == len(set(lines))  # a line per change, not per poll


def test_wait_draws_a_live_bar_on_a_terminal(emu: Emulator) -> None:
    import pty

    docs = emu.admin.seed_directory(GOOD, name="docs")
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        job_id = client.create_job({"directory_id": docs.id, "job_config": {}}).id
    primary, secondary = pty.openpty()
    env = {**os.environ, **emu.env(), "COLUMNS": "160", "TERM": "xterm"}
    script = Path(sys.executable).with_name("llamabatch")
    with os.fdopen(primary, "rb", buffering=0) as terminal:
        proc = subprocess.Popen(
            [str(script), "wait", job_id, "--poll-interval", "0.05"],
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            env=env,
        )
        os.close(secondary)
        drawn = b""
        while True:
            try:
                chunk = terminal.read(4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        assert proc.wait(timeout=60) == ExitCode.OK
    text = drawn.decode(errors="replace")
    assert "━" in text  # the bar
    assert "3/3 done (0 failed, 0 skipped)" in text
