"""Wait fixes: unknown settings name the field meant, the fraction is checked before any HTTP,
and the outage budget counts the client's own retries of a poll (which are capped)."""

from __future__ import annotations

import logging

import pytest
from prefect import flow
from pydantic import ValidationError

from prefect_llamabatch.client.errors import ServerError, error_for_status
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models import BatchJobStatus
from prefect_llamabatch.orchestration import waiting
from prefect_llamabatch.orchestration.drivers import drive
from prefect_llamabatch.orchestration.results import BatchApiUnavailable
from prefect_llamabatch.orchestration.tasks import (
    create_batch_job,
    wait_credentials,
    wait_for_batch_job,
)
from prefect_llamabatch.orchestration.waiting import POLL_RETRY_DEADLINE, WaitSettings, wait_steps
from tests.prefect.conftest import FAST
from tests.prefect.fakes import FakePort


def test_unknown_wait_setting_suggests_the_field_meant() -> None:
    with pytest.raises(
        ValidationError, match=r"'poll_intervall' \(did you mean 'poll_interval'\?\)"
    ):
        WaitSettings.model_validate({"poll_intervall": 1})
    with pytest.raises(ValidationError, match="did you mean 'outage_budget_seconds'"):
        WaitSettings(outage_budget_second=5)  # type: ignore[call-arg]


@pytest.mark.parametrize("fraction", [1.5, -0.1])
def test_bad_max_failed_fraction_fails_before_any_http(
    emu: Emulator, creds: LlamaCloudCredentials, prefect: str, fraction: float
) -> None:
    @flow
    def wait() -> None:
        wait_for_batch_job(creds, "bjb-1", FAST, max_failed_fraction=fraction)

    with pytest.raises(ValueError, match="max_failed_fraction must be between 0 and 1"):
        wait()
    assert emu.admin.request_log() == []


class SlowFailingPort(FakePort):
    """Every poll fails after the client retried it for ``retry_seconds``."""

    retry_seconds: float = 25.0

    def get_job(self, job_id: str) -> BatchJobStatus:
        self.polls_at.append(self.now)
        self.now += self.retry_seconds
        raise error_for_status(503, method="GET", path="/x", detail="down")


def test_outage_budget_counts_from_when_the_failing_poll_was_sent() -> None:
    port = SlowFailingPort(script=[])
    settings = WaitSettings(poll_interval=1, max_poll_interval=1, outage_budget_seconds=30)
    steps = wait_steps("bj-1", settings, logger=logging.getLogger("t"), api="http://x")
    with pytest.raises(BatchApiUnavailable) as info:
        drive(steps, port)
    assert isinstance(info.value.__cause__, ServerError)
    # Down since 1000 (the first poll), 25 s of retries per poll: the budget of 30 s is spent
    # by the second poll's failure, not only 30 s after the first failure was reported.
    assert port.polls_at == [1000.0, 1026.0]
    assert info.value.unreachable_seconds == 51.0


def test_wait_credentials_cap_the_client_retry_deadline(creds: LlamaCloudCredentials) -> None:
    long = creds.model_copy(update={"retry_deadline": 300.0})
    assert wait_credentials(long).retry_deadline == POLL_RETRY_DEADLINE == 30.0
    assert wait_credentials(long.model_copy(update={"retry_deadline": None})).retry_deadline == 30
    assert wait_credentials(creds).retry_deadline == creds.retry_deadline == 1.0
    assert long.retry_deadline == 300.0  # the block itself is left alone


@pytest.mark.emulator(start_frozen=True)
def test_polls_retry_only_briefly_inside_the_wait(
    emu: Emulator, prefect: str, docs_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "POLL_RETRY_DEADLINE", 0.3)  # 30 s in real use
    # Without the cap, one poll alone would be retried 200 times before the budget even started.
    patient = LlamaCloudCredentials(
        api_key=emu.api_key,
        base_url=emu.base_url,
        max_retries=200,
        retry_deadline=300,
        retry_initial_delay=0.02,
        retry_max_delay=0.02,
    )

    @flow
    def parse() -> None:
        job = create_batch_job(patient, {}, directory_id=docs_dir)
        emu.admin.outage(None)
        wait_for_batch_job(patient, job.id, FAST.model_copy(update={"outage_budget_seconds": 0.5}))

    with pytest.raises(BatchApiUnavailable):
        parse()
    emu.admin.end_outage()
    failed_polls = [r for r in emu.admin.request_log() if r.route == "get_job" and r.status == 503]
    assert 2 <= len(failed_polls) < 201
