"""retry_failed_items against the emulator: rounds over items that keep failing, echoed configs."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import process_directory, retry_failed_items
from prefect_llamabatch.orchestration.results import BatchItemsFailed
from tests.prefect.conftest import FAST

pytestmark = pytest.mark.usefixtures("prefect")

PERSISTENT = {"ok.txt": b"fine", "bad-1.txt": b"always", "bad-2.txt": b"always too"}


def _creates(emu: Emulator) -> int:
    return sum(r.route == "create_job" and r.method == "POST" for r in emu.admin.request_log())


@pytest.mark.emulator(failure_patterns=["bad-*"])
def test_every_round_over_persistent_failures_is_a_new_job(
    emu: Emulator, creds: LlamaCloudCredentials
) -> None:
    directory = emu.admin.seed_directory(PERSISTENT, name="persistent")
    first = process_directory(creds, directory_id=directory.id, wait=FAST, max_failed_fraction=None)
    assert first.counts.failed == 2
    # The flow fails (2 items still fail) and Prefect retries it once: the same flow run again.
    retried = retry_failed_items.with_options(retries=1, retry_delay_seconds=0)
    state = retried(creds, first.job_id, max_rounds=3, wait=FAST, return_state=True)
    with pytest.raises(BatchItemsFailed) as info:
        state.result()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(state.state_details.flow_run_id).run_count == 2
    rounds = info.value.result.rounds
    assert [r.submitted for r in rounds] == [2, 2, 2]
    round_jobs = [r.job_id for r in rounds]
    assert len(set(round_jobs)) == 3, "a round reattached to the previous round's job"
    jobs = {j.id: j for j in emu.admin.ground_truth().jobs}
    assert set(jobs) == {first.job_id, *round_jobs}  # the flow retry created nothing new
    assert all(jobs[job_id].total_items == 2 for job_id in round_jobs)
    # One create per job: the flow retry reattached to its rounds without calling the API.
    assert _creates(emu) == 4


@pytest.mark.emulator(failure_patterns=["bad-*"])
def test_a_config_echoed_with_masked_secrets_is_not_resubmitted(
    emu: Emulator, creds: LlamaCloudCredentials
) -> None:
    directory = emu.admin.seed_directory(PERSISTENT, name="secret")
    config = {"parameters": {"azure_openai_key": "sk-azure-4242", "fast_mode": True}}
    with creds.get_client() as client:  # secrets are fine in code, never as flow parameters
        job = client.create_job({"directory_id": directory.id, "job_config": config})
    state = retry_failed_items(creds, job.id, wait=FAST, return_state=True)
    with pytest.raises(ValueError, match=r"azure_openai_key masked .*LlamaBatchJob block"):
        state.result()
    assert [j.id for j in emu.admin.ground_truth().jobs] == [job.id]  # nothing was resubmitted
