"""Error mapping: status → class, readable messages for any body, no secrets, picklable."""

from __future__ import annotations

import pickle

import httpx
import pytest
import respx

from prefect_llamabatch import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchClient,
    ConflictError,
    LlamaCloudError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from prefect_llamabatch.client.errors import error_for_status
from tests.conftest import API_KEY, BASE_URL

JOBS = "/api/v1/beta/batch-processing"

NGINX_502 = """<html>
<head><title>502 Bad Gateway</title><style>body { color: red }</style></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
<script>console.log("x")</script>
</body>
</html>
"""


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
        (418, APIStatusError),
    ],
)
def test_status_maps_to_its_class(status: int, cls: type[APIStatusError]) -> None:
    exc = error_for_status(status, method="GET", path="/p")
    assert type(exc) is cls
    assert isinstance(exc, APIStatusError) and isinstance(exc, LlamaCloudError)
    assert exc.status_code == status


def _client() -> BatchClient:
    # No retries: these tests look at the mapping of one response.
    return BatchClient(API_KEY, base_url=BASE_URL, retry=RetryPolicy(max_retries=0))


def _fail_create(response: httpx.Response) -> APIStatusError:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock, _client() as client:
        mock.post(JOBS).mock(return_value=response)
        # An ambiguous create failure is reconciled before giving up: nothing found.
        mock.get(JOBS).mock(return_value=httpx.Response(200, json={"items": [], "total_size": 0}))
        with pytest.raises(APIStatusError) as info:
            client.create_job({"directory_id": "dir-1", "job_config": {}})
    return info.value


def test_html_502_gives_a_readable_message() -> None:
    exc = _fail_create(httpx.Response(502, text=NGINX_502, headers={"content-type": "text/html"}))
    assert isinstance(exc, ServerError)
    assert str(exc) == (f"502 Bad Gateway from POST {BASE_URL}{JOBS}: 502 Bad Gateway nginx/1.25.3")
    assert "<" not in str(exc) and "console.log" not in str(exc)


def test_long_text_body_is_cut_to_200_characters() -> None:
    exc = _fail_create(httpx.Response(503, text="<p>" + "overloaded " * 100 + "</p>"))
    assert exc.detail.startswith("overloaded overloaded")
    assert len(exc.detail) == 200 and exc.detail.endswith("…")


def test_fastapi_detail_and_request_id() -> None:
    exc = _fail_create(
        httpx.Response(
            404, json={"detail": "Directory not found"}, headers={"x-request-id": "req-42"}
        )
    )
    assert isinstance(exc, NotFoundError)
    assert exc.detail == "Directory not found"
    assert exc.request_id == "req-42"
    assert str(exc) == (
        f"404 Not Found from POST {BASE_URL}{JOBS}: Directory not found (request id req-42)"
    )


def test_422_validation_list_names_fields_and_never_echoes_input() -> None:
    body = {
        "detail": [
            {
                "loc": ["body", "job_config", "parameters", "max_pages"],
                "msg": "Input should be greater than or equal to 0",
                "input": "sk-echoed-input-value",
            },
            {"loc": ["query", "project_id"], "msg": "Field required"},
        ]
    }
    exc = _fail_create(httpx.Response(422, json=body))
    assert isinstance(exc, UnprocessableEntityError)
    assert exc.detail == (
        "body.job_config.parameters.max_pages: Input should be greater than or equal to 0; "
        "query.project_id: Field required"
    )
    assert "sk-echoed" not in str(exc)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"message": "quota exceeded"}, "quota exceeded"),
        ({"error": {"message": "bad key"}}, "bad key"),
        ({"unexpected": 1}, '{"unexpected":1}'),
        ([1, 2], "1; 2"),
    ],
)
def test_other_json_error_shapes(body: object, detail: str) -> None:
    exc = _fail_create(httpx.Response(400, json=body))
    assert exc.detail == detail


def test_empty_error_body() -> None:
    exc = _fail_create(httpx.Response(401))
    assert isinstance(exc, AuthenticationError)
    assert str(exc) == f"401 Unauthorized from POST {BASE_URL}{JOBS}"


def test_server_echo_of_secrets_is_redacted() -> None:
    # A server (or proxy) that echoes the request back must not leak the key or a secret option.
    secret = "azure-key-0123456789"
    with respx.mock(base_url=BASE_URL) as mock, _client() as client:
        mock.post(JOBS).mock(
            return_value=httpx.Response(
                400, json={"detail": f"bad request Bearer {API_KEY} with key {secret}"}
            )
        )
        with pytest.raises(BadRequestError) as info:
            client.create_job(
                {
                    "directory_id": "dir-1",
                    "job_config": {"parameters": {"azure_openai_key": secret}},
                }
            )
    exc = info.value
    for text in (str(exc), repr(exc), exc.detail, str(exc.args)):
        assert API_KEY not in text and secret not in text
    assert "**********" in exc.detail


def test_connection_error_is_mapped_and_says_unsent() -> None:
    with respx.mock(base_url=BASE_URL) as mock, _client() as client:
        mock.get(f"{JOBS}/bjb-1").mock(side_effect=httpx.ConnectError("Connection refused"))
        with pytest.raises(APIConnectionError) as info:
            client.get_job("bjb-1")
    exc = info.value
    assert not isinstance(exc, APITimeoutError)
    assert exc.sent is False
    assert str(exc) == (
        f"Connection error on GET {BASE_URL}{JOBS}/bjb-1: ConnectError: Connection refused"
    )
    # No httpx exception (whose request carries the Authorization header) hangs off the error.
    chained: BaseException | None = exc
    while chained is not None:
        assert not isinstance(chained, httpx.HTTPError)
        chained = chained.__cause__ or chained.__context__


def test_read_timeout_is_a_timeout_that_may_have_been_sent() -> None:
    with respx.mock(base_url=BASE_URL) as mock, _client() as client:
        mock.get(f"{JOBS}/bjb-1").mock(side_effect=httpx.ReadTimeout("timed out"))
        with pytest.raises(APITimeoutError) as info:
            client.get_job("bjb-1")
    assert info.value.sent is True
    assert str(info.value).startswith(f"Timeout on GET {BASE_URL}{JOBS}/bjb-1")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>maintenance</html>"), "body is not JSON: maintenance"),
        (httpx.Response(200, json={"job": {"id": "x"}}), "job.job_type: Field required"),
    ],
)
def test_unparseable_success_is_a_response_validation_error(
    response: httpx.Response, reason: str
) -> None:
    with respx.mock(base_url=BASE_URL) as mock, _client() as client:
        mock.get(f"{JOBS}/bjb-1").mock(return_value=response)
        with pytest.raises(APIResponseValidationError) as info:
            client.get_job("bjb-1")
    assert reason in str(info.value)
    assert str(info.value).startswith(
        f"200 response from GET {BASE_URL}{JOBS}/bjb-1 does not match"
    )


@pytest.mark.parametrize(
    "exc",
    [
        error_for_status(
            409,
            method="POST",
            path="/p",
            detail="busy",
            request_id="r1",
            headers={"Retry-After": "3"},
        ),
        APIConnectionError("reset", method="GET", path="/p", sent=False),
        APITimeoutError("slow", method="GET", path="/p"),
        APIResponseValidationError("bad", method="GET", path="/p", status_code=200),
    ],
)
def test_errors_survive_pickling(exc: LlamaCloudError) -> None:
    # Prefect pickles exceptions into failed states.
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert str(copy) == str(exc) and repr(copy) == repr(exc)
    assert copy.__dict__ == exc.__dict__
