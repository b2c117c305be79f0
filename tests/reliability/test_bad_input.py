"""Bad input fails before any HTTP request, with a message naming the field and the fix.

Every case runs against a live emulator; after the failure its request log must be empty, so
validation demonstrably happened before anything was sent. Cases span the client, the credentials
block, the Prefect tasks and flows, deployment parameters and the CLI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError, PrefectHTTPStatusError
from pydantic import SecretStr

from prefect_llamabatch import AsyncBatchClient, BatchClient, LlamaBatchJob, LlamaCloudCredentials
from prefect_llamabatch.cli import run as cli_run
from prefect_llamabatch.cli.exit_codes import ExitCode
from prefect_llamabatch.emulator import Emulator
from tests.reliability.helpers import api_requests

Action = Callable[[Emulator, Path], Any]
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    """One bad input: what to call, the field the message must name, a hint of the fix."""

    id: str
    action: Action
    field: str
    fix: str
    prefect: bool = False  # needs the Prefect test API
    # What the failure must be: the exception types a caller can catch (pydantic's
    # ValidationError is a ValueError), or the CLI's exit status.
    error: tuple[type[BaseException], ...] = (ValueError, TypeError)
    exit_code: int = ExitCode.USAGE


def _client(emu: Emulator, **kwargs: Any) -> BatchClient:
    return BatchClient(emu.api_key, base_url=emu.base_url, max_concurrency=2, **kwargs)


def _creds(emu: Emulator, **kwargs: Any) -> LlamaCloudCredentials:
    return LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url, **kwargs)


def _create(emu: Emulator, body: dict[str, Any], **kwargs: Any) -> Any:
    with _client(emu) as client:
        return client.create_job(body, **kwargs)


def _with_client(call: Callable[[BatchClient], Any]) -> Action:
    def action(emu: Emulator, _tmp: Path) -> Any:
        with _client(emu) as client:
            return call(client)

    return action


def _parse(parameters: dict[str, Any]) -> Action:
    return lambda emu, _tmp: _create(
        emu, {"directory_id": "dir-1", "job_config": {"parameters": parameters}}
    )


def _body(body: dict[str, Any]) -> Action:
    return lambda emu, _tmp: _create(emu, body)


def _empty_dir(tmp: Path) -> Path:
    folder = tmp / "empty"
    folder.mkdir()
    (folder / ".hidden").write_text("ignored")
    return folder


# ---- client and models ---------------------------------------------------------------------

CLIENT_CASES = [
    Case(
        "both-directory-and-items",
        _body({"directory_id": "dir-1", "item_ids": ["dfl-1"], "job_config": {}}),
        "directory_id",
        "exactly one",
    ),
    Case(
        "neither-directory-nor-items",
        _body({"job_config": {}}),
        "item_ids",
        "exactly one",
    ),
    Case(
        "empty-item-ids",
        _body({"item_ids": [], "job_config": {}}),
        "item_ids",
        "at least one",
    ),
    Case(
        "duplicate-item-ids",
        _body({"item_ids": ["dfl-1", "dfl-2", "dfl-1"], "job_config": {}}),
        "item_ids",
        "duplicates",
    ),
    Case(
        "blank-item-id",
        _body({"item_ids": ["dfl-1", ""], "job_config": {}}),
        "item_ids",
        "at least 1 character",
    ),
    Case(
        "misspelt-parse-option", _parse({"fast_mod": True}), "fast_mod", "did you mean 'fast_mode'"
    ),
    Case(
        "misspelt-top-level-field",
        _body({"directory_id": "dir-1", "job_config": {}, "page_sise": 10}),
        "page_sise",
        "did you mean 'page_size'",
    ),
    Case("wrong-enum-parse-mode", _parse({"parse_mode": "fastest"}), "parse_mode", "parse_page_"),
    Case("wrong-enum-priority", _parse({"priority": "urgent"}), "priority", "'low'"),
    Case("wrong-type-option", _parse({"fast_mode": "maybe"}), "fast_mode", "valid boolean"),
    Case(
        "bbox-margins-eat-the-page",
        _parse({"bbox_top": 0.6, "bbox_bottom": 0.5}),
        "bbox_top",
        "< 1",
    ),
    Case(
        "webhook-url-not-http",
        _parse({"webhook_configurations": [{"webhook_url": "ftp://hooks.example.com"}]}),
        "webhook_url",
        "http(s) URL",
    ),
    Case(
        "zero-page-size",
        _body({"directory_id": "dir-1", "job_config": {}, "page_size": 0}),
        "page_size",
        "greater than 0",
    ),
    Case(
        "negative-continue-as-new",
        _body({"directory_id": "dir-1", "job_config": {}, "continue_as_new_threshold": -5}),
        "continue_as_new_threshold",
        "greater than 0",
    ),
    Case(
        "classify-without-rules",
        _body({"directory_id": "dir-1", "job_config": {"rules": []}}),
        "rules",
        "at least 1",
    ),
    Case(
        "classify-duplicate-rule-types",
        _body(
            {
                "directory_id": "dir-1",
                "job_config": {
                    "rules": [
                        {"type": "invoice", "description": "bills"},
                        {"type": "invoice", "description": "more bills"},
                    ]
                },
            }
        ),
        "rules",
        "more than once",
    ),
    Case(
        "idempotency-key-not-ascii",
        lambda emu, _tmp: _create(
            emu, {"directory_id": "dir-1", "job_config": {}}, idempotency_key="clé-1"
        ),
        "idempotency_key",
        "printable ASCII",
    ),
    Case(
        "plain-http-to-remote-host",
        lambda emu, _tmp: BatchClient(emu.api_key, base_url="http://api.cloud.llamaindex.ai"),
        "base_url",
        "use https",
    ),
    Case(
        "base-url-not-a-url",
        lambda emu, _tmp: BatchClient(emu.api_key, base_url="api.cloud.llamaindex.ai"),
        "base_url",
        "https://api.cloud.llamaindex.ai",
    ),
    Case(
        "base-url-with-credentials",
        lambda emu, _tmp: BatchClient(emu.api_key, base_url="https://me:pw@api.example.com"),
        "base_url",
        "pass api_key instead",
    ),
    Case(
        "missing-api-key",
        lambda emu, _tmp: BatchClient(base_url=emu.base_url),
        "api_key",
        "LLAMA_CLOUD_API_KEY",
    ),
    Case(
        "blank-api-key",
        lambda emu, _tmp: BatchClient("   ", base_url=emu.base_url),
        "api_key",
        "pass your LlamaCloud API key",
    ),
    Case(
        "api-key-with-newline",
        lambda emu, _tmp: BatchClient("llx-abc\r\nX-Evil: 1", base_url=emu.base_url),
        "api_key",
        "not allowed in a header",
    ),
    Case(
        "zero-timeout",
        lambda emu, _tmp: BatchClient(emu.api_key, base_url=emu.base_url, timeout=0),
        "timeout",
        "> 0",
    ),
    Case(
        "zero-max-concurrency",
        lambda emu, _tmp: AsyncBatchClient(emu.api_key, base_url=emu.base_url, max_concurrency=0),
        "max_concurrency",
        ">= 1",
    ),
    Case("blank-job-id", _with_client(lambda c: c.get_job("  ")), "job_id", "non-empty"),
    Case(
        "dot-dot-directory-id",
        # Unchecked, URL normalisation turned this into DELETE /api/v1/beta with the user's key.
        _with_client(lambda c: c.delete_directory("..")),
        "directory_id",
        "'.' or '..'",
    ),
    Case(
        "slash-in-job-id",
        _with_client(lambda c: c.cancel_job("bjb-1/../bjb-2")),
        "job_id",
        "one URL path segment",
    ),
    Case(
        "one-megabyte-item-id",
        _with_client(lambda c: c.get_item_results("i" * 1_000_000)),
        "item_id",
        "at most 512 characters",
    ),
    Case(
        "control-character-file-id",
        _with_client(lambda c: c.add_file("dir-1", "file-1\r\nX-Evil: 1")),
        "file_id",
        "control",
    ),
    Case(
        "base-url-ends-in-api-v1",
        lambda emu, _tmp: BatchClient(emu.api_key, base_url=emu.base_url + "/api/v1"),
        "base_url",
        "give the host only",
    ),
    Case(
        "zero-list-limit",
        _with_client(lambda c: c.list_items("bjb-1", limit=0)),
        "limit",
        "greater than 0",
    ),
    Case(
        "negative-offset",
        _with_client(lambda c: c.list_jobs(offset=-1)),
        "offset",
        "greater than or equal to 0",
    ),
    Case(
        "unknown-job-status-filter",
        _with_client(lambda c: c.list_jobs(status="done")),
        "status",
        "'completed'",
    ),
    Case(
        "zero-page-size-iterator",
        _with_client(lambda c: list(c.iter_directory_files("dir-1", page_size=0))),
        "page_size",
        ">= 1",
    ),
    Case(
        "zero-concurrency-iterator",
        _with_client(lambda c: list(c.iter_items("bjb-1", concurrency=0))),
        "concurrency",
        ">= 1",
    ),
    Case(
        "upload-missing-file",
        lambda emu, tmp: _with_client(lambda c: c.upload_file("dir-1", tmp / "nope.pdf"))(emu, tmp),
        "file",
        "existing file path",
    ),
    Case(
        "async-client-bad-body",
        lambda emu, _tmp: asyncio.run(_async_create(emu, {"directory_id": "", "job_config": {}})),
        "directory_id",
        "at least 1 character",
    ),
]


async def _async_create(emu: Emulator, body: dict[str, Any]) -> Any:
    async with AsyncBatchClient(emu.api_key, base_url=emu.base_url) as client:
        return await client.create_job(body)


# ---- the credentials block -----------------------------------------------------------------

BLOCK_CASES = [
    Case(
        "block-plain-http-remote",
        lambda emu, _tmp: LlamaCloudCredentials(api_key=emu.api_key, base_url="http://example.com"),
        "base_url",
        "use https",
    ),
    Case(
        "block-empty-api-key",
        lambda emu, _tmp: LlamaCloudCredentials(api_key="", base_url=emu.base_url),
        "api_key",
        "pass your LlamaCloud API key",
    ),
    Case(
        "block-negative-timeout",
        lambda emu, _tmp: _creds(emu, timeout=-1),
        "timeout",
        "greater than 0",
    ),
    Case(
        "block-negative-retries",
        lambda emu, _tmp: _creds(emu, max_retries=-1),
        "max_retries",
        "greater than or equal to 0",
    ),
    Case(
        "block-from-env-without-key",
        lambda emu, _tmp: LlamaCloudCredentials.from_env(base_url=emu.base_url),
        "api_key",
        "LLAMA_CLOUD_API_KEY",
    ),
]


BLOCK_CASES += [
    Case(
        "block-misspelt-setting",
        lambda emu, _tmp: _creds(emu, max_retry=3),
        "max_retry",
        "did you mean 'max_retries'",
    ),
    Case(
        "job-block-misspelt-field",
        lambda emu, _tmp: LlamaBatchJob(credentials=_creds(emu), directory_id="d", job_confg={}),
        "job_confg",
        "did you mean 'job_config'",
    ),
    Case(
        "job-block-both-sources",
        lambda emu, _tmp: LlamaBatchJob(
            credentials=_creds(emu), directory_id="d", item_ids=["dfl-1"], job_config={}
        ),
        "directory_id",
        "exactly one",
    ),
    Case(
        "job-block-bad-fraction",
        lambda emu, _tmp: LlamaBatchJob(
            credentials=_creds(emu), directory_id="d", max_failed_fraction=2
        ),
        "max_failed_fraction",
        "less than or equal to 1",
    ),
]


# ---- Prefect tasks -------------------------------------------------------------------------


def _task(name: str, *args: Any, **kwargs: Any) -> Action:
    def action(emu: Emulator, tmp: Path) -> Any:
        from prefect_llamabatch.orchestration import tasks

        resolved = [a(tmp) if callable(a) else a for a in args]
        return getattr(tasks, name)(_creds(emu), *resolved, **kwargs)

    return action


TASK_CASES = [
    Case(
        "task-create-both-sources",
        _task("create_batch_job", {}, directory_id="dir-1", item_ids=["dfl-1"]),
        "directory_id",
        "exactly one",
        prefect=True,
    ),
    Case(
        "task-create-misspelt-option",
        _task("create_batch_job", {"parameters": {"langauges": ["en"]}}, directory_id="dir-1"),
        "langauges",
        "did you mean 'languages'",
        prefect=True,
    ),
    Case(
        "task-wait-zero-poll-interval",
        _task("wait_for_batch_job", "bjb-1", {"poll_interval": 0}),
        "poll_interval",
        "greater than 0",
        prefect=True,
    ),
    Case(
        "task-wait-misspelt-setting",
        _task("wait_for_batch_job", "bjb-1", {"timeout": 60}),
        "timeout",
        "did you mean 'timeout_seconds'",
        prefect=True,
    ),
    Case(
        "task-wait-cap-below-interval",
        _task("wait_for_batch_job", "bjb-1", {"poll_interval": 10, "max_poll_interval": 5}),
        "max_poll_interval",
        "must be >= poll_interval",
        prefect=True,
    ),
    Case(
        "task-blank-job-id",
        _task("get_batch_job", ""),
        "job_id",
        "non-empty",
        prefect=True,
    ),
    Case(
        "task-upload-missing-folder",
        _task("upload_directory", lambda tmp: str(tmp / "missing")),
        "local_path",
        "does not exist",
        prefect=True,
    ),
    Case(
        "task-upload-empty-folder",
        _task("upload_directory", lambda tmp: str(_empty_dir(tmp))),
        "local_path",
        "contains no files",
        prefect=True,
    ),
    Case(
        "task-upload-wrong-directory-type",
        _task("upload_directory", lambda tmp: str(tmp), directory_type="temporary"),
        "directory_type",
        "'ephemeral' or 'user'",
        prefect=True,
    ),
]


# ---- Prefect flows -------------------------------------------------------------------------


def _flow(name: str, *args: Any, **kwargs: Any) -> Action:
    def action(emu: Emulator, tmp: Path) -> Any:
        import prefect_llamabatch

        resolved = {k: v(tmp) if callable(v) else v for k, v in kwargs.items()}
        return getattr(prefect_llamabatch, name)(_creds(emu), *args, **resolved)

    return action


SECRET_CONFIG = {"parameters": {"azure_openai_key": "sk-not-a-flow-parameter"}}

FLOW_CASES = [
    Case(
        "flow-neither-directory-nor-folder",
        _flow("process_directory"),
        "directory_id",
        "or both (to sync the folder into that directory)",
    ),
    Case(
        "flow-directory-name-with-directory-id",
        _flow(
            "process_directory",
            directory_id="dir-1",
            local_path=lambda tmp: str(tmp),
            directory_name="docs",
        ),
        "directory_name",
        "without directory_id",
    ),
    Case(
        "flow-missing-folder",
        _flow("process_directory", local_path=lambda tmp: str(tmp / "missing")),
        "local_path",
        "does not exist",
    ),
    Case(
        "flow-empty-folder",
        _flow("process_directory", local_path=lambda tmp: str(_empty_dir(tmp))),
        "local_path",
        "contains no files",
    ),
    Case(
        "flow-secret-as-parameter",
        _flow("process_directory", directory_id="dir-1", job_config=SECRET_CONFIG),
        "azure_openai_key",
        "LlamaBatchJob",
    ),
    Case(
        "flow-fraction-above-one",
        _flow("process_directory", directory_id="dir-1", max_failed_fraction=1.5),
        "max_failed_fraction",
        "between 0 and 1",
    ),
    Case(
        "flow-misspelt-wait-setting",
        _flow("process_directory", directory_id="dir-1", wait={"poll_intervall": 60}),
        "poll_intervall",
        "did you mean 'poll_interval'",
    ),
    Case(
        "flow-zero-page-size",
        _flow("process_directory", directory_id="dir-1", page_size=0),
        "page_size",
        "greater than 0",
    ),
    Case(
        "flow-misspelt-parse-option",
        _flow(
            "process_directory", directory_id="dir-1", job_config={"parameters": {"fast_mod": 1}}
        ),
        "fast_mod",
        "did you mean 'fast_mode'",
    ),
    Case(
        "flow-duplicate-items",
        _flow("process_items", ["dfl-1", "dfl-1"]),
        "item_ids",
        "duplicates",
    ),
    Case(
        "flow-classify-without-rules",
        _flow("classify_directory", "dir-1", []),
        "rules",
        "at least 1",
    ),
    Case(
        "flow-retry-zero-rounds",
        _flow("retry_failed_items", "bjb-1", max_rounds=0),
        "max_rounds",
        ">= 1",
    ),
    Case(
        "flow-unknown-job-block",
        lambda emu, _tmp: __import__("prefect_llamabatch").run_llama_batch_job("no-such-job-block"),
        "no-such-job-block",
        "Unable to find",
    ),
    Case(
        "flow-credentials-not-a-block",
        # A string that is not a saved block's name where the block belongs.
        lambda emu, _tmp: __import__("prefect_llamabatch").process_directory(
            "no-such-llamabatch-block", directory_id="dir-1"
        ),
        "credentials",
        # A name is accepted only when it is a saved block; this one is not (refused, not echoed).
        "pass a LlamaCloudCredentials block",
    ),
]
# Prefect validates a flow's parameters before the run starts: its ParameterTypeError.
FLOW_CASES = [
    Case(c.id, c.action, c.field, c.fix, prefect=True, error=(*c.error, ParameterTypeError))
    for c in FLOW_CASES
]


# ---- deployment parameters (the real nightly deployment's entrypoint) ----------------------


def _deployment_run(parameters: dict[str, Any]) -> Action:
    def action(_emu: Emulator, _tmp: Path) -> Any:
        from prefect.deployments import run_deployment

        return run_deployment(
            f"nightly-directory-parse/{_nightly_deployment()}", parameters=parameters, timeout=0
        )

    return action


_DEPLOYMENT: list[str] = []


def _nightly_deployment() -> str:
    """The nightly deployment's entrypoint, registered once with the Prefect test API."""
    if not _DEPLOYMENT:
        from prefect.flows import load_flow_from_entrypoint

        flow = load_flow_from_entrypoint(
            str(REPO / "flows" / "nightly_parse.py") + ":nightly_directory_parse"
        )
        flow.to_deployment(name="reliability-bad-parameters").apply()
        _DEPLOYMENT.append("reliability-bad-parameters")
    return _DEPLOYMENT[0]


NIGHTLY = {"credentials_block": "llamacloud", "directory_id": "dir-1"}
DEPLOYMENT_CASES = [
    Case(
        "deployment-" + name,
        _deployment_run({**NIGHTLY, **change} if "missing" not in name else change),
        field,
        fix,
        prefect=True,
        error=(PrefectHTTPStatusError,),  # the Prefect API refuses the run (checked: 409 below)
    )
    for name, change, field, fix in [
        (
            "wrong-type-fraction",
            {"max_failed_fraction": "lots"},
            "max_failed_fraction",
            "not valid",
        ),
        ("misspelt-wait-setting", {"wait": {"timout": 60}}, "timout", "not allowed"),
        (
            "negative-poll-interval",
            {"wait": {"poll_interval": -1}},
            "wait.poll_interval",
            "minimum of 0",
        ),
        ("missing-credentials-block", {"directory_id": "dir-1"}, "credentials_block", "required"),
        ("wrong-type-rounds", {"retry_rounds": "once"}, "retry_rounds", "not of type 'integer'"),
        (
            "wrong-enum-parse-mode",
            {"job_config": {"parameters": {"parse_mode": "fastest"}}},
            "parse_mode",
            "is not one of",
        ),
        (
            "misspelt-parse-option",
            {"job_config": {"parameters": {"fast_mod": True}}},
            "fast_mod",
            "not allowed",
        ),
    ]
]


# ---- the CLI -------------------------------------------------------------------------------


def _cli(*argv: str) -> Action:
    def action(_emu: Emulator, _tmp: Path) -> Any:
        code = cli_run(list(argv))
        assert code != 0, f"llamabatch {' '.join(argv)} succeeded"
        return code

    return action


CLI_CASES = [
    Case("cli-submit-no-source", _cli("submit"), "directory_id", "exactly one"),
    Case(
        "cli-submit-invalid-json",
        _cli("submit", "--directory-id", "dir-1", "--config", "{parameters: 1"),
        "--config",
        "not valid JSON",
    ),
    Case(
        "cli-submit-misspelt-option",
        _cli("submit", "--directory-id", "dir-1", "--config", '{"parameters": {"fast_mod": 1}}'),
        "fast_mod",
        "did you mean 'fast_mode'",
    ),
    Case(
        "cli-submit-config-and-file",
        _cli("submit", "--directory-id", "d", "--config", "{}", "--config-file", "x.json"),
        "--config-file",
        "not both",
    ),
    Case(
        "cli-submit-missing-config-file",
        lambda emu, tmp: _cli(
            "submit", "--directory-id", "d", "--config-file", str(tmp / "missing.json")
        )(emu, tmp),
        "--config-file",
        "cannot read",
    ),
    Case("cli-negative-retries", _cli("jobs", "--max-retries", "-1"), "--max-retries", "negative"),
    Case(
        "cli-plain-http-remote",
        _cli("jobs", "--base-url", "http://api.example.com"),
        "base_url",
        "use https",
    ),
    Case(
        "cli-wait-bad-fraction",
        _cli("wait", "bjb-1", "--max-failed-fraction", "1.5"),
        "max-failed-fraction",
        "between 0 and 1",
    ),
    Case(
        "cli-unknown-block",
        _cli("jobs", "--block", "no-such-llamacloud-block"),
        "--block",
        "prefect block ls",
        prefect=True,
        exit_code=ExitCode.NOT_FOUND,
    ),
]

ALL_CASES = CLIENT_CASES + BLOCK_CASES + TASK_CASES + FLOW_CASES + DEPLOYMENT_CASES + CLI_CASES


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_bad_input_fails_before_any_request(
    case: Case,
    emu_env: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if case.prefect:
        request.getfixturevalue("prefect_api")
    if case.id in ("missing-api-key", "block-from-env-without-key"):
        monkeypatch.delenv("LLAMA_CLOUD_API_KEY")
    capsys.readouterr()
    try:
        outcome = case.action(emu_env, tmp_path)
    except Exception as exc:
        # Bad input is the caller's mistake: a ValueError/TypeError (pydantic's ValidationError is
        # a ValueError), never an API error, a RuntimeError or whatever happened to break.
        assert isinstance(exc, case.error), f"{case.id}: {type(exc).__name__}: {exc}"
        if isinstance(exc, PrefectHTTPStatusError):
            assert exc.response.status_code == 409, f"{case.id}: {exc}"
        message = str(exc)
    else:
        assert isinstance(outcome, int), f"{case.id}: no error (got {outcome!r})"
        assert outcome == case.exit_code, f"{case.id}: exit status {outcome}, not {case.exit_code}"
        message = capsys.readouterr().err
    assert case.field in message, f"{case.id}: the message does not name {case.field!r}: {message}"
    assert case.fix.lower() in message.lower(), f"{case.id}: no fix hint {case.fix!r}: {message}"
    assert api_requests(emu_env) == [], f"{case.id}: requests were sent before the error"


def test_cli_without_key_names_both_ways_to_give_one(
    emu_env: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LLAMA_CLOUD_API_KEY")
    assert cli_run(["status", "bjb-1"]) == 3
    err = capsys.readouterr().err
    assert "LLAMA_CLOUD_API_KEY" in err and "--block" in err
    assert api_requests(emu_env) == []


def test_at_least_thirty_distinct_cases() -> None:
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES) >= 30


def test_a_secret_in_a_bad_body_is_not_echoed(emu: Emulator) -> None:
    secret = "sk-CANARY-bad-input-1234"
    with pytest.raises(ValueError) as info:
        _create(
            emu,
            {
                "directory_id": "dir-1",
                "job_config": {"parameters": {"gpt4o_api_key": secret, "parse_mode": "nope"}},
            },
        )
    assert "parse_mode" in str(info.value)
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert api_requests(emu) == []


def test_secretstr_key_is_accepted_and_bad_url_still_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="base_url"):
        BatchClient(SecretStr(emu.api_key), base_url="https://")
    assert api_requests(emu) == []


def test_a_block_validation_error_never_echoes_the_key_or_a_secret(emu: Emulator) -> None:
    key, secret = "llx-CANARY-block-key-987", "sk-CANARY-block-secret-654"
    errors = []
    for build in (
        lambda: LlamaCloudCredentials(api_key=key, base_url=emu.base_url, max_retry=1),
        lambda: LlamaCloudCredentials(api_key=key, base_url="http://example.com"),
        lambda: LlamaBatchJob(
            credentials={"api_key": key, "base_url": emu.base_url},
            job_config={"parameters": {"gpt4o_api_key": secret, "fast_mod": True}},
            directory_id="d",
        ),
    ):
        with pytest.raises(ValueError) as info:
            build()
        errors.append(info.value)
    for error in errors:
        assert key not in str(error) and key not in repr(error)
        assert secret not in str(error) and secret not in repr(error)
