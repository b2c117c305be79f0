"""The tasks end to end: a real emulator over HTTP, a real Prefect API, sync and async flows."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, unmapped
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from pydantic import ValidationError

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.orchestration.results import (
    BatchApiUnavailable,
    BatchItemsFailed,
    BatchJobTimeout,
    BatchRunResult,
)
from prefect_llamabatch.orchestration.tasks import (
    cancel_batch_job,
    create_batch_job,
    get_batch_job,
    get_item_processing_results,
    list_batch_jobs,
    list_job_items,
    upload_directory,
    wait_for_batch_job,
)
from prefect_llamabatch.orchestration.waiting import WaitSettings, progress_artifact_key
from tests.prefect.conftest import FAST
from tests.reliability.test_stops import eventually

pytestmark = pytest.mark.usefixtures("prefect")


def _artifact_data(key: str) -> list[object]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return [a.data for a in found]


def test_sync_flow_gets_values_never_coroutines(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    seen: dict[str, object] = {}

    @flow
    def parse() -> BatchRunResult:
        job = create_batch_job(creds, {}, directory_id=docs_dir)
        seen["job"] = job
        status = get_batch_job(creds, job.id)
        seen["status"] = status
        result = wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=None)
        seen["items"] = list_job_items(creds, job.id)
        seen["jobs"] = list_batch_jobs(creds, directory_id=docs_dir)
        ok = next(i for i in seen["items"] if i.status_value == "completed")  # type: ignore[attr-defined]
        seen["results"] = get_item_processing_results(creds, ok.item_id)
        return result

    result = parse()
    assert not any(inspect.isawaitable(v) for v in seen.values())
    truth = emu.admin.ground_truth().job(result.job_id)
    assert result.status == truth.status == "completed"
    assert result.counts.total == 5
    assert result.counts.failed == truth.counts["failed"] == 2
    assert sorted(f.item_name for f in result.failed_items) == ["bad-1.txt", "empty.txt"]
    assert all(f.error_message for f in result.failed_items)
    assert result.accepted_failures and not result.succeeded
    assert len(seen["items"]) == 5  # type: ignore[arg-type]
    assert [j.id for j in seen["jobs"]] == [result.job_id]  # type: ignore[attr-defined]
    assert seen["results"].processing_results  # type: ignore[attr-defined]
    # The progress artifact followed the job to 100 %.
    assert _artifact_data(progress_artifact_key(result.job_id)) == [100.0]


def test_async_flow_awaits_the_same_tasks(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    @flow
    async def parse() -> tuple[BatchRunResult, int]:
        pending = create_batch_job(creds, {}, directory_id=docs_dir)
        assert inspect.isawaitable(pending)
        job = await pending
        result = await wait_for_batch_job(creds, job.id, FAST, max_failed_fraction=1.0)
        items = await list_job_items(creds, job.id, status="failed")
        return result, len(items)

    result, failed = asyncio.run(parse())
    assert result.counts.failed == failed == 2
    assert emu.admin.ground_truth().job(result.job_id).status == "completed"


def test_submit_and_map_work_from_both_kinds_of_flow(
    creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    @flow
    def sync_parent() -> list[str]:
        jobs = [create_batch_job.submit(creds, {}, directory_id=docs_dir).result()]
        futures = get_batch_job.map(unmapped(creds), [j.id for j in jobs])
        return [f.result().job.id for f in futures]

    @flow
    async def async_parent() -> str:
        job = create_batch_job.submit(
            creds, {"parameters": {"fast_mode": True}}, directory_id=docs_dir
        ).result()
        return str(job.id)

    assert sync_parent()[0].startswith("bjb-")
    assert asyncio.run(async_parent()).startswith("bjb-")


def test_failed_items_fail_the_wait_by_default(creds: LlamaCloudCredentials, docs_dir: str) -> None:
    @flow
    def parse() -> BatchRunResult:
        job = create_batch_job(creds, {}, directory_id=docs_dir)
        return wait_for_batch_job(creds, job.id, FAST)

    with pytest.raises(BatchItemsFailed) as info:
        parse()
    assert info.value.result.counts.failed == 2
    assert len(info.value.result.failed_items) == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_retried_flow_reattaches_to_the_job_it_created(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, kind: str
) -> None:
    created: list[str] = []

    def after_create(job_id: str) -> str:
        created.append(job_id)
        if len(created) == 1:
            raise RuntimeError("process died right after creating the job")
        return job_id

    @flow(retries=1, retry_delay_seconds=0)
    def sync_flow() -> str:
        return after_create(create_batch_job(creds, {}, directory_id=docs_dir).id)

    @flow(retries=1, retry_delay_seconds=0)
    async def async_flow() -> str:
        return after_create((await create_batch_job(creds, {}, directory_id=docs_dir)).id)

    job_id = sync_flow() if kind == "sync" else asyncio.run(async_flow())
    assert created == [job_id, job_id]
    assert [j.id for j in emu.admin.ground_truth().jobs] == [job_id]
    assert emu.admin.request_counts().get("create_job") == 1  # the retry did not even ask


@pytest.mark.emulator(idempotency_keys=True)
def test_idempotency_key_also_holds_on_a_server_honouring_it_convenience(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    # Without the persisted result (refresh_cache), the same key still yields the same job on a
    # server that honours the key: the emulator's opt-in convenience (LlamaCloud documents none).
    @flow
    def twice() -> tuple[str, str]:
        first = create_batch_job(creds, {}, directory_id=docs_dir).id
        again = create_batch_job.with_options(refresh_cache=True)(
            creds, {}, directory_id=docs_dir
        ).id
        return first, again

    first, again = twice()
    assert first == again
    assert emu.admin.request_counts().get("create_job") == 2
    assert len(emu.admin.ground_truth().jobs) == 1


def test_distinct_definitions_or_keys_create_distinct_jobs(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    @flow
    def three() -> set[str]:
        a = create_batch_job(creds, {}, directory_id=docs_dir).id
        b = create_batch_job(creds, {"parameters": {"fast_mode": True}}, directory_id=docs_dir).id
        c = create_batch_job(
            creds, {}, directory_id=docs_dir, idempotency_key=f"user-key-{uuid.uuid4().hex}"
        ).id
        return {a, b, c}

    assert len(three()) == 3
    assert len(emu.admin.ground_truth().jobs) == 3


def test_bad_input_fails_before_any_http_call(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    @flow
    def both() -> None:
        create_batch_job(creds, {}, directory_id=docs_dir, item_ids=["dfl-1"])

    @flow
    def typo() -> None:
        create_batch_job(creds, {"parameters": {"fast_mod": True}}, directory_id=docs_dir)

    with pytest.raises(ValidationError, match="exactly one of 'directory_id' or 'item_ids'"):
        both()
    with pytest.raises(ValidationError, match="did you mean 'fast_mode'"):
        typo()
    with pytest.raises(TypeError, match="LlamaCloudCredentials"):
        get_batch_job.fn("llx-raw-key-as-credentials", "bjb-1")  # type: ignore[arg-type]
    assert emu.admin.request_log() == []


def _wait_in_flow(
    kind: str,
    creds: LlamaCloudCredentials,
    docs_dir: str,
    settings: WaitSettings,
    before_wait: Callable[[], object] = lambda: None,
    **options: Any,
) -> BatchRunResult:
    """Create a job and wait for it in a sync or an async flow."""

    @flow
    def sync_flow() -> BatchRunResult:
        job = create_batch_job(creds, {}, directory_id=docs_dir)
        before_wait()
        return wait_for_batch_job(creds, job.id, settings, **options)

    @flow
    async def async_flow() -> BatchRunResult:
        job = await create_batch_job(creds, {}, directory_id=docs_dir)
        before_wait()
        return await wait_for_batch_job(creds, job.id, settings, **options)

    return sync_flow() if kind == "sync" else asyncio.run(async_flow())


KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


@KINDS
def test_progress_artifact_follows_the_job(
    creds: LlamaCloudCredentials, docs_dir: str, kind: str
) -> None:
    result = _wait_in_flow(kind, creds, docs_dir, FAST, max_failed_fraction=None)
    assert _artifact_data(progress_artifact_key(result.job_id)) == [100.0]


@KINDS
@pytest.mark.emulator(start_frozen=True)
def test_timeout_cancels_the_remote_job(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, kind: str
) -> None:
    with pytest.raises(BatchJobTimeout) as info:
        _wait_in_flow(kind, creds, docs_dir, FAST.model_copy(update={"timeout_seconds": 0.3}))
    assert info.value.remote_cancelled
    job = emu.admin.ground_truth().job(str(info.value.job_id))
    assert job.status == "cancelled"
    assert "timed out" in (job.cancel_reason or "")


@KINDS
@pytest.mark.emulator(start_frozen=True)
def test_timeout_can_leave_the_job_running(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, kind: str
) -> None:
    settings = FAST.model_copy(update={"timeout_seconds": 0.2, "cancel_on_timeout": False})
    with pytest.raises(BatchJobTimeout) as info:
        _wait_in_flow(kind, creds, docs_dir, settings)
    assert not info.value.remote_cancelled
    assert emu.admin.ground_truth().job(str(info.value.job_id)).status != "cancelled"


@KINDS
@pytest.mark.emulator(start_frozen=True)
def test_outage_while_waiting_is_ridden_out(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, kind: str
) -> None:
    # The outage lasts until the wait has seen it (a status poll answered 503), however long the
    # wait takes to start: no time window to hit.
    def a_poll_failed() -> bool:
        return any(r.status == 503 and r.route == "get_job" for r in emu.admin.request_log())

    def end_outage_once_seen() -> None:
        eventually(a_poll_failed, what="a status poll answered 503")
        emu.admin.end_outage()
        emu.admin.resume()

    with ThreadPoolExecutor(1) as pool:
        ender: Future[None] | None = None

        def outage_then_resume() -> None:
            nonlocal ender
            emu.admin.outage(None)
            ender = pool.submit(end_outage_once_seen)

        try:
            result = _wait_in_flow(
                kind,
                creds,
                docs_dir,
                FAST,
                before_wait=outage_then_resume,
                max_failed_fraction=None,
            )
        finally:
            emu.admin.end_outage()
        assert ender is not None
        ender.result()
    assert result.status == "completed"
    log = emu.admin.request_log()
    failed = [i for i, r in enumerate(log) if r.status == 503 and r.route == "get_job"]
    answered = [i for i, r in enumerate(log) if r.status == 200 and r.route == "get_job"]
    assert failed and answered and max(answered) > min(failed)  # ridden out: polled on after it


@KINDS
@pytest.mark.emulator(start_frozen=True)
def test_outage_beyond_the_budget_fails_clearly(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str, kind: str
) -> None:
    settings = FAST.model_copy(update={"outage_budget_seconds": 0.5})
    with pytest.raises(BatchApiUnavailable) as info:
        _wait_in_flow(kind, creds, docs_dir, settings, before_wait=lambda: emu.admin.outage(None))
    emu.admin.end_outage()
    message = str(info.value)
    assert emu.base_url in message and str(info.value.job_id) in message
    assert info.value.unreachable_seconds >= 0.5
    assert emu.api_key not in message


def test_cancel_task_cancels_and_is_harmless_on_a_finished_job(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    emu.admin.freeze()

    @flow
    async def cancel_twice() -> tuple[object, object]:
        job = await create_batch_job(creds, {}, directory_id=docs_dir)
        first = await cancel_batch_job(creds, job.id, "not needed")
        second = await cancel_batch_job(creds, job.id)
        return first.status, second.status

    first, second = asyncio.run(cancel_twice())
    assert first == second == "cancelled"
    assert emu.admin.ground_truth().jobs[0].status == "cancelled"


def test_upload_directory_skips_unchanged_files(
    emu: Emulator, creds: LlamaCloudCredentials, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "one.txt").write_text("one")
    (tmp_path / "sub" / "two.md").write_text("# two")
    (tmp_path / ".hidden").write_text("never uploaded")

    @flow
    def upload_then_again() -> tuple[object, object, object]:
        first = upload_directory(creds, str(tmp_path))
        second = upload_directory.with_options(refresh_cache=True)(
            creds, str(tmp_path), directory_id=first.directory_id
        )
        (tmp_path / "one.txt").write_text("one, edited")
        third = upload_directory(creds, str(tmp_path), directory_id=first.directory_id)
        return first, second, third

    first, second, third = upload_then_again()
    assert sorted(first.uploaded) == ["one.txt", "sub/two.md"]  # type: ignore[attr-defined]
    assert second.uploaded == [] and sorted(second.unchanged) == ["one.txt", "sub/two.md"]  # type: ignore[attr-defined]
    assert third.uploaded == ["one.txt"] and third.unchanged == ["sub/two.md"]  # type: ignore[attr-defined]
    assert third.files == first.files  # type: ignore[attr-defined]  # replaced in place, same items
    assert emu.admin.request_counts().get("upload_file") == 3


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is not a folder"),
        (lambda p: p, "contains no files"),
    ],
)
def test_upload_rejects_bad_paths_before_http(
    emu: Emulator,
    creds: LlamaCloudCredentials,
    tmp_path: Path,
    setup,
    needle: str,  # type: ignore[no-untyped-def]
) -> None:
    path = setup(tmp_path)
    with pytest.raises(ValueError, match=needle):
        upload_directory.fn(creds, str(path))
    assert emu.admin.request_log() == []


def test_wait_settings_accept_a_dict_and_reject_typos(creds: LlamaCloudCredentials) -> None:
    with pytest.raises(ValidationError, match="poll_intervall"):
        wait_for_batch_job.fn(creds, "bjb-1", {"poll_intervall": 1})
    with pytest.raises(ValueError, match="job_id"):
        wait_for_batch_job.fn(creds, "", WaitSettings())
