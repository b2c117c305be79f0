"""The emulator's command line (a real subprocess) and its configuration parsing."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from prefect_llamabatch.emulator import (
    DEFAULT_API_KEY,
    ApiKeySpec,
    EmulatorAdmin,
    EmulatorConfig,
    FaultKind,
)
from prefect_llamabatch.emulator.command import build_parser, serve_from_cli
from prefect_llamabatch.emulator.flags import EmulatorFlags
from tests.emulator.conftest import JOBS


def _read_banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "LLAMA_CLOUD_API_KEY=" in line:
            return "".join(lines)
    raise AssertionError(f"no banner; got {''.join(lines)!r}")


def test_python_dash_m_serves_and_prints_the_env_line(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_llamabatch.emulator",
            "--port",
            "0",
            "--db",
            str(tmp_path / "cli.db"),
            "--api-key",
            "llx-cli:org-cli:proj-1,proj-2",
            "--admin-token",
            "cli-admin",
            "--fault",
            "list_jobs:503:1:1",
            "--time-scale",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        banner = _read_banner(process)
        match = re.search(r"LLAMA_CLOUD_BASE_URL=(\S+) LLAMA_CLOUD_API_KEY=(\S+)", banner)
        assert match, banner
        base_url, key = match.groups()
        assert base_url.startswith("http://127.0.0.1:") and key == "llx-cli"
        assert "proj-1, proj-2" in banner and str(tmp_path / "cli.db") in banner
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(base_url + JOBS, headers=headers).status_code == 503  # --fault
        assert httpx.get(base_url + JOBS, headers=headers).json()["total_size"] == 0
        admin = EmulatorAdmin(base_url, "cli-admin")
        docs = admin.seed_directory({"a.txt": "a"}, project_id="proj-2")
        assert docs.project_id == "proj-2"
        admin.close()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "emulator stopped" in output


def test_cli_refuses_a_remote_host_and_bad_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prefect_llamabatch.emulator", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr
    with pytest.raises(ValueError, match="--api-key"):
        EmulatorFlags(api_key=["only-a-key"]).to_config()
    with pytest.raises(ValueError, match="--fault"):
        EmulatorFlags(fault=["get_job:teapot"]).to_config()
    with pytest.raises(ValueError, match=r"^--concurrency: "):
        EmulatorFlags(concurrency=0).to_config()
    assert EmulatorFlags(host="0.0.0.0", allow_remote=True).to_config().host == "0.0.0.0"


def test_the_flags_map_to_the_config(tmp_path: Path) -> None:
    config = EmulatorFlags(
        port=0,
        db=tmp_path / "x.db",
        api_key=["k1:p1", "k2:o2:p2,p3"],
        admin_token="tok",
        time_scale=0.5,
        item_duration=2.0,
        concurrency=8,
        failure_pattern=["*bad*"],
        transient_failure_pattern=["*flaky*"],
        failure_rate=0.1,
        seed=3,
        fault=["*:latency=0.2:0.5", "create_job:commit_then_fail:1:1"],
        max_file_size=100,
        response_latency=0.05,
        data_dir=tmp_path / "data",
        dispatched_status=True,
    ).to_config()
    assert [(k.organization_id, k.project_ids) for k in config.api_keys] == [
        ("org-emulator", ["p1"]),
        ("o2", ["p2", "p3"]),
    ]
    assert config.admin_token.get_secret_value() == "tok"
    assert (config.time_scale, config.item_duration_seconds, config.concurrency) == (0.5, 2.0, 8)
    assert config.failure_patterns == ["*bad*"] and config.transient_failure_patterns == ["*flaky*"]
    assert (config.failure_rate, config.seed, config.max_file_size_bytes) == (0.1, 3, 100)
    assert [r.kind for r in config.faults.rules] == [FaultKind.LATENCY, FaultKind.COMMIT_THEN_FAIL]
    assert config.faults.seed == 3
    assert config.dispatched_status and config.response_latency == 0.05
    # Strict unless told otherwise.
    assert not (config.idempotency_keys or config.clamp_limit or config.case_insensitive_filters)
    assert config.list_order == "oldest_first" and config.include_total_size
    assert config.max_page_size is None


def test_parser_maps_the_strictness_and_listing_flags() -> None:
    args = build_parser().parse_args(
        [
            "--idempotency-keys",
            "--clamp-limit",
            "--case-insensitive-filters",
            "--list-order",
            "newest_first",
            "--omit-total-size",
            "--max-page-size",
            "7",
        ]
    )
    flags = vars(args)
    config = EmulatorFlags.parse({**flags, "port": 0}).to_config()
    assert config.idempotency_keys and config.clamp_limit and config.case_insensitive_filters
    assert config.list_order == "newest_first" and not config.include_total_size
    assert config.max_page_size == 7
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--list-order", "random"])


def test_serve_from_cli_runs_until_stopped() -> None:
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_from_cli,
        args=(EmulatorFlags(port=0),),
        kwargs={"out": out, "stop": stop},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 30
    while "LLAMA_CLOUD_API_KEY" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    match = re.search(r"LLAMA_CLOUD_BASE_URL=(\S+)", out.getvalue())
    assert match, out.getvalue()
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    assert httpx.get(match.group(1) + JOBS, headers=headers).status_code == 200
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert out.getvalue().rstrip().endswith("emulator stopped")


def test_api_key_specs_and_config_validation() -> None:
    spec = ApiKeySpec.parse("secret-1:org:p1,p2")
    assert (spec.organization_id, spec.project_ids, spec.default_project_id) == (
        "org",
        ["p1", "p2"],
        "p1",
    )
    assert "secret-1" not in repr(spec)
    for bad in (
        "sk-hidden",
        ":p",
        "sk-hidden::p",
        "sk-hidden:o:",
        "sk-hidden:p,",
        "sk-hidden:b:c:d",
    ):
        with pytest.raises(ValueError, match="api key spec") as info:
            ApiKeySpec.parse(bad)
        assert "sk-hidden" not in str(info.value)  # the key is never echoed
    default = EmulatorConfig()
    assert default.default_key.key.get_secret_value() == DEFAULT_API_KEY
    assert default.admin_token.get_secret_value() != EmulatorConfig().admin_token.get_secret_value()
    with pytest.raises(ValidationError, match="same key"):
        EmulatorConfig(api_keys=["k:p1", "k:p2"])
    with pytest.raises(ValidationError, match="allow_remote"):
        EmulatorConfig(host="10.0.0.5")
    assert EmulatorConfig(time_scale=0.01).effective_item_seconds == pytest.approx(0.001)


def test_route_names_are_the_documented_ones() -> None:
    from prefect_llamabatch.emulator import ROUTE_NAMES
    from prefect_llamabatch.emulator.api import router

    assert sorted(getattr(r, "name", "") for r in router.routes) == sorted(ROUTE_NAMES)


# Every flag with a value other than its default, as typed on either command line.
EVERY_FLAG = [
    *("--host", "127.0.0.2", "--port", "0", "--db", "state.db", "--data-dir", "data"),
    *("--api-key", "k1:p1", "--api-key", "k2:o2:p2", "--admin-token", "tok"),
    *("--time-scale", "0.5", "--item-duration", "2", "--concurrency", "8"),
    *("--failure-pattern", "*bad*", "--transient-failure-pattern", "*flaky*"),
    *("--failure-rate", "0.1", "--seed", "3", "--fault", "get_job:503:0.5"),
    *("--max-file-size", "100", "--response-latency", "0.05", "--dispatched-status"),
    *("--start-frozen", "--allow-remote", "--idempotency-keys", "--clamp-limit"),
    *("--case-insensitive-filters", "--list-order", "newest_first", "--omit-total-size"),
    *("--max-page-size", "7", "--classify-record", "required"),
    *("--v2-max-files-per-batch", "5", "--v2-max-running-batches", "2"),
    *("--v2-presigned-url-ttl", "60"),
]


def test_both_command_lines_take_every_flag_the_same_way() -> None:
    from prefect_llamabatch.cli.app import app

    from_argparse = EmulatorFlags.parse(vars(build_parser().parse_args(EVERY_FLAG)))
    command, bound, _ = app.parse_args(["emulator", *EVERY_FLAG])
    from_cyclopts = bound.kwargs["flags"]
    assert command.__name__ == "emulator"
    assert from_cyclopts == from_argparse
    # Every field was given a value other than its default: no flag is missing from the list.
    defaults = EmulatorFlags()
    assert [
        n for n in EmulatorFlags.model_fields if getattr(from_argparse, n) == getattr(defaults, n)
    ] == []
    config = from_argparse.to_config()
    assert (config.classify_record, config.v2_max_files_per_batch) == ("required", 5)
    assert (config.v2_max_running_batches, config.v2_presigned_url_ttl_seconds) == (2, 60)
    assert config.start_frozen and config.allow_remote and config.faults.rules


def test_a_bad_flag_value_is_named_by_its_flag() -> None:
    with pytest.raises(ValueError, match="--list-order"):
        EmulatorFlags.parse({"list_order": "random"})
    with pytest.raises(ValueError, match="--no-such-flag"):
        EmulatorFlags.parse({"no_such_flag": 1})
    # A value the server's config refuses is named by the flag that set it, not the config field.
    with pytest.raises(ValueError, match=r"^--item-duration: "):
        EmulatorFlags(item_duration=-1).to_config()
    with pytest.raises(ValueError, match=r"^--max-file-size: "):
        EmulatorFlags(max_file_size=-1).to_config()
