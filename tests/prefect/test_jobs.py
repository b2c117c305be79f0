"""LlamaBatchJob (JobBlock) and LlamaBatchJobRun, and the run_llama_batch_job flow."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from prefect import flow
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from pydantic import ValidationError

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import run_llama_batch_job
from prefect_llamabatch.orchestration.jobs import LlamaBatchJob, LlamaBatchJobRun
from prefect_llamabatch.orchestration.results import BatchItemsFailed, BatchRunResult
from tests.prefect.block_standards import BlockStandards
from tests.prefect.conftest import FAST

SECRET = "sk-vendor-key-in-a-block-7788"


class TestLlamaBatchJobStandards(BlockStandards):
    @pytest.fixture
    def block(self) -> type[Block]:
        return LlamaBatchJob


def _block(creds: LlamaCloudCredentials, **fields: object) -> LlamaBatchJob:
    return LlamaBatchJob(credentials=creds, wait=FAST, **fields)  # type: ignore[arg-type]


def test_definition_is_validated_when_built(creds: LlamaCloudCredentials) -> None:
    with pytest.raises(ValidationError, match="neither"):
        _block(creds)
    with pytest.raises(ValidationError, match="fast_mode"):
        _block(creds, directory_id="dir-1", job_config={"parameters": {"fast_mod": True}})
    with pytest.raises(ValidationError, match="max_failed_fraction"):
        _block(creds, directory_id="dir-1", max_failed_fraction=3)


def test_saved_block_keeps_its_secret_encrypted(creds: LlamaCloudCredentials, prefect: str) -> None:
    name = f"job-{uuid.uuid4().hex[:8]}"
    _block(
        creds,
        directory_id="dir-1",
        job_config={"parameters": {"vendor_multimodal_api_key": SECRET}},
    ).save(name)
    loaded = LlamaBatchJob.load(name)
    params = loaded.job_config.parameters  # type: ignore[union-attr]
    assert params is not None and params.vendor_multimodal_api_key is not None
    assert params.vendor_multimodal_api_key.get_secret_value() == SECRET
    assert loaded.credentials.api_key.get_secret_value() == creds.api_key.get_secret_value()
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            name, "llamacloud-batch-job", include_secrets=False
        )
    assert SECRET not in json.dumps(document.data, default=str)
    assert SECRET not in repr(loaded)


def test_trigger_wait_fetch_in_a_sync_flow(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, prefect: str
) -> None:
    job_block = _block(creds, directory_id=docs_dir, max_failed_fraction=0.5)

    @flow
    def run() -> tuple[LlamaBatchJobRun, BatchRunResult, BatchRunResult]:
        job_run = job_block.trigger()
        again = job_block.trigger()  # same flow run, same definition: the same job
        assert again.job_id == job_run.job_id
        return job_run, job_run.wait_for_completion(), job_run.fetch_result()

    job_run, waited, fetched = run()
    assert waited.accepted_failures and waited.counts.failed == 2
    assert fetched.job_id == job_run.job_id
    assert len(emu.admin.ground_truth().jobs) == 1


def test_trigger_and_cancel_in_an_async_flow(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, prefect: str
) -> None:
    emu.admin.freeze()
    job_block = _block(creds, directory_id=docs_dir)

    @flow
    async def run() -> str:
        job_run = await job_block.trigger()
        response = await job_run.cancel("changed my mind")
        return str(response.job_id)

    job_id = asyncio.run(run())
    assert emu.admin.ground_truth().job(job_id).status == "cancelled"


def test_failed_items_raise_like_the_flows(
    creds: LlamaCloudCredentials, docs_dir: str, prefect: str
) -> None:
    job_block = _block(creds, directory_id=docs_dir)

    @flow
    def run() -> BatchRunResult:
        job_run = job_block.trigger()
        try:
            job_run.wait_for_completion()
        except BatchItemsFailed:
            pass
        return job_run.fetch_result()  # the result is kept, with the failed items

    result = run()
    assert len(result.failed_items) == 2


def test_run_llama_batch_job_by_name_keeps_secrets_out_of_parameters(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, prefect: str
) -> None:
    name = f"nightly-{uuid.uuid4().hex[:8]}"
    _block(
        creds,
        directory_id=docs_dir,
        max_failed_fraction=None,
        job_config={"parameters": {"azure_openai_key": SECRET}},
    ).save(name)
    state = run_llama_batch_job(name, return_state=True)
    result: BatchRunResult = state.result()
    assert result.counts.total == 5 and result.accepted_failures
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"run-llama-batch-job/{name}"
    assert run.parameters["block_name_or_block"] == name
    assert SECRET not in json.dumps(run.parameters)


@pytest.mark.emulator(failure_patterns=[], transient_failure_patterns=["flaky-*"])
def test_run_retries_failed_items(
    emu: Emulator, creds: LlamaCloudCredentials, prefect: str
) -> None:
    directory = emu.admin.seed_directory({"ok.txt": b"ok", "flaky-1.txt": b"once"}, name="d")
    job_block = _block(
        creds, directory_id=directory.id, job_config={"parameters": {"gpt4o_api_key": SECRET}}
    )

    @flow
    def run() -> BatchRunResult:
        job_run = job_block.trigger()
        try:
            job_run.wait_for_completion()
        except BatchItemsFailed:
            return job_run.retry_failed_items(max_rounds=2)
        raise AssertionError("the flaky item should have failed first")

    result = run()
    assert result.succeeded and len(result.rounds) == 1


@pytest.mark.emulator(failure_patterns=[], transient_failure_patterns=["flaky-*"])
def test_run_retries_failed_items_from_an_async_flow_without_blocking_the_loop(
    emu: Emulator, creds: LlamaCloudCredentials, prefect: str
) -> None:
    directory = emu.admin.seed_directory({"ok.txt": b"ok", "flaky-1.txt": b"once"}, name="d")
    job_block = _block(
        creds, directory_id=directory.id, job_config={"parameters": {"gpt4o_api_key": SECRET}}
    )

    @flow
    async def run() -> tuple[BatchRunResult, int]:
        job_run = await job_block.trigger()
        with pytest.raises(BatchItemsFailed):
            await job_run.wait_for_completion()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)  # the ticker has started: ticks == 1
        result = await job_run.retry_failed_items(max_rounds=2)
        seen = ticks
        ticker.cancel()
        return result, seen

    result, ticks = asyncio.run(run())
    assert result.succeeded and len(result.rounds) == 1
    assert [r.submitted for r in result.rounds] == [1]
    assert ticks > 1  # the loop kept running while the rounds were waited on
    truth = emu.admin.ground_truth()
    assert truth.job(result.rounds[0].job_id).status == "completed"


def test_a_v2_definition_saved_and_run_by_name_runs_a_v2_batch(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, prefect: str
) -> None:
    name = f"v2-{uuid.uuid4().hex[:8]}"
    _block(
        creds,
        directory_id=docs_dir,
        max_failed_fraction=None,
        parse_v2={"tier": "fast", "version": "latest"},
    ).save(name)
    loaded = LlamaBatchJob.load(name)  # a saved block stores job_config too: still v2
    target = loaded.v2_target()
    assert target is not None and target.parameters == {
        "tier": "fast",
        "version": "latest",
        "product_type": "parse_v2",
    }
    result = run_llama_batch_job(name)
    assert result.counts.total == 5
    assert [s.job_id for s in result.shards] and all(
        s.job_id.startswith("bat-") for s in result.shards
    )
    with creds.get_client() as client:
        batches = list(client.iter_batches(source_directory_id=docs_dir))
        assert {b.id for b in batches} == {s.job_id for s in result.shards}
        assert not client.list_jobs(directory_id=docs_dir).items  # no v1 job was created


def test_a_v2_definition_is_checked_when_built(creds: LlamaCloudCredentials) -> None:
    with pytest.raises(ValidationError, match="needs directory_id"):
        _block(creds, item_ids=["dfl-1"], configuration_id="cfg-PARSE_FAST")
    with pytest.raises(ValidationError, match=r"job_config .*and configuration_id"):
        _block(
            creds,
            directory_id="dir-1",
            job_config={"parameters": {"fast_mode": True}},
            configuration_id="cfg-PARSE_FAST",
        )
    with pytest.raises(ValidationError, match="tier"):
        _block(creds, directory_id="dir-1", parse_v2={"tier": "fastest", "version": "latest"})
    v2 = _block(creds, directory_id="dir-1", configuration_id="cfg-PARSE_FAST")
    with pytest.raises(ValueError, match="run_llama_batch_job"):
        v2.trigger()
