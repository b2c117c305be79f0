"""Request shape of every endpoint and parameter (respx), construction, and bad input."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr, ValidationError

from prefect_llamabatch import (
    AsyncBatchClient,
    BadRequestError,
    BatchClient,
    ConflictError,
    NotFoundError,
    RetryPolicy,
    __version__,
)
from prefect_llamabatch.models import BatchJobCreate, JobStatus
from tests.conftest import API_KEY, BASE_URL, FakeTime

JOBS = "/api/v1/beta/batch-processing"
DIRS = "/api/v1/beta/directories"


def job(job_id: str = "bjb-1", status: str = "pending", **fields: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "job_type": "parse",
        "project_id": "proj-1",
        "status": status,
        "total_items": 2,
        **fields,
    }


def directory(**fields: Any) -> dict[str, Any]:
    return {"id": "dir-1", "name": "docs", "project_id": "proj-1", **fields}


def directory_file(**fields: Any) -> dict[str, Any]:
    return {
        "id": "dfl-1",
        "directory_id": "dir-1",
        "display_name": "a.pdf",
        "project_id": "proj-1",
        "unique_id": "u-1",
        **fields,
    }


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client(fake_time: FakeTime) -> Iterator[BatchClient]:
    policy = RetryPolicy(clock=fake_time.monotonic, utcnow=fake_time.utcnow)
    with BatchClient(
        API_KEY,
        base_url=BASE_URL,
        organization_id="org-1",
        project_id="proj-1",
        retry=policy,
        sleep=fake_time.sleep,
    ) as c:
        yield c


def query(route: respx.Route, index: int = -1) -> list[tuple[str, str]]:
    return list(route.calls[index].request.url.params.multi_items())


def body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# ---- headers and tenant ---------------------------------------------------------------------


def test_every_request_carries_auth_user_agent_and_tenant(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{JOBS}/bjb-1").respond(json={"job": job(), "progress_percentage": 50})
    status = client.get_job("bjb-1")
    assert status.progress_percentage == 50 and status.job.id == "bjb-1"
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == f"prefect-llamabatch/{__version__}"
    assert query(route) == [("organization_id", "org-1"), ("project_id", "proj-1")]


def test_tenant_can_be_overridden_per_call(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{JOBS}/bjb-1").respond(json={"job": job()})
    client.get_job("bjb-1", organization_id="org-2", project_id="proj-2")
    assert query(route) == [("organization_id", "org-2"), ("project_id", "proj-2")]


def test_no_tenant_means_no_tenant_params(mock: respx.MockRouter) -> None:
    route = mock.get(f"{JOBS}/bjb-1").respond(json={"job": job()})
    with BatchClient(API_KEY, base_url=BASE_URL) as c:
        c.get_job("bjb-1")
    assert query(route) == []


def test_path_segments_are_escaped(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=BASE_URL).respond(json={"job": job()})
    # "/" is refused before any request (tests/client/test_input_hygiene.py); the rest is escaped.
    client.get_job("a?b#c%d")
    assert route.calls.last.request.url.raw_path.startswith(
        b"/api/v1/beta/batch-processing/a%3Fb%23c%25d?"
    )


# ---- batch endpoints ----------------------------------------------------------------------


def test_create_job_body_and_headers(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.post(JOBS).respond(json=job(directory_id="dir-1"))
    created = client.create_job(
        {
            "directory_id": "dir-1",
            "job_config": {"parameters": {"fast_mode": True, "output_tables_as_HTML": True}},
            "page_size": 50,
        },
        temporal_namespace="ns-1",
    )
    assert created.id == "bjb-1" and created.directory_id == "dir-1"
    request = route.calls.last.request
    assert body(route) == {
        "directory_id": "dir-1",
        "job_config": {"parameters": {"fast_mode": True, "output_tables_as_HTML": True}},
        "page_size": 50,
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["temporal-namespace"] == "ns-1"
    assert uuid.UUID(request.headers["idempotency-key"])  # generated
    assert query(route) == [("organization_id", "org-1"), ("project_id", "proj-1")]


def test_create_job_with_items_model_and_caller_key(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.post(JOBS).respond(json=job(job_type="classify"))
    spec = BatchJobCreate(
        item_ids=["dfl-1", "dfl-2"],
        job_config={"rules": [{"type": "invoice", "description": "bills"}], "mode": "FAST"},
    )
    client.create_job(spec, idempotency_key="run-123:create")
    assert body(route) == {
        "item_ids": ["dfl-1", "dfl-2"],
        "job_config": {
            "rules": [{"type": "invoice", "description": "bills"}],
            "mode": "FAST",
            # The ClassifyJob record fields the client knows (user_id is the caller's to give).
            "id": "cls-run-123:create",
            "project_id": "proj-1",
            "status": "PENDING",
        },
    }
    assert route.calls.last.request.headers["idempotency-key"] == "run-123:create"
    assert "temporal-namespace" not in route.calls.last.request.headers


def test_create_job_sends_secret_options_in_clear_only_in_the_body(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.post(JOBS).respond(json=job())
    client.create_job(
        {"directory_id": "dir-1", "job_config": {"parameters": {"gpt4o_api_key": "sk-gpt"}}}
    )
    assert body(route)["job_config"]["parameters"]["gpt4o_api_key"] == "sk-gpt"


@pytest.mark.parametrize(
    ("reason", "expected"), [(None, {}), ("user asked", {"reason": "user asked"})]
)
def test_cancel_job(
    client: BatchClient, mock: respx.MockRouter, reason: str | None, expected: dict[str, str]
) -> None:
    route = mock.post(f"{JOBS}/bjb-1/cancel").respond(
        json={"job_id": "bjb-1", "message": "ok", "processed_items": 3, "status": "cancelled"}
    )
    result = client.cancel_job("bjb-1", reason, temporal_namespace="ns")
    assert result.status == JobStatus.CANCELLED and result.processed_items == 3
    assert body(route) == expected
    assert route.calls.last.request.headers["temporal-namespace"] == "ns"


@pytest.mark.parametrize("refusal", [400, 409])
@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_cancel_of_a_finished_job_returns_its_final_status(
    client: BatchClient, mock: respx.MockRouter, refusal: int, final: str
) -> None:
    mock.post(f"{JOBS}/bjb-1/cancel").respond(refusal, json={"detail": "job already finished"})
    status = mock.get(f"{JOBS}/bjb-1").respond(
        json={"job": job(status=final, processed_items=2), "progress_percentage": 100}
    )
    result = client.cancel_job("bjb-1")
    assert result.job_id == "bjb-1"
    assert result.status == final and result.processed_items == 2
    assert result.message == f"job is already {final}; nothing to cancel"
    assert status.call_count == 1


@pytest.mark.parametrize(("refusal", "error"), [(400, BadRequestError), (409, ConflictError)])
def test_cancel_refused_for_a_running_job_is_an_error(
    client: BatchClient, mock: respx.MockRouter, refusal: int, error: type[Exception]
) -> None:
    mock.post(f"{JOBS}/bjb-1/cancel").respond(refusal, json={"detail": "cannot cancel now"})
    mock.get(f"{JOBS}/bjb-1").respond(json={"job": job(status="running")})
    with pytest.raises(error, match="cannot cancel now"):
        client.cancel_job("bjb-1")


def test_cancel_of_unknown_job_is_not_found(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.post(f"{JOBS}/nope/cancel").respond(404, json={"detail": "no such job"})
    with pytest.raises(NotFoundError):
        client.cancel_job("nope")


def test_list_jobs_filters(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(JOBS).respond(json={"items": [job()], "total_size": 1})
    page = client.list_jobs(
        directory_id="dir-1", job_type="parse", status="running", limit=10, offset=20
    )
    assert [j.id for j in page.items] == ["bjb-1"] and page.total_size == 1
    assert query(route) == [
        ("directory_id", "dir-1"),
        ("job_type", "parse"),
        ("status", "running"),
        ("limit", "10"),
        ("offset", "20"),
        ("organization_id", "org-1"),
        ("project_id", "proj-1"),
    ]


def test_list_items_filters(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{JOBS}/bjb-1/items").respond(
        json={"items": [{"item_id": "dfl-1", "item_name": "a.pdf", "status": "failed"}]}
    )
    page = client.list_items("bjb-1", status="failed", limit=5, offset=0)
    assert page.items[0].item_id == "dfl-1"
    assert query(route)[:3] == [("status", "failed"), ("limit", "5"), ("offset", "0")]


@pytest.mark.parametrize(
    ("job_type", "params"), [(None, []), ("classify", [("job_type", "classify")])]
)
def test_get_item_results(
    client: BatchClient, mock: respx.MockRouter, job_type: str | None, params: list[Any]
) -> None:
    route = mock.get(f"{JOBS}/items/dfl-1/processing-results").respond(
        json={"item_id": "dfl-1", "item_name": "a.pdf", "processing_results": []}
    )
    results = client.get_item_results("dfl-1", job_type=job_type)
    assert results.item_id == "dfl-1" and results.processing_results == []
    assert query(route)[: len(params)] == params
    assert ("organization_id", "org-1") in query(route)


# ---- directories --------------------------------------------------------------------------


def test_create_directory(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.post(DIRS).respond(json=directory(type="ephemeral"))
    created = client.create_directory(
        "docs", description="inputs", type="ephemeral", system_metadata={"flow": "x"}
    )
    assert created.id == "dir-1" and created.type == "ephemeral"
    assert body(route) == {
        "name": "docs",
        "description": "inputs",
        "type": "ephemeral",
        "system_metadata": {"flow": "x"},
    }
    assert "idempotency-key" in route.calls.last.request.headers


def test_get_and_delete_directory(client: BatchClient, mock: respx.MockRouter) -> None:
    get = mock.get(f"{DIRS}/dir-1").respond(json=directory())
    delete = mock.delete(f"{DIRS}/dir-1").respond(204)
    assert client.get_directory("dir-1").name == "docs"
    assert client.delete_directory("dir-1") is None
    assert get.called and delete.called
    assert query(delete) == [("organization_id", "org-1"), ("project_id", "proj-1")]


def test_delete_that_already_happened_on_a_lost_response_is_done(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.delete(f"{DIRS}/dir-1").mock(
        side_effect=[httpx.ReadTimeout("lost"), httpx.Response(404, json={"detail": "gone"})]
    )
    client.delete_directory("dir-1")
    assert route.call_count == 2


def test_delete_of_a_missing_directory_is_not_found(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.delete(f"{DIRS}/dir-9").respond(404, json={"detail": "no such directory"})
    with pytest.raises(NotFoundError, match="no such directory"):
        client.delete_directory("dir-9")


def test_list_directories_repeats_array_keys(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(DIRS).respond(json={"items": [directory()], "next_page_token": None})
    client.list_directories(
        name="docs", types=["ephemeral", "user"], include_deleted=False, page_size=5, page_token="t"
    )
    assert query(route)[:6] == [
        ("name", "docs"),
        ("types", "ephemeral"),
        ("types", "user"),
        ("include_deleted", "false"),
        ("page_size", "5"),
        ("page_token", "t"),
    ]


def test_list_directories_sends_one_types_key_per_value_and_a_single_type(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(DIRS).respond(json={"items": [], "next_page_token": None})
    client.list_directories(types=["user", "ephemeral", "user"])
    client.list_directories(type="user")
    assert route.calls[0].request.url.params.get_list("types") == ["user", "ephemeral", "user"]
    assert "type" not in route.calls[0].request.url.params
    assert query(route, 1)[0] == ("type", "user")
    assert "types" not in route.calls[1].request.url.params


def test_iter_directories_repeats_types_on_every_page(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(DIRS).mock(
        side_effect=[
            httpx.Response(200, json={"items": [directory(id="d1")], "next_page_token": "t1"}),
            httpx.Response(200, json={"items": [directory(id="d2")], "next_page_token": None}),
        ]
    )
    got = [d.id for d in client.iter_directories(types=["ephemeral", "user"], name="docs")]
    assert got == ["d1", "d2"]
    assert [query(route, i)[:3] for i in (0, 1)] == [
        [("name", "docs"), ("types", "ephemeral"), ("types", "user")]
    ] * 2
    assert route.calls[1].request.url.params["page_token"] == "t1"


def test_add_file_body_and_headers(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.post(f"{DIRS}/dir-1/files").respond(json=directory_file(file_id="fil-7"))
    added = client.add_file(
        "dir-1",
        "fil-7",
        display_name="Report.pdf",
        unique_id="u-1",
        metadata={"source": "s3", "pages": 3, "tags": ["a", "b"], "ok": True},
    )
    assert added.id == "dfl-1" and added.file_id == "fil-7"
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"]
    assert body(route) == {
        "file_id": "fil-7",
        "display_name": "Report.pdf",
        "unique_id": "u-1",
        "metadata": {"source": "s3", "pages": 3, "tags": ["a", "b"], "ok": True},
    }
    assert query(route) == [("organization_id", "org-1"), ("project_id", "proj-1")]


ALL_FILE_FILTERS: dict[str, Any] = {
    "display_name": "a.pdf",
    "display_name_contains": "a.",
    "file_id": "fil-1",
    "unique_id": "u-1",
    "include_deleted": True,
}
FILE_FILTER_QUERY = [
    ("display_name", "a.pdf"),
    ("display_name_contains", "a."),
    ("file_id", "fil-1"),
    ("unique_id", "u-1"),
    ("include_deleted", "true"),
]
TENANT_QUERY = [("organization_id", "org-1"), ("project_id", "proj-1")]


def test_list_directory_files_filters(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(f"{DIRS}/dir-1/files").respond(
        json={"items": [directory_file()], "next_page_token": "t2"}
    )
    page = client.list_directory_files("dir-1", page_size=7, page_token="t1", **ALL_FILE_FILTERS)
    assert [f.id for f in page.items] == ["dfl-1"] and page.next_page_token == "t2"
    assert query(route) == [
        *FILE_FILTER_QUERY,
        ("page_size", "7"),
        ("page_token", "t1"),
        *TENANT_QUERY,
    ]
    client.list_directory_files("dir-1", include_deleted=False)
    assert query(route) == [("include_deleted", "false"), *TENANT_QUERY]


def test_iter_directory_files_sends_the_filters_on_every_page(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{DIRS}/dir-1/files").mock(
        side_effect=[
            httpx.Response(200, json={"items": [directory_file(id="d1")], "next_page_token": "t1"}),
            httpx.Response(200, json={"items": [directory_file(id="d2")], "next_page_token": None}),
        ]
    )
    files = list(client.iter_directory_files("dir-1", page_size=1, **ALL_FILE_FILTERS))
    assert [f.id for f in files] == ["d1", "d2"]
    assert query(route, 0) == [*FILE_FILTER_QUERY, ("page_size", "1"), *TENANT_QUERY]
    assert query(route, 1) == [
        *FILE_FILTER_QUERY,
        ("page_size", "1"),
        ("page_token", "t1"),
        *TENANT_QUERY,
    ]


def _form(request: httpx.Request) -> tuple[dict[str, str], bytes, str]:
    """Fields, file content and file name of a multipart request (parsed by the stdlib)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + request.content)
    fields: dict[str, str] = {}
    content, filename = b"", ""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name == "upload_file":
            content, filename = payload, part.get_filename()
        else:
            fields[str(name)] = payload.decode()
    return fields, content, filename


def test_upload_file_multipart_fields(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 hello")
    route = mock.post(f"{DIRS}/dir-1/files/upload").respond(json=directory_file())
    uploaded = client.upload_file(
        "dir-1",
        path,
        display_name="Report.pdf",
        unique_id="u-1",
        external_file_id="ext-9",
        metadata={"source": "s3", "pages": 3, "tags": ["a", "b"]},
    )
    assert uploaded.id == "dfl-1"
    fields, content, filename = _form(route.calls.last.request)
    assert content == b"%PDF-1.4 hello" and filename == "Report.pdf"
    assert fields == {
        "display_name": "Report.pdf",
        "external_file_id": "ext-9",
        "metadata": '{"source":"s3","pages":3,"tags":["a","b"]}',
        "unique_id": "u-1",
    }
    assert query(route) == [("organization_id", "org-1"), ("project_id", "proj-1")]


@pytest.mark.parametrize("kind", ["bytes", "stream"])
def test_upload_is_resent_whole_on_retry(
    client: BatchClient, mock: respx.MockRouter, kind: str
) -> None:
    data = b"line one\nline two\n"
    source: Any = data if kind == "bytes" else io.BytesIO(data)
    route = mock.post(f"{DIRS}/dir-1/files/upload").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=directory_file())]
    )
    client.upload_file("dir-1", source)
    assert route.call_count == 2
    for call in route.calls:
        fields, content, _ = _form(call.request)
        # Unnamed content: its default unique_id is its hash.
        assert content == data
        assert fields == {"unique_id": f"sha256:{hashlib.sha256(data).hexdigest()}"}


# ---- construction -----------------------------------------------------------------------


def test_from_env_reads_the_sdk_variables(
    clean_llamacloud_env: None, monkeypatch: pytest.MonkeyPatch, mock: respx.MockRouter
) -> None:
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", "llx-fallback-key")
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", "https://api.cloud.eu.llamaindex.ai/")
    route = mock.get(url="https://api.cloud.eu.llamaindex.ai/api/v1/beta/batch-processing/b")
    route.respond(json={"job": job()})
    with BatchClient.from_env(project_id="p") as c:
        assert c.base_url == "https://api.cloud.eu.llamaindex.ai"
        c.get_job("b")
    assert route.calls.last.request.headers["authorization"] == "Bearer llx-fallback-key"
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", "llx-primary")
    with BatchClient.from_env() as c:
        assert c._core.api_key.get_secret_value() == "llx-primary"


def test_defaults_to_the_north_america_host(clean_llamacloud_env: None) -> None:
    with BatchClient("k-1234") as c:
        assert c.base_url == "https://api.cloud.llamaindex.ai"


def test_missing_key_is_a_clear_error(clean_llamacloud_env: None) -> None:
    with pytest.raises(ValueError, match=r"api_key: no LlamaCloud API key .*LLAMA_CLOUD_API_KEY"):
        BatchClient()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.cloud.llamaindex.ai", "uses plain http; use https"),
        ("ftp://x", "is not an http"),
        ("https://user:pw@host", "must not contain credentials"),
        ("", "must be a URL"),
    ],
)
def test_bad_base_url(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"base_url: .*{message}"):
        BatchClient(API_KEY, base_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123", "http://localhost", "http://[::1]:9"])
def test_plain_http_is_fine_for_loopback(url: str) -> None:
    with BatchClient(API_KEY, base_url=url) as c:
        assert c.base_url == url


def test_repr_and_stats_never_show_the_key() -> None:
    with BatchClient(SecretStr(API_KEY), base_url=BASE_URL, project_id="p") as c:
        assert API_KEY not in repr(c) and API_KEY not in str(c)
        assert repr(c) == (
            "BatchClient(base_url='https://api.llamacloud.test', organization_id=None, "
            "project_id='p')"
        )
        assert API_KEY not in repr(c.stats)


def test_injected_http_client_is_used_and_left_open(mock: respx.MockRouter) -> None:
    route = mock.get(f"{JOBS}/bjb-1").respond(json={"job": job()})
    http = httpx.Client(headers={"x-extra": "1"})
    with BatchClient(API_KEY, base_url=BASE_URL, http_client=http) as c:
        c.get_job("bjb-1")
    assert route.calls.last.request.headers["x-extra"] == "1"
    assert not http.is_closed
    http.close()


async def test_async_client_request_shape(fake_time: FakeTime, mock: respx.MockRouter) -> None:
    route = mock.post(f"{JOBS}/bjb-1/cancel").respond(
        json={"job_id": "bjb-1", "message": "", "processed_items": 0, "status": "cancelled"}
    )
    async with AsyncBatchClient(API_KEY, base_url=BASE_URL, project_id="proj-1") as c:
        result = await c.cancel_job("bjb-1", "stop")
    assert result.status == JobStatus.CANCELLED
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert body(route) == {"reason": "stop"}
    assert query(route) == [("project_id", "proj-1")]


# ---- bad input fails before any HTTP call ------------------------------------------------

BAD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("get_job", ("",), {}, "job_id: must be a non-empty string"),
    ("get_job", (None,), {}, "job_id: must be a non-empty string"),
    ("get_job", ("b",), {"project_id": " "}, "project_id: must be a non-empty string"),
    ("cancel_job", ("",), {}, "job_id"),
    ("cancel_job", ("b",), {"temporal_namespace": "a\nb"}, "temporal_namespace: only printable"),
    ("create_job", ({"job_config": {}},), {}, "give exactly one of 'directory_id' or 'item_ids'"),
    (
        "create_job",
        ({"directory_id": "d", "job_config": {"parameters": {"fast_mod": True}}},),
        {},
        "did you mean 'fast_mode'",
    ),
    (
        "create_job",
        ({"directory_id": "d", "job_config": {}},),
        {"idempotency_key": "x\r\ny"},
        "idempotency_key: only printable ASCII",
    ),
    (
        "create_job",
        ({"directory_id": "d", "job_config": {}},),
        {"idempotency_key": "k" * 300},
        "idempotency_key: at most 255 characters",
    ),
    ("list_jobs", (), {"status": "done"}, "status"),
    ("list_jobs", (), {"job_type": "ocr"}, "job_type"),
    ("list_jobs", (), {"limit": 0}, "limit"),
    ("list_jobs", (), {"offset": -1}, "offset"),
    ("list_items", ("b",), {"status": "exploded"}, "status"),
    ("get_item_results", ("dfl-1",), {"job_type": "ocr"}, "job_type: 'ocr' is not one of"),
    ("create_directory", ("",), {}, "name"),
    ("create_directory", ("d",), {"type": "index"}, "type"),
    ("list_directories", (), {"types": "user"}, "types: pass a list"),
    ("list_directories", (), {"page_size": 0}, "page_size: must be an integer >= 1"),
    ("upload_file", ("dir-1", "/no/such/file.pdf"), {}, "file: no such file"),
    ("upload_file", ("dir-1", 42), {}, "file: expected a path, bytes or a binary file"),
    ("upload_file", ("dir-1", b"x"), {"metadata": {"a": {"nested": 1}}}, "metadata: a."),
    ("upload_file", ("dir-1", io.StringIO("text")), {}, "file: open the file in binary mode"),
    ("upload_file", ("", b"x"), {}, "directory_id: must be a non-empty string"),
    ("add_file", ("dir-1", ""), {}, "file_id"),
    ("list_directory_files", ("dir-1",), {"page_size": -5}, "page_size"),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "message"),
    BAD_CALLS,
    ids=[f"{c[0]}-{c[3][:30]}" for c in BAD_CALLS],
)
def test_bad_input_fails_before_any_request(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with respx.mock(base_url=BASE_URL) as router, BatchClient(API_KEY, base_url=BASE_URL) as c:
        with pytest.raises((ValueError, ValidationError)) as info:
            getattr(c, method)(*args, **kwargs)
        assert router.calls.call_count == 0
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("iter_items", {"page_size": 0}, "limit"),
        ("iter_items", {"concurrency": 0}, "concurrency: must be an integer >= 1"),
        ("iter_jobs", {"status": "nope"}, "status"),
        ("iter_directory_files", {"page_size": 0}, "page_size"),
    ],
)
def test_bad_iterator_input_fails_at_the_call(
    method: str, kwargs: dict[str, Any], message: str
) -> None:
    args = () if method == "iter_jobs" else ("x",)
    with respx.mock(base_url=BASE_URL) as router, BatchClient(API_KEY, base_url=BASE_URL) as c:
        with pytest.raises((ValueError, ValidationError), match=message):
            getattr(c, method)(*args, **kwargs)  # not even iterated
        assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"timeout": 0}, "timeout: must be a number of seconds > 0"),
        ({"max_concurrency": 0}, "max_concurrency: must be an integer >= 1"),
        ({"organization_id": ""}, "organization_id: must be a non-empty string"),
    ],
)
def test_bad_client_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchClient(API_KEY, base_url=BASE_URL, **settings)
