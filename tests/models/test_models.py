"""Wire models: strict requests, tolerant responses, masked secrets, reference examples."""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    BatchParseJobConfig,
    BatchParseJobRecordCreate,
    ClassifierRule,
    ClassifyJobConfig,
    Directory,
    DirectoryCreate,
    DirectoryFile,
    DirectoryFileAdd,
    DirectoryFileList,
    ItemProcessingResults,
    JobItemList,
    JobStatus,
    ListItemsQuery,
    ListJobsQuery,
    ProxyURL,
    WebhookConfiguration,
    is_terminal_job_status,
)

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "reference_examples.json").read_text()
)["examples"]
WHEN = datetime(2019, 12, 27, 18, 11, 19, 117000, tzinfo=timezone.utc)

# ---- every reference example parses ------------------------------------------------------


def test_create_response_example() -> None:
    job = BatchJob.model_validate(EXAMPLES["Create Batch Job"])
    assert job.id == "bjb-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert job.status == JobStatus.PENDING and not job.is_terminal
    assert job.directory_id == "dir-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert job.created_at == WHEN and job.workflow_id == "workflow_id"
    assert job.total_items == 0 and job.failed_items == 0 and job.skipped_items == 0


def test_list_response_example() -> None:
    page = BatchJobList.model_validate(EXAMPLES["List Batch Jobs"])
    assert [j.id for j in page.items] == ["bjb-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]
    assert page.total_size == 0 and page.next_page_token == "next_page_token"


def test_status_response_example() -> None:
    status = BatchJobStatus.model_validate(EXAMPLES["Get Batch Job Status"])
    assert status.job.project_id == "proj-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert status.progress_percentage == 0 and status.job.started_at == WHEN


def test_cancel_response_example() -> None:
    cancel = BatchCancelResponse.model_validate(EXAMPLES["Cancel Batch Job"])
    assert cancel.job_id == "job_id" and cancel.message == "message"
    assert cancel.processed_items == 0 and cancel.status == JobStatus.PENDING


def test_items_response_example() -> None:
    page = JobItemList.model_validate(EXAMPLES["List Batch Job Items"])
    item = page.items[0]
    assert (item.item_id, item.item_name, item.status_value) == ("item_id", "item_name", "pending")
    assert item.skip_reason == "skip_reason" and item.job_id == "job_id"
    assert item.completed_at == WHEN


def test_processing_results_example() -> None:
    results = ItemProcessingResults.model_validate(EXAMPLES["Get Item Processing Results"])
    assert results.processing_results is not None
    result = results.processing_results[0]
    assert result.job_type == "parse" and result.processed_at == WHEN
    config = result.job_config
    assert isinstance(config, BatchParseJobRecordCreate) and config.parameters is not None
    params = config.parameters
    assert params.output_tables_as_html is True and params.output_bucket == "outputBucket"
    assert params.languages == ["af"] and params.parse_mode == "parse_page_without_llm"
    # The echoed config carries secrets: they parse as secrets and stay masked.
    assert isinstance(params.azure_openai_key, SecretStr)
    assert params.azure_openai_key.get_secret_value() == "azure_openai_key"
    assert "azure_openai_key'" not in repr(params).replace("azure_openai_key=", "")
    hooks = params.webhook_configurations
    assert hooks is not None and hooks[0].webhook_headers is not None
    assert hooks[0].webhook_headers["Authorization"].get_secret_value() == "Bearer sk-..."
    assert "Bearer sk-..." not in repr(results) and "Bearer sk-..." not in str(results)


def test_directory_shapes_from_the_reference() -> None:
    directory = Directory.model_validate(
        {
            "id": "dir-1",
            "name": "inputs",
            "project_id": "proj-1",
            "type": "ephemeral",
            "expires_at": "2030-01-01T00:00:00Z",
            "system_metadata": {"a": 1},
        }
    )
    assert directory.type == "ephemeral" and directory.expires_at is not None
    files = DirectoryFileList.model_validate(
        {
            "items": [
                {
                    "id": "dfl-1",
                    "directory_id": "dir-1",
                    "display_name": "a.pdf",
                    "project_id": "proj-1",
                    "unique_id": "a.pdf",
                    "download_url": {"url": "https://s3/x", "expires_at": "2030-01-01T00:00:00Z"},
                }
            ],
            "next_page_token": None,
        }
    )
    file = files.items[0]
    assert isinstance(file, DirectoryFile) and file.download_url is not None
    assert file.download_url.url == "https://s3/x"


# ---- responses are tolerant ---------------------------------------------------------------


def test_new_job_status_parses_and_is_not_terminal() -> None:
    job = BatchJob.model_validate(
        {**EXAMPLES["Create Batch Job"], "status": "paused", "brand_new": {"x": 1}}
    )
    assert job.status == "paused" and job.status_value == "paused"
    assert not job.is_terminal and not is_terminal_job_status("paused")
    assert job.model_extra == {"brand_new": {"x": 1}}


def test_new_item_status_and_job_type_parse() -> None:
    page = JobItemList.model_validate(
        {"items": [{"item_id": "i", "item_name": "n", "status": "quarantined"}], "total_size": None}
    )
    assert page.items[0].status_value == "quarantined"
    job = BatchJob.model_validate({**EXAMPLES["Create Batch Job"], "job_type": "split"})
    assert job.job_type == "split"


def test_echoed_config_with_new_fields_still_parses() -> None:
    example = json.loads(json.dumps(EXAMPLES["Get Item Processing Results"]))
    example["processing_results"][0]["job_config"]["parameters"]["future_option"] = True
    results = ItemProcessingResults.model_validate(example)
    assert results.processing_results is not None


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_terminal_statuses(status: str) -> None:
    assert is_terminal_job_status(status)


@pytest.mark.parametrize("status", ["pending", "running", "dispatched"])
def test_non_terminal_statuses(status: str) -> None:
    assert not is_terminal_job_status(status)


# ---- requests are strict: bad input, each with its message ------------------------------

ONE_DIR = {"directory_id": "dir-1", "job_config": {}}

BAD_INPUTS: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (
        BatchParseJobConfig,
        {"fast_mod": True},
        "unknown field 'fast_mod' (did you mean 'fast_mode'?)",
    ),
    (BatchParseJobConfig, {"languges": ["en"]}, "did you mean 'languages'?"),
    (BatchParseJobConfig, {"zzzz": 1}, "unknown field 'zzzz' for BatchParseJobConfig"),
    (BatchJobCreate, {"directory": "d", "job_config": {}}, "did you mean 'directory_id'?"),
    (
        BatchJobCreate,
        {"directory_id": "d", "item_ids": ["a"], "job_config": {}},
        "give exactly one of 'directory_id' or 'item_ids', not both",
    ),
    (BatchJobCreate, {"job_config": {}}, "neither was given"),
    (BatchJobCreate, {"item_ids": [], "job_config": {}}, "item_ids is empty"),
    (
        BatchJobCreate,
        {"item_ids": ["a", "b", "a"], "job_config": {}},
        "item_ids contains duplicates: 'a'",
    ),
    (BatchJobCreate, {"item_ids": [""], "job_config": {}}, "at least 1 character"),
    (BatchJobCreate, {"directory_id": "", "job_config": {}}, "at least 1 character"),
    (BatchJobCreate, {**ONE_DIR, "page_size": 0}, "page_size\n  Input should be greater than 0"),
    (
        BatchJobCreate,
        {**ONE_DIR, "continue_as_new_threshold": -1},
        "continue_as_new_threshold\n  Input should be greater than 0",
    ),
    (BatchJobCreate, {"directory_id": "d"}, "job_config\n  Field required"),
    (
        BatchParseJobConfig,
        {"max_pages": -1},
        "max_pages\n  Input should be greater than or equal to 0",
    ),
    (
        BatchParseJobConfig,
        {"job_timeout_in_seconds": -5},
        "job_timeout_in_seconds\n  Input should be greater than or equal to 0",
    ),
    (BatchParseJobConfig, {"bbox_top": 1.5}, "bbox_top\n  Input should be less than or equal to 1"),
    (
        BatchParseJobConfig,
        {"page_error_tolerance": 2},
        "page_error_tolerance\n  Input should be less than or equal to 1",
    ),
    (
        BatchParseJobConfig,
        {"bbox_top": 0.6, "bbox_bottom": 0.5},
        "bbox_top + bbox_bottom must be < 1",
    ),
    (
        BatchParseJobConfig,
        {"bbox_left": 0.5, "bbox_right": 0.5},
        "bbox_left + bbox_right must be < 1",
    ),
    (BatchParseJobConfig, {"languages": ["xx"]}, "languages.0\n  Input should be 'af', 'az'"),
    (
        BatchParseJobConfig,
        {"parse_mode": "fast"},
        "parse_mode\n  Input should be 'parse_page_without_llm'",
    ),
    (
        BatchParseJobConfig,
        {"priority": "urgent"},
        "priority\n  Input should be 'low', 'medium', 'high' or 'critical'",
    ),
    (
        BatchParseJobConfig,
        {"images_to_save": ["photo"]},
        "images_to_save.0\n  Input should be 'screenshot', 'embedded' or 'layout'",
    ),
    (
        BatchParseJobConfig,
        {"replace_failed_page_mode": "skip"},
        "Input should be 'raw_text', 'blank_page' or 'error_message'",
    ),
    (BatchParseJobConfig, {"fast_mode": "maybe"}, "fast_mode\n  Input should be a valid boolean"),
    (BatchParseJobConfig, {"type": "extract"}, "type\n  Input should be 'parse'"),
    (
        BatchParseJobRecordCreate,
        {"job_name": "other"},
        "job_name\n  Input should be 'parse_raw_file_job'",
    ),
    (WebhookConfiguration, {"webhook_url": "ftp://x"}, "webhook_url must be an http(s) URL"),
    (
        WebhookConfiguration,
        {"webhook_events": ["parse.done"]},
        "webhook_events.0\n  Input should be 'extract.pending'",
    ),
    (WebhookConfiguration, {"webhook_output_format": "xml"}, "Input should be 'string' or 'json'"),
    (ClassifyJobConfig, {"rules": []}, "rules\n  List should have at least 1 item"),
    (
        ClassifyJobConfig,
        {"rules": [{"type": "a", "description": "x"}, {"type": "a", "description": "y"}]},
        "rules: type 'a' appears more than once",
    ),
    (
        ClassifyJobConfig,
        {"rules": [{"type": "a", "description": "x"}], "mode": "SLOW"},
        "Input should be 'FAST' or 'MULTIMODAL'",
    ),
    (ClassifierRule, {"type": "invoice"}, "description\n  Field required"),
    (
        ClassifierRule,
        {"type": "", "description": "x"},
        "type\n  String should have at least 1 character",
    ),
    (DirectoryCreate, {"name": ""}, "name\n  String should have at least 1 character"),
    (
        DirectoryCreate,
        {"name": "d", "type": "index"},
        "type\n  Input should be 'ephemeral' or 'user'",
    ),
    (DirectoryFileAdd, {"file_id": "f", "metadata": {"k": {"nested": 1}}}, "metadata.k"),
    (ListJobsQuery, {"status": "done"}, "status\n  Input should be 'pending', 'running'"),
    (ListJobsQuery, {"limit": 0}, "limit\n  Input should be greater than 0"),
    (ListItemsQuery, {"offset": -1}, "offset\n  Input should be greater than or equal to 0"),
]


@pytest.mark.parametrize(
    ("model", "data", "message"),
    BAD_INPUTS,
    ids=[f"{i:02d}-{m.__name__}" for i, (m, _, _) in enumerate(BAD_INPUTS)],
)
def test_bad_input_is_rejected_with_a_clear_message(
    model: type[BaseModel], data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    assert message in str(info.value)


def test_there_are_at_least_twenty_distinct_bad_inputs() -> None:
    assert len({json.dumps(d, sort_keys=True) + m.__name__ for m, d, _ in BAD_INPUTS}) >= 20


def test_validation_errors_never_echo_secret_input() -> None:
    for data in (
        {"fast_mod": True, "azure_openai_key": "sk-do-not-show"},
        {"gpt4o_api_key": "sk-do-not-show", "bbox_top": 0.9, "bbox_bottom": 0.9},
    ):
        with pytest.raises(ValidationError) as info:
            BatchParseJobConfig.model_validate(data)
        assert "sk-do-not-show" not in str(info.value) and "sk-do-not-show" not in repr(info.value)
    with pytest.raises(ValidationError) as info:
        BatchJobCreate.model_validate({"job_config": {"parameters": {"gpt4o_api_key": "sk-xyz1"}}})
    assert "sk-xyz1" not in str(info.value)


def test_a_minimal_parse_job_is_valid() -> None:
    body = BatchJobCreate.model_validate(ONE_DIR)
    assert body.to_wire() == ONE_DIR and body.job_type == "parse"
    classify = BatchJobCreate.model_validate(
        {"item_ids": ["a"], "job_config": {"rules": [{"type": "t", "description": "d"}]}}
    )
    assert classify.job_type == "classify"


# ---- secrets are masked everywhere but the request body ------------------------------------


def secret_config() -> BatchParseJobConfig:
    return BatchParseJobConfig.model_validate(
        {
            "azure_openai_key": "sk-azure-111",
            "gpt4o_api_key": "sk-gpt-222",
            "vendor_multimodal_api_key": "sk-vendor-333",
            "http_proxy": "http://alice:pw-444@proxy.corp:3128",
            "webhook_configurations": [
                {
                    "webhook_url": "https://hooks.example/x",
                    "webhook_headers": {"Authorization": "Bearer tok-555"},
                    "webhook_signing_secret": "whsec-666",
                }
            ],
        }
    )


SECRETS = ["sk-azure-111", "sk-gpt-222", "sk-vendor-333", "pw-444", "tok-555", "whsec-666"]


def test_secrets_are_masked_in_repr_str_and_dumps() -> None:
    config = secret_config()
    body = BatchJobCreate(directory_id="d", job_config={"parameters": config})
    for text in (
        repr(config),
        str(config),
        repr(body),
        str(body),
        json.dumps(config.model_dump(mode="json")),
        config.model_dump_json(),
        body.model_dump_json(),
        str(config.model_dump()),
    ):
        for secret in SECRETS:
            assert secret not in text, (secret, text)
    assert config.model_dump(mode="json")["http_proxy"] == "http://**********@proxy.corp:3128"


def test_secrets_are_in_clear_only_in_the_wire_body() -> None:
    wire = secret_config().to_wire()
    assert wire["azure_openai_key"] == "sk-azure-111"
    assert wire["http_proxy"] == "http://alice:pw-444@proxy.corp:3128"
    assert wire["webhook_configurations"][0]["webhook_headers"] == {
        "Authorization": "Bearer tok-555"
    }
    assert wire["webhook_configurations"][0]["webhook_signing_secret"] == "whsec-666"


def test_proxy_without_credentials_is_shown() -> None:
    config = BatchParseJobConfig(http_proxy=ProxyURL("http://proxy.corp:3128"))
    assert config.model_dump(mode="json")["http_proxy"] == "http://proxy.corp:3128"


def test_odd_wire_aliases() -> None:
    config = BatchParseJobConfig.model_validate(
        {"output_tables_as_HTML": True, "outputBucket": "b"}
    )
    assert config.output_tables_as_html is True and config.output_bucket == "b"
    assert config.to_wire() == {"output_tables_as_HTML": True, "outputBucket": "b"}
    by_name = BatchParseJobConfig(output_tables_as_html=False)
    assert by_name.to_wire() == {"output_tables_as_HTML": False}


# ---- hypothesis: parse parameters round-trip through the wire -----------------------------


def _bounds(extras: tuple[Any, ...]) -> dict[str, float]:
    found: dict[str, float] = {}
    for extra in extras:
        for item in extra.metadata if isinstance(extra, FieldInfo) else [extra]:
            if isinstance(item, annotated_types.Ge):
                found["min_value"] = float(item.ge)  # type: ignore[arg-type]
            elif isinstance(item, annotated_types.Le):
                found["max_value"] = float(item.le)  # type: ignore[arg-type]
    return found


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SECRET_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16)


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Wire values for a field annotation of the request models."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return strategy_for(next(a for a in args if a is not type(None)))
    if origin is typing.Annotated:
        base, *extras = args
        if base is ProxyURL:
            return st.builds(
                "http://{}:{}@proxy.test:{}".format,
                st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
                st.integers(1, 65535),
            )
        if base is SecretStr:
            return SECRET_TEXT
        bounds = _bounds(tuple(extras))
        if base is int:
            return st.integers(int(bounds.get("min_value", 0)), 10**6)
        if base is float:
            return st.floats(bounds.get("min_value", 0.0), bounds.get("max_value", 1e6))
        return strategy_for(base)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=3)
    if origin is dict:
        if args[1] is Any:
            return st.dictionaries(TEXT, st.one_of(st.integers(), TEXT, st.booleans()), max_size=3)
        return st.dictionaries(TEXT, strategy_for(args[1]), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from([m.value for m in annotation])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation is str:
        return TEXT
    raise AssertionError(f"no strategy for {annotation!r}")


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    optional = {}
    for name, field in model.model_fields.items():
        value = strategy_for(field.annotation)
        if name == "webhook_url":
            value = st.sampled_from(["https://hooks.test/a", "http://127.0.0.1:9/h"])
        optional[field.alias or name] = value
    return st.fixed_dictionaries({}, optional=optional)


def _margins_leave_a_page(data: dict[str, Any]) -> bool:
    pairs = (("bbox_top", "bbox_bottom"), ("bbox_left", "bbox_right"))
    return all(data.get(a, 0) + data.get(b, 0) < 1 for a, b in pairs)


def _secrets(value: Any) -> list[str]:
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, BaseModel):
        return [s for v in value.__dict__.values() for s in _secrets(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secrets(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secrets(v)]
    return []


@settings(max_examples=150, deadline=None)
@given(model_strategy(BatchParseJobConfig).filter(_margins_leave_a_page))
def test_parse_parameters_round_trip(data: dict[str, Any]) -> None:
    config = BatchParseJobConfig.model_validate(data)
    wire = config.to_wire()
    assert json.loads(json.dumps(wire)) == wire  # JSON-serialisable as sent
    again = BatchParseJobConfig.model_validate(wire)
    assert again == config
    assert again.to_wire() == wire
    assert set(wire) == set(data)  # unset fields stay unset; wire names are kept
    assert sorted(_secrets(again)) == sorted(_secrets(config))
    # Through a whole create body, too.
    body = BatchJobCreate.model_validate({"directory_id": "d", "job_config": {"parameters": wire}})
    assert body.to_wire()["job_config"]["parameters"] == wire
