"""deployments/prefect.yaml, deployments/serve.py and the flows/ entrypoints.

Every entrypoint loads; every deployment's parameters validate against its flow's parameter schema
(the JSON schema Prefect stores and enforces, and the flow's own pydantic validation); schedules and
triggers parse; the trigger matches the events the package emits and renders a valid run; and the
composed flows run end to end against the emulator and a real Prefect API.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prefect.events import Event
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.server.utilities.user_templates import render_user_template_sync
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import ValidationError as SchemaError
from prefect.utilities.schema_tools.validation import validate

from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import BatchJob

ROOT = Path(__file__).resolve().parent.parent

# Parameters given when a run starts, not in prefect.yaml (documented next to each entry).
RUNTIME_PARAMETERS = {"retry-failed-items": {"job_id": "bjb-from-the-operator"}}


def _serve_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llamabatch_serve", ROOT / "deployments/serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


serve = _serve_module()
DEFINITIONS: list[dict[str, Any]] = serve.load_definitions()
IDS = [d["name"] for d in DEFINITIONS]


def _flow(definition: dict[str, Any]) -> Flow[..., Any]:
    flow: Flow[..., Any] = load_flow_from_entrypoint(str(ROOT / definition["entrypoint"]))
    return flow


def _trigger_parameters(definition: dict[str, Any], event: Event) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    for trigger in definition.get("triggers") or []:
        for name, template in (trigger.get("parameters") or {}).items():
            rendered[name] = render_user_template_sync(template, {"event": event})
    return rendered


def _completed_event() -> Event:
    """The event the package emits when a job completes (built by its own emitter)."""
    from prefect_llamabatch.orchestration import events

    captured: dict[str, Any] = {}

    def capture(**kwargs: Any) -> None:
        captured.update(kwargs)

    job = BatchJob(
        id="bjb-123",
        job_type="parse",
        project_id="proj-1",
        status="completed",
        total_items=3,
        processed_items=3,
        directory_id="dir-9",
    )
    original = events.emit_event
    events.emit_event = capture  # type: ignore[assignment]
    try:
        events.emit_batch_event(job, progress_percentage=100.0, previous_status="running")
    finally:
        events.emit_event = original
    return Event(**captured)


def test_the_four_required_deployments_exist() -> None:
    by_entrypoint = {d["entrypoint"].split(":")[1]: d for d in DEFINITIONS}
    assert set(by_entrypoint) == {
        "nightly_directory_parse",
        "classify_pipeline",
        "retry_failed",
        "index_batch_outputs",
    }
    assert by_entrypoint["nightly_directory_parse"]["schedules"]
    assert by_entrypoint["index_batch_outputs"]["triggers"]
    assert len(set(IDS)) == len(IDS)
    for definition in DEFINITIONS:
        assert definition["entrypoint"].startswith("flows/")
        assert "credentials_block" in definition["parameters"]


@pytest.mark.parametrize("definition", DEFINITIONS, ids=IDS)
def test_entrypoint_loads_a_flow(definition: dict[str, Any]) -> None:
    assert isinstance(_flow(definition), Flow)


@pytest.mark.parametrize("definition", DEFINITIONS, ids=IDS)
def test_parameters_validate_against_the_flow_schema(definition: dict[str, Any]) -> None:
    flow = _flow(definition)
    params = {
        **definition["parameters"],
        **RUNTIME_PARAMETERS.get(definition["name"], {}),
        **_trigger_parameters(definition, _completed_event()),
    }
    schema = parameter_schema(flow.fn).model_dump_for_openapi()
    # What the server enforces for a deployment run (enforce_parameter_schema).
    validate(params, schema, raise_on_error=True, preprocess=True, ignore_required=False)
    # What the flow run itself does with them (pydantic, incl. the strict wire models).
    flow.validate_parameters(params)


@pytest.mark.parametrize("definition", DEFINITIONS, ids=IDS)
def test_no_parameter_carries_a_secret(definition: dict[str, Any]) -> None:
    text = repr(definition["parameters"]).lower()
    for marker in ("api_key", "llx-", "token", "password", "secret"):
        assert marker not in text


def test_the_schema_check_catches_mistakes() -> None:
    """The validation above is not vacuous: each kind of mistake is refused."""
    from prefect.exceptions import ParameterTypeError

    nightly = next(d for d in DEFINITIONS if d["name"] == "nightly")
    flow = _flow(nightly)
    schema = parameter_schema(flow.fn).model_dump_for_openapi()
    typo = {**nightly["parameters"], "job_config": {"parameters": {"parse_mod": "x"}}}
    with pytest.raises(ParameterTypeError, match="parse_mod"):
        flow.validate_parameters(typo)
    wrong_type = {**nightly["parameters"], "retry_rounds": "twice"}
    with pytest.raises(SchemaError, match="retry_rounds"):
        validate(wrong_type, schema, raise_on_error=True, preprocess=True)
    missing = {k: v for k, v in nightly["parameters"].items() if k != "directory_id"}
    with pytest.raises(SchemaError, match="directory_id"):
        validate(missing, schema, raise_on_error=True, preprocess=True, ignore_required=False)
    retry = next(d for d in DEFINITIONS if d["name"] == "retry-failed-items")
    with pytest.raises(ParameterTypeError):
        _flow(retry).validate_parameters(retry["parameters"])  # job_id comes at run time


def test_trigger_matches_the_package_event_and_renders_the_job_id() -> None:
    definition = next(d for d in DEFINITIONS if d["name"] == "index-batch-outputs")
    (spec,) = definition["triggers"]
    trigger = DeploymentEventTrigger.model_validate(spec)
    event = _completed_event()
    assert event.event in trigger.expect
    assert trigger.match.matches(event.resource)
    assert _trigger_parameters(definition, event) == {"job_id": "bjb-123"}


def test_serve_builds_the_same_deployments_as_the_yaml() -> None:
    deployments = serve.build_deployments()
    assert [d.name for d in deployments] == [f"{name}-served" for name in IDS]
    for deployment, definition in zip(deployments, DEFINITIONS, strict=True):
        assert deployment.parameters == definition["parameters"]
        assert deployment.entrypoint.endswith(definition["entrypoint"])
        crons = [s.schedule.cron for s in deployment.schedules or []]
        assert crons == [s["cron"] for s in definition.get("schedules") or []]
        assert len(deployment.triggers) == len(definition.get("triggers") or [])
        assert deployment.tags == definition["tags"]


# --------------------------------------------------------------------------------------------
# The composed flows, end to end (emulator over HTTP, real Prefect API)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def saved_block(llamacloud_emulator: Emulator, prefect_api: str) -> str:
    from prefect_llamabatch.credentials import LlamaCloudCredentials

    emu = llamacloud_emulator
    LlamaCloudCredentials(
        api_key=emu.api_key, base_url=emu.base_url, project_id=emu.project_id, max_retries=1
    ).save("deployments-test", overwrite=True)
    return "deployments-test"


FAST_WAIT = {"poll_interval": 0.02, "max_poll_interval": 0.1}


@pytest.mark.llamacloud_emulator(transient_failure_patterns=["flaky-*"])
def test_nightly_parse_retries_and_recovers_the_flaky_document(
    llamacloud_emulator: Emulator, saved_block: str
) -> None:
    from prefect_llamabatch import BatchItemsFailed

    emu = llamacloud_emulator
    docs = emu.admin.seed_directory(
        {"a.txt": "alpha", "flaky-share.md": "# sometimes", "c.md": "# c"}, name="inbox"
    )
    nightly = _flow(next(d for d in DEFINITIONS if d["name"] == "nightly"))
    result = nightly(saved_block, docs.id, retry_rounds=1, wait=FAST_WAIT)
    assert result.counts.failed == 0 and len(result.rounds) == 1
    jobs = emu.admin.ground_truth().jobs
    assert len(jobs) == 2  # the parse, then one retry job of the one failed item
    assert sorted(j.total_items for j in jobs) == [1, 3]

    docs = emu.admin.seed_directory({"a.txt": "alpha", "empty.txt": b""}, name="broken")
    with pytest.raises(BatchItemsFailed):
        nightly(saved_block, docs.id, retry_rounds=1, wait=FAST_WAIT)


def test_classify_then_index_outputs(llamacloud_emulator: Emulator, saved_block: str) -> None:
    emu = llamacloud_emulator
    docs = emu.admin.seed_directory(
        {
            "bill.txt": "invoice total due amount payable",
            "deal.txt": "agreement between parties signature term",
        },
        name="intake",
    )
    classify = _flow(next(d for d in DEFINITIONS if d["name"] == "classify"))
    rules = {"invoice": "invoice total due amount", "contract": "agreement parties signature"}
    result = classify(saved_block, docs.id, rules, wait=FAST_WAIT)
    assert result.succeeded

    index = _flow(next(d for d in DEFINITIONS if d["name"] == "index-batch-outputs"))
    rows = index(saved_block, result.job_id)
    labels = {row["document"]: row["label"] for row in rows}
    assert labels == {"bill.txt": "invoice", "deal.txt": "contract"}
    for row in rows:
        assert emu.admin.read_output(row["output"])


# --------------------------------------------------------------------------------------------
# Both deployment styles on one server; export paths
# --------------------------------------------------------------------------------------------


def test_served_names_never_collide_with_prefect_deploy() -> None:
    served = {d.name for d in serve.build_deployments()}
    assert served.isdisjoint(IDS)
    assert served == {f"{name}-served" for name in IDS}


def test_prefect_deploy_then_serve_keeps_both_and_serve_says_so(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`prefect deploy --all`, then serve.py's deployments applied on the same server.

    Before, serving replaced the work-pool deployments (same names) with runner deployments
    whose runs a worker could not load (`Downloading flow code from storage at None`).
    """
    import os
    import subprocess

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    ours = set(IDS) | {f"{name}-served" for name in IDS}
    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():  # this file's, from an earlier run only
            if deployment.name in ours:
                client.delete_deployment(deployment.id)
        try:
            client.create_work_pool(WorkPoolCreate(name="llamabatch", type="process"))
        except Exception:  # already there from an earlier run in this session
            pass
    assert serve.deployed_elsewhere() == []  # nothing deployed yet: serve has nothing to say

    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(ROOT)}
    deployed = subprocess.run(
        [
            str(Path(sys.executable).with_name("prefect")),
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            "deployments/prefect.yaml",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    with get_client(sync_client=True) as client:
        before = {d.name: d for d in client.read_deployments() if d.name in ours}
    assert set(before) == set(IDS)

    for deployment in serve.build_deployments():
        deployment.apply()

    with get_client(sync_client=True) as client:
        after = {d.name: d for d in client.read_deployments() if d.name in ours}
    assert set(after) == ours
    for name in IDS:  # the work pool's deployments are untouched
        assert after[name].id == before[name].id
        assert after[name].work_pool_name == "llamabatch"
        assert after[name].entrypoint == before[name].entrypoint
        assert after[name].path == before[name].path
        assert after[f"{name}-served"].work_pool_name is None
    flows = {d["name"]: _flow(d).name for d in DEFINITIONS}
    twins = sorted(f"{flows[n]}/{n}" for n in IDS)
    assert sorted(serve.deployed_elsewhere()) == twins

    # `python deployments/serve.py` then says so, naming them, before serving its own.
    served: list[Any] = []
    monkeypatch.setattr(serve, "serve", lambda *deployments: served.extend(deployments))
    serve.main()
    note = capsys.readouterr().err
    assert all(twin in note for twin in twins) and "prefect deployment delete" in note
    assert sorted(d.name for d in served) == sorted(ours - set(IDS))


def test_the_nightly_export_is_a_folder_outside_the_repository() -> None:
    nightly = next(d for d in DEFINITIONS if d["name"] == "nightly")
    export = nightly["parameters"]["export_path"]
    assert export.endswith("/")  # a folder: a file per run, never one extensionless file
    target = Path(export).expanduser().resolve()
    assert ROOT not in target.parents and target != ROOT


@pytest.mark.llamacloud_emulator(transient_failure_patterns=["flaky-*"])
def test_export_paths_say_what_they_are(
    llamacloud_emulator: Emulator, saved_block: str, tmp_path: Path
) -> None:
    from prefect_llamabatch import BatchItemsFailed

    emu = llamacloud_emulator
    nightly = _flow(next(d for d in DEFINITIONS if d["name"] == "nightly"))
    docs = emu.admin.seed_directory({"a.txt": "alpha", "empty.txt": b""}, name="broken")
    folder = tmp_path / "exports" / "nightly"
    for _ in range(2):  # two runs into a folder: two files, one per run
        with pytest.raises(BatchItemsFailed):
            nightly(saved_block, docs.id, retry_rounds=1, wait=FAST_WAIT, export_path=f"{folder}/")
    written = sorted(folder.iterdir())
    assert len(written) == 2 and all(p.suffix == ".csv" for p in written)
    assert all("empty.txt" in p.read_text() for p in written)

    jsonl = tmp_path / "failed.jsonl"  # a file keeps its name and extension, which picks JSONL
    with pytest.raises(BatchItemsFailed):
        nightly(saved_block, docs.id, retry_rounds=0, wait=FAST_WAIT, export_path=str(jsonl))
    assert json.loads(jsonl.read_text().splitlines()[0])["item_name"] == "empty.txt"
