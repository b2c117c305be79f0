"""What the package does so its guarantees hold on the oldest Prefect it declares (3.4.0).

The lowest-versions run (``make unit-lowest``) is where these matter end to end (stop and serve
tests); these pin the pieces on every version.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from prefect.types.entrypoint import EntrypointType

from prefect_llamabatch.flows import process_directory
from prefect_llamabatch.flows.base import _entrypoint_options
from prefect_llamabatch.orchestration.tracking import variable_name

REPO = Path(__file__).resolve().parents[2]


def test_job_record_names_are_what_prefect_3_4_0_accepts() -> None:
    # Prefect 3.4.0's VariableCreate: "must only contain lowercase letters, numbers, and underscores".
    run_id = str(uuid.uuid4()).upper()  # any case the caller hands in
    name = variable_name(run_id, "bjb-ABC-123")
    assert re.fullmatch(r"[a-z0-9_]+", name), name
    assert run_id.lower().replace("-", "_") in name
    assert variable_name(run_id, "bjb-ABC-123") != variable_name(run_id, "bjb-ABC-124")


def test_a_flow_outside_the_working_directory_is_served_by_module_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a user's project folder; the package lives elsewhere
    given = {"name": "x", "entrypoint_type": EntrypointType.FILE_PATH}
    assert _entrypoint_options(process_directory, given)["entrypoint_type"] == (
        EntrypointType.MODULE_PATH
    )
    assert given["entrypoint_type"] == EntrypointType.FILE_PATH  # the caller's dict is untouched
    deployment = process_directory.to_deployment(name="outside-cwd")
    assert deployment.entrypoint == "prefect_llamabatch.flows.directory.process_directory"


def test_a_flow_inside_the_working_directory_keeps_prefects_file_entrypoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    kept = {"entrypoint_type": EntrypointType.FILE_PATH}
    assert _entrypoint_options(process_directory, kept) is kept
    module = {"entrypoint_type": EntrypointType.MODULE_PATH}
    assert _entrypoint_options(process_directory, module) is module
    deployment = process_directory.to_deployment(name="inside-cwd")
    assert deployment.entrypoint == "prefect_llamabatch/flows/directory.py:process_directory"
