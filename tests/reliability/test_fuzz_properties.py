"""Property-based tests (hypothesis): models, the retry policy and pagination under any input.

Properties, not examples: whatever the server sends, parsing gives a model or a typed error;
whatever the caller passes, a create body is valid exactly when the rules say so; secrets never
show; retrying is bounded in attempts and time; pagination ends, with no duplicates, and loses
nothing from an honest server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from prefect_llamabatch import (
    APIConnectionError,
    APIResponseValidationError,
    BatchClient,
    LlamaCloudError,
    RetryPolicy,
)
from prefect_llamabatch.client.errors import error_for_status
from prefect_llamabatch.client.paging import ListingError
from prefect_llamabatch.client.retries import Attempt, Done, RetryLoop, Wait, parse_retry_after
from prefect_llamabatch.models import (
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    BatchParseJobConfig,
    JobItemList,
    WebhookConfiguration,
)

pytestmark = pytest.mark.timeout(120)

KEY = "llx-fuzz-key-0123456789"
BASE = "https://api.fuzz.test"
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
JOB_KEYS = list(BatchJob.model_fields)
# The API reference's job statuses, written out here (not taken from the package under test).
DOCUMENTED_STATUSES = ("pending", "running", "dispatched", "completed", "failed", "cancelled")
DOCUMENTED_FINAL = ("completed", "failed", "cancelled")


def near_documented(status: str) -> bool:
    """A documented status up to case, whitespace or spelling: how such a value is read is the
    status normalisation's business (tests/models), so the property below leaves it open."""
    return status.strip().lower() in {*DOCUMENTED_STATUSES, "canceled"}


def job_like() -> st.SearchStrategy[dict[str, Any]]:
    """Job records where any field may be missing, of a wrong type, or unknown."""
    valid = {
        "id": st.text(min_size=1, max_size=8),
        "job_type": st.sampled_from(["parse", "classify", "extract", "summarise"]),
        "project_id": st.text(max_size=8),
        "status": st.text(max_size=12) | st.sampled_from(sorted(DOCUMENTED_STATUSES)),
        "total_items": st.integers(-5, 10**6),
        "processed_items": st.none() | st.integers(-5, 10**6),
        "created_at": st.none() | st.datetimes(timezones=st.just(timezone.utc)).map(str),
    }
    field = st.sampled_from([*JOB_KEYS, "unknown_field"])
    return st.fixed_dictionaries({}, optional=valid).flatmap(
        lambda base: st.dictionaries(field, JSON, max_size=3).map(lambda junk: {**base, **junk})
    )


def transport(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), timeout=5)


def fast_client(
    handler: Callable[[httpx.Request], httpx.Response], max_concurrency: int = 8
) -> BatchClient:
    return BatchClient(
        KEY,
        base_url=BASE,
        retry=RetryPolicy(initial_delay=0.001, max_delay=0.001),
        max_concurrency=max_concurrency,
        http_client=transport(handler),
        sleep=lambda _s: None,
    )


# ---- responses: a model or a typed error, never anything else ------------------------------


@PROPS
@given(body=st.one_of(JSON, job_like().map(lambda j: {"job": j, "progress_percentage": 1})))
def test_any_status_body_parses_or_is_a_typed_error(body: Any) -> None:
    with fast_client(lambda _r: httpx.Response(200, json=body)) as client:
        try:
            status = client.get_job("bjb-1")
        except APIResponseValidationError as exc:
            assert f"GET {BASE}/api/v1/beta/batch-processing/bjb-1" in str(exc)
        else:
            assert isinstance(status, BatchJobStatus)
            sent = body["job"].get("status")  # parsed, so the body had a job mapping
            if sent in DOCUMENTED_FINAL:
                assert status.job.is_terminal, sent
            elif sent in DOCUMENTED_STATUSES or (
                isinstance(sent, str) and not near_documented(sent)
            ):
                # Pending, running, dispatched, a status added later, junk: waited on, kept as sent.
                assert not status.job.is_terminal, sent
                assert status.job.status_value == sent


@PROPS
@given(sent=st.sampled_from(DOCUMENTED_STATUSES) | st.text(max_size=12))
def test_a_job_is_final_exactly_when_the_api_documents_its_status_final(sent: str) -> None:
    job = {"id": "bjb-1", "job_type": "parse", "project_id": "p", "status": sent, "total_items": 1}
    body = {"job": job, "progress_percentage": 0}
    with fast_client(lambda _r: httpx.Response(200, json=body)) as client:
        status = client.get_job("bjb-1")
    if sent in DOCUMENTED_FINAL:
        assert status.job.is_terminal
    elif sent in DOCUMENTED_STATUSES or not near_documented(sent):
        assert not status.job.is_terminal
        assert status.job.status_value == sent


@PROPS
@given(raw=st.binary(max_size=64))
def test_any_bytes_parse_or_are_a_typed_error(raw: bytes) -> None:
    with fast_client(lambda _r: httpx.Response(200, content=raw)) as client:
        try:
            page = client.list_jobs()
        except APIResponseValidationError:
            return
        assert isinstance(page, BatchJobList)


@PROPS
@given(status=st.integers(400, 599), body=JSON, key_in_body=st.booleans())
def test_any_error_response_maps_to_its_status_and_never_shows_the_key(
    status: int, body: Any, key_in_body: bool
) -> None:
    payload = {"detail": [body, KEY]} if key_in_body else body

    def answer(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=payload, headers={"x-should-retry": "false"})

    with fast_client(answer) as client:
        with pytest.raises(LlamaCloudError) as info:
            client.get_job("bjb-1")
    exc = info.value
    assert getattr(exc, "status_code", None) == status
    assert KEY not in str(exc) and KEY not in repr(exc)
    assert len(str(exc)) < 1000


# ---- request models: valid exactly when the rules say so -----------------------------------

IDS = st.lists(st.sampled_from(["dfl-1", "dfl-2", "dfl-3", ""]), max_size=4)


@PROPS
@given(
    directory_id=st.none() | st.sampled_from(["", "dir-1"]),
    item_ids=st.none() | IDS,
    page_size=st.none() | st.integers(-3, 3),
)
def test_create_body_is_valid_exactly_when_the_rules_hold(
    directory_id: str | None, item_ids: list[str] | None, page_size: int | None
) -> None:
    body: dict[str, Any] = {"job_config": {}}
    for key, value in (("directory_id", directory_id), ("item_ids", item_ids)):
        if value is not None:
            body[key] = value
    if page_size is not None:
        body["page_size"] = page_size
    one_source = (directory_id is None) != (item_ids is None)
    ids_ok = item_ids is None or (
        len(item_ids) > 0 and "" not in item_ids and len(set(item_ids)) == len(item_ids)
    )
    valid = one_source and directory_id != "" and ids_ok and (page_size is None or page_size > 0)
    try:
        created = BatchJobCreate.model_validate(body)
    except ValidationError as exc:
        assert not valid, f"rejected a valid body {body}: {exc}"
        named = {str(part) for error in exc.errors() for part in error["loc"]}
        text = str(exc)
        assert named & {"directory_id", "item_ids", "page_size"} or (
            "directory_id" in text or "item_ids" in text
        )
    else:
        assert valid, f"accepted an invalid body {body}"
        assert created.to_wire()["job_config"] == {}


@PROPS
@given(name=st.text(min_size=1, max_size=20))
def test_an_unknown_parameter_is_rejected_by_name(name: str) -> None:
    if name in BatchParseJobConfig._known_names():
        return
    with pytest.raises(ValidationError) as info:
        BatchParseJobConfig.model_validate({name: True})
    assert repr(name) in str(info.value)


SECRET = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=24)
SECRET_FIELDS = ["azure_openai_key", "gpt4o_api_key", "vendor_multimodal_api_key"]


def _secret_body(secret: str, field: str, header: bool) -> BatchJobCreate:
    params: dict[str, Any] = {field: secret}
    if header:
        params["webhook_configurations"] = [
            {"webhook_url": "https://hooks.test", "webhook_headers": {"X-Token": secret}}
        ]
    return BatchJobCreate.model_validate(
        {"directory_id": "dir-1", "job_config": {"parameters": params}}
    )


def _displays(body: BatchJobCreate) -> list[str]:
    return [
        repr(body),
        str(body),
        body.model_dump_json(),
        json.dumps(body.model_dump(mode="json")),
        repr(body.model_dump()),
    ]


@PROPS
@given(secret=SECRET, field=st.sampled_from(SECRET_FIELDS), header=st.booleans())
def test_a_secret_never_shows_except_on_the_wire(secret: str, field: str, header: bool) -> None:
    # Every display must be independent of the secret's value: the same text for another secret.
    # (A plain substring check would trip on secrets like "direct" that occur in "directory_id".)
    other = "".join("b" if c == "a" else "a" for c in secret)
    body = _secret_body(secret, field, header)
    assert _displays(body) == _displays(_secret_body(other, field, header))
    assert body.to_wire()["job_config"]["parameters"][field] == secret


@PROPS
@given(secret=SECRET)
def test_a_validation_error_never_echoes_a_secret(secret: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookConfiguration.model_validate(
            {"webhook_url": "nope", "webhook_headers": {"Authorization": secret}}
        )
    if secret not in "webhook_url must be an http(s) URL":
        assert secret not in str(info.value)


# ---- the retry policy ----------------------------------------------------------------------

OUTCOME = st.one_of(
    st.sampled_from([200, 400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504]),
    st.just("connect"),
    st.just("read"),
)
RETRY_AFTER = st.none() | st.text(max_size=6) | st.floats(-10, 1e6).map(str)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@PROPS
@given(
    outcomes=st.lists(st.tuples(OUTCOME, RETRY_AFTER), min_size=1, max_size=12),
    max_retries=st.integers(0, 6),
    deadline=st.none() | st.floats(0.5, 50),
    request_seconds=st.floats(0, 3),
)
def test_retrying_is_bounded_in_attempts_and_time(
    outcomes: list[tuple[Any, str | None]],
    max_retries: int,
    deadline: float | None,
    request_seconds: float,
) -> None:
    clock = Clock()
    policy = RetryPolicy(
        max_retries=max_retries,
        deadline=deadline,
        initial_delay=0.5,
        max_delay=4.0,
        max_retry_after=10.0,
        clock=clock,
    )
    loop: RetryLoop[str] = RetryLoop(policy)
    attempts, slept = 0, []
    asked: float | None = None  # the Retry-After of the last failure, parsed
    script = iter(outcomes)
    while True:
        try:
            step = loop.next()
        except LlamaCloudError:
            assert attempts >= 1  # only an attempt's own error is raised
            break
        if isinstance(step, Done):
            break
        if isinstance(step, Wait):
            # A usable Retry-After is honoured up to its cap; otherwise the jittered exponential
            # window of this retry, never the larger of the two caps.
            if asked is not None:
                cap = policy.max_retry_after
            else:
                cap = min(policy.initial_delay * policy.backoff_factor ** (attempts - 1), 4.0)
            assert 0 <= float(step) <= cap + 1e-9, (float(step), cap, asked)
            slept.append(float(step))
            clock.now += float(step)
            continue
        assert isinstance(step, Attempt)
        attempts += 1
        clock.now += request_seconds
        outcome, retry_after = next(script, (200, None))
        asked = None
        if retry_after is not None and isinstance(outcome, int):
            asked = parse_retry_after({"Retry-After": retry_after})
        if outcome == 200:
            loop.succeeded("ok")
        elif outcome in ("connect", "read"):
            loop.failed(APIConnectionError("x", method="GET", path="/p", sent=outcome == "read"))
        else:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            loop.failed(error_for_status(outcome, method="GET", path="/p", headers=headers))
    assert attempts <= max_retries + 1
    assert len(slept) == attempts - 1  # every retry waits first
    if deadline is not None and attempts > 1:
        # No attempt starts after the deadline (the clock counts sleeps and request time).
        started_last = clock.now - request_seconds
        assert started_last <= deadline + 1e-9


@PROPS
@given(value=st.text(max_size=40), ms=st.none() | st.text(max_size=10))
def test_any_retry_after_header_gives_a_usable_delay_or_none(value: str, ms: str | None) -> None:
    headers = {"Retry-After": value}
    if ms is not None:
        headers["retry-after-ms"] = ms
    delay = parse_retry_after(headers, now=datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert delay is None or (math.isfinite(delay) and delay >= 0)


@PROPS
@given(seconds=st.integers(-3600, 3600))
def test_an_http_date_retry_after_is_the_time_until_then(seconds: int) -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now=now) == max(seconds, 0)


# ---- pagination against any (finite) server ------------------------------------------------


@PROPS
@given(
    n=st.integers(0, 120),
    cap=st.integers(1, 40),
    page_size=st.integers(1, 50),
    lie=st.none() | st.integers(-50, 500),
    ignore_offset=st.booleans(),
    concurrency=st.integers(1, 4),
)
def test_item_pagination_ends_without_duplicates_and_is_complete_when_honest(
    n: int, cap: int, page_size: int, lie: int | None, ignore_offset: bool, concurrency: int
) -> None:
    items = [
        {"item_id": f"dfl-{i}", "item_name": f"{i}.pdf", "status": "completed"} for i in range(n)
    ]
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params)
        offset = 0 if ignore_offset else int(request.url.params.get("offset", 0))
        limit = min(int(request.url.params.get("limit", 100)), cap)
        total = None if lie is None else n + lie
        return httpx.Response(
            200, json={"items": items[offset : offset + limit], "total_size": total}
        )

    honest = not ignore_offset and lie in (0, None)
    got: list[str] = []
    with fast_client(answer, max_concurrency=concurrency) as client:
        try:
            got.extend(i.item_id for i in client.iter_items("bjb-1", page_size=page_size))
        except ListingError:
            assert not honest, "an honest listing was refused"
    assert len(got) == len(set(got))
    assert set(got) <= {i["item_id"] for i in items}
    step = max(min(page_size, cap, n), 1)
    bound = 1 + math.ceil(n / step) + concurrency  # the pages that hold items, one window more
    assert len(calls) <= bound
    if honest:  # complete, capped pages and a missing total_size included
        assert got == [i["item_id"] for i in items]


def test_job_item_list_tolerates_unknown_fields() -> None:
    page = JobItemList.model_validate(
        {"items": [{"item_id": "a", "item_name": "b", "status": "queued", "x": 1}], "new": True}
    )
    assert page.items[0].status_value == "queued"


# ---- paging: a server stuck on a later page -------------------------------------------------


@PROPS
@given(stuck_at=st.integers(1, 4), pages=st.integers(2, 8), page_size=st.integers(1, 4))
def test_a_server_stuck_on_a_later_page_never_yields_an_item_twice(
    stuck_at: int, pages: int, page_size: int
) -> None:
    # Offsets are honoured up to page `stuck_at`, which then comes back for every later offset
    # (not a copy of the first page: a repeat only the last page seen can reveal).
    def answer(request: httpx.Request) -> httpx.Response:
        page = min(int(request.url.params.get("offset", 0)) // page_size, stuck_at)
        items = [
            {"item_id": f"dfl-{page}-{i}", "item_name": "f.txt", "status": "completed"}
            for i in range(page_size)
        ]
        return httpx.Response(200, json={"items": items, "total_size": pages * page_size})

    seen: list[str] = []
    with fast_client(answer, max_concurrency=1) as client:
        try:  # stopping quietly or raising a clear error are both fine; a duplicate is not
            seen.extend(i.item_id for i in client.iter_items("bjb-1", page_size=page_size))
        except LlamaCloudError:
            pass
    assert len(seen) == len(set(seen)), seen
    reachable = min(stuck_at + 1, pages)
    assert seen[: reachable * page_size] == [
        f"dfl-{p}-{i}" for p in range(reachable) for i in range(page_size)
    ]
