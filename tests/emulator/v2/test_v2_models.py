"""The v2 wire models: strict requests (the SDK's required fields and literals), tolerant
responses, and the generated ``parse_v2`` parameters kept in step with the SDK 2.19 types."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from prefect_llamabatch.models import LENIENT
from prefect_llamabatch.models.v2 import (
    Batch,
    BatchCreate,
    Configuration,
    ConfigurationCreate,
    ParseJobResult,
    ParseV2Parameters,
)
from tests.emulator.v2.gen_parse_parameters import TARGET, generate


def test_generated_parse_parameters_match_the_sdk(sdk219_python: Path) -> None:
    package = subprocess.run(
        [
            str(sdk219_python),
            "-c",
            "import llama_cloud, os; print(os.path.dirname(llama_cloud.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert generate(Path(package)) == TARGET.read_text(), "regenerate parse_parameters.py"


def test_request_models_refuse_unknown_fields_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="did you mean 'source_directory_id'"):
        BatchCreate.model_validate(
            {
                "config": {"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_FAST"}},
                "source_directory": "dir-1",
            }
        )
    with pytest.raises(ValidationError, match="did you mean 'target_pages'"):
        ParseV2Parameters.model_validate(
            {
                "product_type": "parse_v2",
                "tier": "fast",
                "version": "latest",
                "page_ranges": {"target_page": "1-2"},
            }
        )
    lenient = ParseV2Parameters.model_validate(
        {"product_type": "parse_v2", "tier": "fast", "version": "latest", "later": 1},
        context={LENIENT: True},
    )
    assert lenient.tier == "fast"


def test_configuration_parameters_are_discriminated_by_product_type() -> None:
    create = ConfigurationCreate.model_validate(
        {
            "name": "x",
            "parameters": {"product_type": "extract_v2", "data_schema": {"type": "object"}},
        }
    )
    assert type(create.parameters).__name__ == "ExtractV2Parameters"
    with pytest.raises(ValidationError) as caught:
        ConfigurationCreate.model_validate({"name": "x", "parameters": {"product_type": "ocr"}})
    assert caught.value.errors()[0]["type"] == "union_tag_invalid"


def test_responses_keep_fields_the_service_adds_later() -> None:
    batch = Batch.model_validate(
        {
            "id": "bat-1",
            "config": {"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_FAST"}},
            "project_id": "p",
            "source_directory_id": "d",
            "status": "THROTTLED",
            "priority": "high",
        }
    )
    assert batch.model_extra == {"priority": "high"} and batch.results is None
    with pytest.raises(ValidationError):
        Batch.model_validate({**batch.model_dump(), "status": "DONE"})
    result = ParseJobResult.model_validate(
        {"job": {"id": "pjb-1", "project_id": "p", "status": "COMPLETED"}, "forms": None}
    )
    assert result.job.status == "COMPLETED" and result.markdown is None
    config = Configuration.model_validate(
        {
            "id": "cfg-1",
            "name": "n",
            "product_type": "parse_v2",
            "version": "v",
            "parameters": {
                "product_type": "parse_v2",
                "tier": "agentic",
                "version": "latest",
                "x": 1,
            },
        },
        context={LENIENT: True},
    )
    assert isinstance(config.parameters, ParseV2Parameters)
