"""Statuses are normalised (case, surrounding whitespace, ``canceled``) before deciding they are
final; an unknown status stays non-terminal and is kept exactly as the server sent it.

A server that sent ``COMPLETED``, ``canceled`` or ``"completed "`` used to make a wait run to its
24 h default. The properties below are stated from the API's documented values, not from the
implementation: a spelling variant of a documented status means that status; anything else is
unknown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch.models import (
    BatchJob,
    ItemStatus,
    JobItem,
    JobStatus,
    is_terminal_item_status,
    is_terminal_job_status,
)
from tests.reliability.scripted_server import ScriptedServer, json_reply, scripted_server

# The documented values (reference: llamacloud-batch-api.md), written out, not read from the enums.
JOB_STATUSES = ["pending", "running", "dispatched", "completed", "failed", "cancelled"]
FINAL_JOB_STATUSES = {"completed", "failed", "cancelled"}
ITEM_STATUSES = ["pending", "processing", "completed", "failed", "skipped", "cancelled"]
FINAL_ITEM_STATUSES = {"completed", "failed", "skipped", "cancelled"}
WHITESPACE = st.text(alphabet=" \t\r\n", max_size=3)


@st.composite
def spelled(draw: st.DrawFn, values: list[str]) -> tuple[str, str]:
    """(documented value, the same value in random case, maybe US spelling, padded)."""
    value = draw(st.sampled_from(values))
    text = "canceled" if value == "cancelled" and draw(st.booleans()) else value
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    text = "".join(c.upper() if flip else c for c, flip in zip(text, flips, strict=True))
    return value, draw(WHITESPACE) + text + draw(WHITESPACE)


def _job(status: str) -> BatchJob:
    return BatchJob.model_validate(
        {"id": "bjb-1", "job_type": "parse", "project_id": "p", "status": status, "total_items": 1}
    )


def _item(status: str) -> JobItem:
    return JobItem.model_validate({"item_id": "dfl-1", "item_name": "a.pdf", "status": status})


@given(spelled(JOB_STATUSES))
def test_any_spelling_of_a_job_status_means_that_status(case: tuple[str, str]) -> None:
    value, text = case
    job = _job(text)
    assert job.status_value == value
    assert job.status == JobStatus(value)
    assert job.is_terminal is (value in FINAL_JOB_STATUSES)
    assert is_terminal_job_status(text) is (value in FINAL_JOB_STATUSES)


@given(spelled(ITEM_STATUSES))
def test_any_spelling_of_an_item_status_means_that_status(case: tuple[str, str]) -> None:
    value, text = case
    item = _item(text)
    assert item.status_value == value and item.status == ItemStatus(value)
    assert is_terminal_item_status(text) is (value in FINAL_ITEM_STATUSES)


def _a_spelling_of_a_known_status(text: str) -> bool:
    known = "|".join(sorted(set(JOB_STATUSES + ITEM_STATUSES) | {"canceled"}))
    return re.fullmatch(rf"\s*({known})\s*", text, re.IGNORECASE) is not None


@given(st.text(max_size=30).filter(lambda t: not _a_spelling_of_a_known_status(t)))
def test_an_unknown_status_is_kept_raw_and_is_never_final(text: str) -> None:
    job, item = _job(text), _item(text)
    assert job.status == text and job.status_value == text  # exactly as sent
    assert not job.is_terminal and not is_terminal_job_status(text)
    assert item.status_value == text and not is_terminal_item_status(text)


@pytest.mark.parametrize(
    "near_miss", ["complete", "cancel", "completed!", "com pleted", "done", "succeeded"]
)
def test_near_misses_are_unknown(near_miss: str) -> None:
    assert not _job(near_miss).is_terminal and _job(near_miss).status_value == near_miss


# ---- a wait against a server that spells statuses its own way -----------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as running:
        yield running


@pytest.mark.parametrize(
    ("final", "meaning"),
    [
        ("COMPLETED", "completed"),
        ("canceled", "cancelled"),
        ("completed ", "completed"),
        (" Failed\n", "failed"),
    ],
)
def test_a_wait_ends_on_a_final_status_in_any_spelling(
    server: ScriptedServer, final: str, meaning: str
) -> None:
    from prefect_llamabatch.orchestration.drivers import run_steps
    from prefect_llamabatch.orchestration.waiting import WaitSettings, wait_steps

    statuses = iter(["RUNNING", " running"])

    def answer(_seen: object) -> object:
        status = next(statuses, final)
        job = {"id": "bjb-1", "job_type": "parse", "project_id": "p", "total_items": 2}
        return json_reply({"job": {**job, "status": status}, "progress_percentage": 50.0})

    server.reset(answer)  # type: ignore[arg-type]
    settings = WaitSettings(
        poll_interval=0.01,
        max_poll_interval=0.01,
        timeout_seconds=60,
        progress_artifact=False,
        emit_events=False,
    )
    credentials = LlamaCloudCredentials(api_key="llx-status-key-1234", base_url=server.base_url)
    steps = wait_steps("bjb-1", settings, logger=logging.getLogger("t"), api=server.base_url)
    outcome = run_steps(credentials, steps)
    assert outcome.status.job.is_terminal
    assert outcome.status.job.status_value == meaning
    assert len(server.seen) == 3  # two non-final polls, then the final one ended the wait
