"""The package's flows over the v2 Batches API, against the emulator as a real HTTP server.

The emulator's per-batch file limit is set to 5 (``v2_max_files_per_batch``) so sharding is
cheap to test: a directory of 12 files is 3 batches, as 5,000 files would be 5 on LlamaCloud.
"""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterName,
    TaskRunFilter,
    TaskRunFilterName,
)

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator, FaultRule
from prefect_llamabatch.flows import (
    process_directory,
    process_items,
    retry_failed_items,
)
from prefect_llamabatch.orchestration.exceptions import BatchItemsFailed
from prefect_llamabatch.orchestration.reporting import report_failed_items
from prefect_llamabatch.orchestration.results import BatchRunResult
from prefect_llamabatch.orchestration.runtime import current_flow_run_id
from prefect_llamabatch.orchestration.tracking import cancel_tracked_jobs, tracked_jobs
from prefect_llamabatch.orchestration.v2_pipeline import v2_target
from prefect_llamabatch.orchestration.v2_tasks import create_v2_batch
from tests.prefect.conftest import FAST

pytestmark = [
    pytest.mark.usefixtures("prefect"),
    pytest.mark.emulator(v2_max_files_per_batch=5),
]

TWELVE: dict[str, bytes] = {
    **{f"doc-{i:02d}.txt": f"document number {i}".encode() for i in range(10)},
    "bad-1.txt": b"this one fails",
    "bad-2.txt": b"this one fails too",
}
"""Twelve files, two of which (``bad-*``) fail by the emulator's failure pattern."""


@pytest.fixture
def twelve(emu: Emulator) -> str:
    return emu.admin.seed_directory(TWELVE, name="twelve").id


def _directory_files(creds: LlamaCloudCredentials, directory_id: str) -> dict[str, str]:
    with creds.get_client() as client:
        return {f.id: f.display_name for f in client.iter_directory_files(directory_id)}


def _batches(creds: LlamaCloudCredentials) -> list[Any]:
    with creds.get_client() as client:
        return list(client.iter_batches())


def test_a_directory_over_the_limit_runs_as_shards_merged_into_one_result(
    emu: Emulator, creds: LlamaCloudCredentials, twelve: str
) -> None:
    originals = _directory_files(creds, twelve)
    result = process_directory(
        creds,
        directory_id=twelve,
        configuration_id="cfg-PARSE_FAST",
        max_files_per_batch=5,
        shard_concurrency=2,
        wait=FAST,
        max_failed_fraction=0.5,
    )
    assert isinstance(result, BatchRunResult)
    assert (result.counts.total, result.counts.failed, result.counts.succeeded) == (12, 2, 10)
    assert result.status == "completed" and result.accepted_failures
    assert sorted(s.submitted for s in result.shards) == [2, 5, 5]
    assert sum(s.counts.failed for s in result.shards) == 2
    # Ground truth: three batches, each over its own shard directory of at most 5 files.
    batches = _batches(creds)
    assert {b.id for b in batches} == {s.job_id for s in result.shards}
    shard_files = [_directory_files(creds, b.source_directory_id) for b in batches]
    assert sorted(len(f) for f in shard_files) == [2, 5, 5]
    assert sorted(n for f in shard_files for n in f.values()) == sorted(TWELVE)
    # Failed items are named by the caller's directory, not the shard copies.
    assert {f.item_name for f in result.failed_items} == {"bad-1.txt", "bad-2.txt"}
    assert {f.item_id for f in result.failed_items} <= set(originals)
    assert all(f.job_id and f.error_message for f in result.failed_items)
    # Outcomes came from batched job lookups, never one request per item.
    counts = emu.admin.request_counts()
    assert counts.get("get_parse_job", 0) == 0
    assert counts.get("list_parse_jobs") == 3
    assert counts.get("create_batch") == 3


def test_a_directory_within_the_limit_is_one_batch_over_the_directory_itself(
    creds: LlamaCloudCredentials, twelve: str
) -> None:
    state = process_directory(
        creds,
        directory_id=twelve,
        configuration_id="cfg-PARSE_FAST",
        max_files_per_batch=5,
        wait=FAST,
        return_state=True,
    )
    assert state.is_failed()  # two items failed, none accepted
    with pytest.raises(BatchItemsFailed) as info:
        state.result()
    result = info.value.result
    assert result.counts.failed == 2
    assert len(result.shards) == 3
    small = process_directory(
        creds,
        directory_id=_seed_small(creds),
        configuration_id="cfg-PARSE_FAST",
        wait=FAST,
    )
    (batch,) = [b for b in _batches(creds) if b.id == small.job_id]
    assert batch.source_directory_id == small.job.directory_id  # no copy of a small directory
    assert small.counts.total == 3 and small.succeeded


def _seed_small(creds: LlamaCloudCredentials) -> str:
    with creds.get_client() as client:  # through the public API, as a user would
        directory = client.create_directory("small")
        for name in ("x.txt", "y.txt", "z.txt"):
            client.upload_file(directory.id, name.encode() + b" text", display_name=name)
    return directory.id


def test_parse_v2_parameters_are_saved_once_as_a_named_configuration(
    creds: LlamaCloudCredentials, twelve: str
) -> None:
    parameters = {"tier": "fast", "version": "latest"}
    for _ in range(2):
        result = process_directory(
            creds,
            directory_id=twelve,
            parse_v2=parameters,
            max_files_per_batch=5,
            wait=FAST,
            max_failed_fraction=None,
        )
        assert result.counts.total == 12
    with creds.get_client() as client:
        saved = [c for c in client.iter_configurations() if c.name.startswith("llamabatch-")]
        batches = list(client.iter_batches())
    assert len(saved) == 1
    assert {b.config.job.configuration_id for b in batches} == {saved[0].id}
    assert len(batches) == 6


def test_v1_and_v2_parameters_are_refused_together_before_any_request(
    emu: Emulator, creds: LlamaCloudCredentials, twelve: str
) -> None:
    with pytest.raises(ValueError, match=r"job_config .* and configuration_id"):
        process_directory(
            creds, directory_id=twelve, job_config={}, configuration_id="cfg-PARSE_FAST"
        )
    with pytest.raises(ValueError, match="tier"):
        v2_target(parse_v2={"tier": "no-such-tier", "version": "latest"})
    assert not any(k.endswith("batch") for k in emu.admin.request_counts())


def test_a_flow_retry_reattaches_to_the_shard_batches_it_created(
    emu: Emulator, creds: LlamaCloudCredentials, twelve: str
) -> None:
    # The first wait's reads fail past the client's retries: the flow run fails after its first
    # batch was created, and its retry must find that batch (and the shard plan) again.
    emu.admin.set_faults([FaultRule(route="get_batch", kind="500", count=2)])
    retried = process_directory.with_options(retries=1, retry_delay_seconds=0)
    result = retried(
        creds,
        directory_id=twelve,
        configuration_id="cfg-PARSE_FAST",
        max_files_per_batch=5,
        shard_concurrency=1,
        wait=FAST,
        max_failed_fraction=None,
    )
    assert result.counts.total == 12 and len(result.shards) == 3
    assert emu.admin.fault_stats()[0]["fired"] == 2  # the first attempt did fail
    with get_client(sync_client=True) as prefect_client:
        (run,) = prefect_client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[f"process-directory/{twelve}"])
            )
        )
        creates = prefect_client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="create-v2-batch/%")),
        )
    assert run.run_count == 2
    # The first attempt ran the create of one shard or two (the next one may have started
    # before the failure was seen), the retry all three: more create runs than batches.
    assert len(creates) >= 4
    batches = _batches(creds)
    assert len(batches) == 3  # no second batch for the first shard
    assert emu.admin.request_counts().get("create_batch") == 3
    assert emu.admin.request_counts().get("create_directory") == 3  # one plan of 3 shards


def test_retry_failed_items_resubmits_only_the_failed_files_in_a_new_directory(
    creds: LlamaCloudCredentials, twelve: str
) -> None:
    first = process_directory(
        creds,
        directory_id=twelve,
        configuration_id="cfg-PARSE_FAST",
        wait=FAST,
        max_files_per_batch=5,
        max_failed_fraction=None,
    )
    bad_shard = next(s for s in first.shards if s.counts.failed)
    state = retry_failed_items(
        creds, bad_shard.job_id, api="v2", max_rounds=2, wait=FAST, return_state=True
    )
    with pytest.raises(BatchItemsFailed) as info:
        state.result()
    result = info.value.result
    assert [r.submitted for r in result.rounds] == [
        bad_shard.counts.failed,
        bad_shard.counts.failed,
    ]
    assert result.counts.failed == bad_shard.counts.failed  # bad-* fail every time
    by_id = {b.id: b for b in _batches(creds)}
    for round_ in result.rounds:
        names = _directory_files(creds, by_id[round_.job_id].source_directory_id).values()
        assert sorted(names) == sorted(f.item_name for f in result.failed_items)
        assert all(n.startswith("bad-") for n in names)


def test_process_items_runs_only_the_given_files(creds: LlamaCloudCredentials, twelve: str) -> None:
    files = _directory_files(creds, twelve)
    chosen = [i for i, n in files.items() if n in {"doc-01.txt", "doc-02.txt", "bad-1.txt"}]
    result = process_items(
        creds,
        chosen,
        directory_id=twelve,
        configuration_id="cfg-PARSE_FAST",
        wait=FAST,
        max_failed_fraction=0.5,
    )
    assert (result.counts.total, result.counts.failed) == (3, 1)
    assert [f.item_id for f in result.failed_items] == [
        i for i in chosen if files[i] == "bad-1.txt"
    ]
    (batch,) = _batches(creds)
    assert batch.source_directory_id != twelve
    assert sorted(_directory_files(creds, batch.source_directory_id).values()) == sorted(
        files[i] for i in chosen
    )
    with pytest.raises(ValueError, match="directory_id"):
        process_items(creds, chosen, configuration_id="cfg-PARSE_FAST")


def test_report_failed_items_of_a_v2_batch(
    creds: LlamaCloudCredentials, twelve: str, tmp_path: Any
) -> None:
    first = process_directory(
        creds,
        directory_id=twelve,
        configuration_id="cfg-PARSE_FAST",
        wait=FAST,
        max_files_per_batch=5,
        max_failed_fraction=None,
        report=False,
    )
    bad_shard = next(s for s in first.shards if s.counts.failed)
    report = report_failed_items(
        creds, bad_shard.job_id, api="v2", export_path=str(tmp_path / "failed.jsonl")
    )
    assert {f.item_name for f in report.failed} <= {"bad-1.txt", "bad-2.txt"}
    assert len(report.failed) == bad_shard.counts.failed
    assert report.table_artifact_id is not None and report.summary_artifact_id is not None
    lines = (tmp_path / "failed.jsonl").read_text().splitlines()
    assert len(lines) == len(report.failed)


def test_a_stopped_run_cancels_its_v2_batches(
    emu: Emulator, creds: LlamaCloudCredentials, twelve: str
) -> None:
    emu.admin.freeze()  # the batch stays unfinished until the stop hook cancels it

    @flow
    def start_and_stop() -> tuple[str, list[str], list[str]]:
        batch = create_v2_batch(creds, _seed_small(creds), "cfg-PARSE_FAST").batch
        run_id = current_flow_run_id()
        assert run_id is not None
        apis = [j.api for j in tracked_jobs(run_id)]
        return batch.id, apis, cancel_tracked_jobs(run_id, "stopped by the test")

    batch_id, apis, cancelled = start_and_stop()
    emu.admin.resume()
    assert apis == ["v2"]
    assert cancelled == [batch_id]
    with creds.get_client() as client:
        assert client.get_batch(batch_id).status == "CANCELLED"


def test_extract_v2_outcomes_come_from_batched_extract_job_lookups(
    emu: Emulator, creds: LlamaCloudCredentials, twelve: str
) -> None:
    result = process_directory(
        creds,
        directory_id=twelve,
        extract_v2={"data_schema": {"type": "object", "properties": {"total": {"type": "number"}}}},
        max_files_per_batch=5,
        wait=FAST,
        max_failed_fraction=None,
    )
    assert result.job.job_type == "extract"
    assert (result.counts.total, result.counts.failed) == (12, 2)
    assert {f.item_name for f in result.failed_items} == {"bad-1.txt", "bad-2.txt"}
    assert all(f.job_id and f.job_id.startswith("exj-") for f in result.failed_items)
    counts = emu.admin.request_counts()
    assert counts.get("list_extract_jobs") == 3 and counts.get("get_extract_job", 0) == 0


HOOK_SECRET = "whsec-v2-signing-secret-5531"


def _hooked(**hook: Any) -> dict[str, Any]:
    return {
        "tier": "fast",
        "version": "latest",
        "webhook_configurations": [{"webhook_url": "https://hooks.example.com/in", **hook}],
    }


@pytest.mark.parametrize(
    ("flow_name", "hook", "path"),
    [
        (
            "directory",
            {"webhook_signing_secret": HOOK_SECRET},
            "parse_v2.webhook_configurations[0].webhook_signing_secret",
        ),
        (
            "items",
            {"webhook_headers": {"Authorization": HOOK_SECRET}},
            "parse_v2.webhook_configurations[0].webhook_headers",
        ),
    ],
)
def test_a_webhook_secret_in_v2_parameters_is_refused_and_never_stored(
    emu: Emulator,
    creds: LlamaCloudCredentials,
    twelve: str,
    flow_name: str,
    hook: dict[str, Any],
    path: str,
) -> None:
    parameters = _hooked(**hook)
    if flow_name == "directory":
        state = process_directory(
            creds, directory_id=twelve, parse_v2=parameters, return_state=True
        )
    else:
        first = next(iter(_directory_files(creds, twelve)))
        state = process_items(
            creds, directory_id=twelve, item_ids=[first], parse_v2=parameters, return_state=True
        )
    assert state.is_failed()
    with pytest.raises(ValueError) as info:
        state.result()
    message = str(info.value)
    assert path in message and "LlamaBatchJob" in message
    assert HOOK_SECRET not in message
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).parameters
    assert HOOK_SECRET not in repr(stored)
    assert stored["parse_v2"]["webhook_configurations"][0]["webhook_url"] == (
        "https://hooks.example.com/in"
    )
    assert not any(
        k.endswith(("batch", "configuration", "configurations")) for k in emu.admin.request_counts()
    )


def test_a_v2_block_keeps_its_webhook_secret_obfuscated_and_sends_it(
    emu: Emulator, creds: LlamaCloudCredentials
) -> None:
    import uuid

    from prefect_llamabatch.flows import run_llama_batch_job
    from prefect_llamabatch.orchestration.jobs import LlamaBatchJob

    three = emu.admin.seed_directory(
        {f"doc-{i}.txt": b"a document" for i in range(3)}, name="three"
    ).id
    name = f"v2-hooked-{uuid.uuid4().hex[:8]}"
    LlamaBatchJob(
        credentials=creds,
        directory_id=three,
        wait=FAST,
        max_failed_fraction=None,
        parse_v2=_hooked(webhook_signing_secret=HOOK_SECRET),
    ).save(name)
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            name, "llamacloud-batch-job", include_secrets=False
        )
    assert HOOK_SECRET not in repr(document.data)
    state = run_llama_batch_job(name, return_state=True)
    result: BatchRunResult = state.result()
    assert result.counts.total == 3
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert HOOK_SECRET not in repr(run.parameters)
    with creds.get_client() as client:
        saved = [c for c in client.iter_configurations() if c.name.startswith("llamabatch-")]
    # The secret reached the service, inside the saved configuration it belongs to.
    assert len(saved) == 1 and HOOK_SECRET in repr(saved[0].parameters)
