"""Create never starts a duplicate job: blind retries only when unsent, else reconcile first."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from prefect_llamabatch import (
    AsyncBatchClient,
    BadRequestError,
    BatchClient,
    RetryPolicy,
    ServerError,
)
from tests.conftest import API_KEY, BASE_URL, FakeTime

JOBS = "/api/v1/beta/batch-processing"
DIRECTORY_JOB = {"directory_id": "dir-1", "job_config": {}}
ITEMS_JOB = {"item_ids": ["dfl-1", "dfl-2", "dfl-3"], "job_config": {}}


def job(
    job_id: str,
    created_at: datetime | None,
    *,
    directory_id: str | None = "dir-1",
    job_type: str = "parse",
    total_items: int = 3,
) -> dict[str, Any]:
    return {
        "id": job_id,
        "job_type": job_type,
        "project_id": "proj-1",
        "status": "pending",
        "total_items": total_items,
        "directory_id": directory_id,
        "created_at": None if created_at is None else created_at.isoformat(),
    }


def listing(*jobs: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"items": list(jobs), "total_size": len(jobs)})


@pytest.fixture
def client(fake_time: FakeTime) -> Iterator[BatchClient]:
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    with BatchClient(
        API_KEY, base_url=BASE_URL, project_id="proj-1", retry=policy, sleep=fake_time.sleep
    ) as c:
        yield c


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def keys(route: respx.Route) -> list[str]:
    return [call.request.headers["idempotency-key"] for call in route.calls]


AMBIGUOUS = [
    httpx.Response(500),
    httpx.Response(502, text="<html>Bad Gateway</html>"),
    httpx.Response(503),
    httpx.Response(504),
    httpx.ReadTimeout("read timed out"),
    httpx.WriteTimeout("write timed out"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    httpx.ReadError("connection reset by peer"),
]


@pytest.mark.parametrize(
    "failure", AMBIGUOUS, ids=lambda f: getattr(f, "status_code", type(f).__name__)
)
def test_ambiguous_failure_then_adoption(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime, failure: Any
) -> None:
    def accepted_but_lost(request: httpx.Request) -> Any:
        # The server creates the job, then the response is lost.
        fake_time.now += 1
        if isinstance(failure, Exception):
            raise failure
        return failure

    create = mock.post(JOBS).mock(side_effect=accepted_but_lost)
    ours = job("bjb-ours", fake_time.utcnow() + timedelta(seconds=1))
    lookup = mock.get(JOBS).mock(return_value=listing(ours))
    adopted = client.create_job(DIRECTORY_JOB)
    assert adopted.id == "bjb-ours"
    assert create.call_count == 1  # never re-sent
    assert lookup.call_count == 1
    params = lookup.calls.last.request.url.params
    assert params["directory_id"] == "dir-1" and params["job_type"] == "parse"
    assert params["project_id"] == "proj-1"
    assert client.stats.reconciliations == 1 and client.stats.adopted == 1


def test_no_candidate_then_the_create_is_resent_with_the_same_key(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    create = mock.post(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=job("bjb-2", None))]
    )
    mock.get(JOBS).mock(return_value=listing())
    created = client.create_job(DIRECTORY_JOB)
    assert created.id == "bjb-2"
    assert create.call_count == 2
    assert len(set(keys(create))) == 1
    assert client.stats.reconciliations == 1 and client.stats.adopted == 0


def test_several_candidates_then_the_create_is_resent(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(
        side_effect=[httpx.ReadTimeout("lost"), httpx.Response(200, json=job("bjb-a", now))]
    )
    mock.get(JOBS).mock(return_value=listing(job("bjb-a", now), job("bjb-b", now)))
    created = client.create_job(DIRECTORY_JOB, idempotency_key="flow-run-7")
    # Two jobs could be ours: adopting either could be wrong; the server dedupes by key.
    assert created.id == "bjb-a"
    assert keys(create) == ["flow-run-7", "flow-run-7"]
    assert client.stats.adopted == 0


def test_candidates_must_match_type_directory_and_time(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    mock.post(JOBS).mock(side_effect=[httpx.Response(502), httpx.Response(500)] * 3)
    mock.get(JOBS).mock(
        return_value=listing(
            job("bjb-old", now - timedelta(seconds=121)),  # before the request, beyond skew
            job("bjb-classify", now, job_type="classify"),
            job("bjb-other-dir", now, directory_id="dir-2"),
            job("bjb-no-date", None),
            job("bjb-skewed", now - timedelta(seconds=100)),  # server clock 100 s behind: ours
        )
    )
    assert client.create_job(DIRECTORY_JOB).id == "bjb-skewed"


def test_item_jobs_match_on_item_count(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    mock.post(JOBS).mock(side_effect=[httpx.Response(504)])
    lookup = mock.get(JOBS).mock(
        return_value=listing(
            job("bjb-two-items", now, directory_id=None, total_items=2),
            job("bjb-dir-job", now, directory_id="dir-1", total_items=3),
            job("bjb-ours", now, directory_id=None, total_items=3),
        )
    )
    assert client.create_job(ITEMS_JOB).id == "bjb-ours"
    assert "directory_id" not in lookup.calls.last.request.url.params


def test_reconciliation_scans_all_pages(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    old = [job(f"bjb-old-{i}", now - timedelta(days=1)) for i in range(150)]
    pages = [old[:100], [*old[100:], job("bjb-ours", now)]]

    def paged(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"items": pages[offset // 100], "total_size": 151})

    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(side_effect=paged)
    assert client.create_job(DIRECTORY_JOB).id == "bjb-ours"
    assert [c.request.url.params["offset"] for c in lookup.calls] == ["0", "100"]


@pytest.mark.parametrize(
    "unsent",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.Response(429, headers={"Retry-After": "1"}),
    ],
    ids=["connect-error", "connect-timeout", "429"],
)
def test_unsent_failures_are_retried_blindly(
    client: BatchClient, mock: respx.MockRouter, unsent: Any
) -> None:
    create = mock.post(JOBS).mock(side_effect=[unsent, httpx.Response(200, json=job("b", None))])
    lookup = mock.get(JOBS).mock(return_value=listing())
    assert client.create_job(DIRECTORY_JOB).id == "b"
    assert create.call_count == 2 and lookup.call_count == 0
    assert len(set(keys(create))) == 1
    assert client.stats.reconciliations == 0


def test_rejected_create_is_not_retried(client: BatchClient, mock: respx.MockRouter) -> None:
    create = mock.post(JOBS).mock(return_value=httpx.Response(400, json={"detail": "bad dir"}))
    lookup = mock.get(JOBS).mock(return_value=listing())
    with pytest.raises(BadRequestError, match="bad dir"):
        client.create_job(DIRECTORY_JOB)
    assert create.call_count == 1 and lookup.call_count == 0


def test_no_resend_while_the_lookup_itself_fails(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    now = fake_time.utcnow()
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    lookup = mock.get(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.ConnectError("down"), listing(job("bjb-1", now))]
    )
    assert client.create_job(DIRECTORY_JOB).id == "bjb-1"
    assert create.call_count == 1 and lookup.call_count == 3
    assert client.stats.reconciliations == 3


def test_giving_up_after_an_ambiguous_failure_still_looks_once(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(max_retries=0, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(502)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        assert c.create_job(DIRECTORY_JOB).id == "bjb-1"
    assert create.call_count == 1


def test_giving_up_with_nothing_found_raises_the_create_error(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(max_retries=1, clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.Response(502), httpx.Response(503)])
    lookup = mock.get(JOBS).mock(return_value=listing())
    with BatchClient(API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.sleep) as c:
        with pytest.raises(ServerError) as info:
            c.create_job(DIRECTORY_JOB)
    assert info.value.status_code == 503
    assert create.call_count == 2 and lookup.call_count == 2


def test_adoption_is_logged(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="prefect_llamabatch")
    mock.post(JOBS).mock(side_effect=[httpx.Response(503)])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    client.create_job(DIRECTORY_JOB)
    assert any("adopting what it created" in r.getMessage() for r in caplog.records)
    assert API_KEY not in caplog.text


async def test_async_create_reconciles_the_same_way(
    fake_time: FakeTime, mock: respx.MockRouter
) -> None:
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    create = mock.post(JOBS).mock(side_effect=[httpx.ReadTimeout("lost")])
    mock.get(JOBS).mock(return_value=listing(job("bjb-1", fake_time.utcnow())))
    async with AsyncBatchClient(
        API_KEY, base_url=BASE_URL, retry=policy, sleep=fake_time.async_sleep
    ) as c:
        assert (await c.create_job(DIRECTORY_JOB)).id == "bjb-1"
        assert c.stats.adopted == 1
    assert create.call_count == 1


def test_upload_with_unique_id_is_reconciled_by_unique_id(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    upload = mock.post("/api/v1/beta/directories/dir-1/files/upload").mock(
        side_effect=[httpx.ReadTimeout("lost")]
    )
    found = {
        "id": "dfl-9",
        "directory_id": "dir-1",
        "display_name": "a.txt",
        "project_id": "proj-1",
        "unique_id": "batch-7/a.txt",
    }
    lookup = mock.get("/api/v1/beta/directories/dir-1/files").mock(
        return_value=httpx.Response(200, json={"items": [found], "next_page_token": None})
    )
    result = client.upload_file("dir-1", b"hello", display_name="a.txt", unique_id="batch-7/a.txt")
    assert result.id == "dfl-9"
    assert upload.call_count == 1
    assert lookup.calls.last.request.url.params["unique_id"] == "batch-7/a.txt"


FILES = "/api/v1/beta/directories/dir-1/files"


def directory_file(unique_id: str, written: datetime | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "dfl-9",
        "directory_id": "dir-1",
        "display_name": "a.txt",
        "project_id": "proj-1",
        "unique_id": unique_id,
        "updated_at": None if written is None else written.isoformat(),
        **fields,
    }


def file_listing(*files: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"items": list(files), "next_page_token": None})


def sent_unique_id(request: httpx.Request) -> str:
    match = re.search(rb'name="unique_id"\r\n\r\n([^\r]*)\r\n', request.content)
    assert match is not None
    return match.group(1).decode()


@pytest.mark.parametrize(
    ("source", "kwargs", "expected"),
    [
        ("path", {}, "notes.md"),
        ("bytes", {"display_name": "a.txt"}, "a.txt"),
        ("path", {"display_name": "a.txt", "external_file_id": "ext-1"}, "ext-1"),
        ("bytes", {}, f"sha256:{hashlib.sha256(b'hello').hexdigest()}"),
    ],
)
def test_upload_without_unique_id_gets_a_default_and_is_reconciled_not_resent(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    tmp_path: Path,
    source: str,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(b"hello")
    upload = mock.post(f"{FILES}/upload").mock(side_effect=[httpx.ReadTimeout("lost")])
    ours = directory_file(expected, fake_time.utcnow() + timedelta(seconds=1))
    lookup = mock.get(FILES).mock(return_value=file_listing(ours))
    result = client.upload_file("dir-1", path if source == "path" else b"hello", **kwargs)
    assert result.id == "dfl-9"
    assert upload.call_count == 1  # never re-sent blindly
    assert sent_unique_id(upload.calls.last.request) == expected
    assert lookup.calls.last.request.url.params["unique_id"] == expected
    assert client.stats.adopted == 1


def test_an_older_file_sharing_the_unique_id_is_not_adopted(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    upload = mock.post(f"{FILES}/upload").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json=directory_file("a.txt", None, id="dfl-new")),
        ]
    )
    older = directory_file("a.txt", fake_time.utcnow() - timedelta(hours=1), id="dfl-old")
    mock.get(FILES).mock(return_value=file_listing(older))
    result = client.upload_file("dir-1", b"new content", display_name="a.txt")
    assert result.id == "dfl-new"
    assert upload.call_count == 2 and client.stats.adopted == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"), [({"display_name": "a.txt"}, "a.txt"), ({}, "fil-7")]
)
def test_add_file_without_unique_id_gets_a_default_and_is_reconciled(
    client: BatchClient,
    mock: respx.MockRouter,
    fake_time: FakeTime,
    kwargs: dict[str, Any],
    expected: str,
) -> None:
    add = mock.post(FILES).mock(side_effect=[httpx.ReadTimeout("lost")])
    written = fake_time.utcnow() + timedelta(seconds=1)
    ours = directory_file(expected, written, file_id="fil-7")
    mock.get(FILES).mock(return_value=file_listing(ours))
    assert client.add_file("dir-1", "fil-7", **kwargs).id == "dfl-9"
    assert json.loads(add.calls.last.request.content) == {
        "file_id": "fil-7",
        **kwargs,
        "unique_id": expected,
    }
    assert add.call_count == 1


def test_add_file_does_not_adopt_another_file_under_its_unique_id(
    client: BatchClient, mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    add = mock.post(FILES).mock(
        side_effect=[
            httpx.Response(502),
            httpx.Response(200, json=directory_file("a.txt", None, file_id="fil-7")),
        ]
    )
    written = fake_time.utcnow() + timedelta(seconds=1)
    other = directory_file("a.txt", written, id="dfl-other", file_id="fil-other")
    mock.get(FILES).mock(return_value=file_listing(other))
    assert client.add_file("dir-1", "fil-7", display_name="a.txt").file_id == "fil-7"
    assert add.call_count == 2 and client.stats.adopted == 0


def test_create_body_is_identical_on_every_attempt(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    create = mock.post(JOBS).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=job("b", None))]
    )
    mock.get(JOBS).mock(return_value=listing())
    client.create_job(
        {"directory_id": "dir-1", "job_config": {"parameters": {"languages": ["en", "fr"]}}}
    )
    bodies = [json.loads(call.request.content) for call in create.calls]
    assert (
        bodies[0]
        == bodies[1]
        == {
            "directory_id": "dir-1",
            "job_config": {"parameters": {"languages": ["en", "fr"]}},
        }
    )
