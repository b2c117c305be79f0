"""One redaction for everything the client raises or logs, quoted header values included.

A server (or a proxy in front of it) that echoes the Authorization header in ``x-request-id`` or
any other header, in any case or URL-encoded, must not get the key into an error's text, repr,
attributes, pickled copy or the retry WARNING; a quoted value is capped at 200 characters.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from urllib.parse import quote as url_quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_llamabatch import APIStatusError, BatchClient, RetryPolicy
from prefect_llamabatch.client.errors import error_for_status
from prefect_llamabatch.client.redaction import QUOTE_LIMIT, describe, quote, redact
from prefect_llamabatch.models import MASK
from tests.reliability.scripted_server import ScriptedServer, json_reply, scripted_server

KEY = "llx-REDACTION-canary-7a6b5c4d3e"
JOB = {
    "job": {
        "id": "bjb-1",
        "job_type": "parse",
        "project_id": "p",
        "status": "running",
        "total_items": 1,
    }
}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as running:
        yield running


def _everything(exc: BaseException) -> str:
    """Every text an error exposes: str, repr, args, attributes, and its unpickled copy's."""
    copy = pickle.loads(pickle.dumps(exc))
    parts = [str(exc), repr(exc), str(exc.args), repr(vars(exc)), str(copy), repr(vars(copy))]
    return "\n".join(parts)


def _leaks(text: str) -> bool:
    # The key in any case; its distinctive middle also catches a partial echo.
    return KEY.lower() in text.lower() or "REDACTION-canary" in text


ECHOES = {
    "authorization-echo": f"Bearer {KEY}",
    "key-alone": KEY,
    "upper-case": f"BEARER {KEY.upper()}",
    "url-encoded": url_quote(f"Bearer {KEY}", safe=""),
    "inside-text": f"req-1;auth=Bearer {KEY};retry=0",
}


@pytest.mark.parametrize("echo", list(ECHOES))
def test_a_header_echoing_the_key_is_masked_everywhere_on_the_error(
    server: ScriptedServer, echo: str
) -> None:
    value = ECHOES[echo]
    server.reset(
        lambda _s: json_reply(
            {"detail": f"bad request from {value}"},
            400,
            **{"x-request-id": value, "x-debug-auth": value, "set-cookie": f"s={KEY}"},
        )
    )
    with BatchClient(KEY, base_url=server.base_url, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(APIStatusError) as info:
            client.get_job("bjb-1")
    exc = info.value
    assert server.seen, "the request was not sent"
    assert not _leaks(_everything(exc)), _everything(exc)
    assert exc.request_id is not None and MASK in exc.request_id
    assert MASK in exc.headers["x-debug-auth"]
    assert "set-cookie" not in exc.headers  # a credential header is never kept
    assert f"(request id {exc.request_id})" in str(exc)


def test_the_retry_warning_masks_an_echoed_key(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="prefect_llamabatch")
    answers = iter([json_reply({"detail": "busy"}, 503, **{"x-request-id": f"Bearer {KEY}"})])
    server.reset(lambda _s: next(answers, json_reply(JOB)))
    policy = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.01)
    with BatchClient(KEY, base_url=server.base_url, retry=policy) as client:
        assert client.get_job("bjb-1").job.id == "bjb-1"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "request id Bearer **********" in warnings[0]
    assert not _leaks(caplog.text)


def test_a_long_header_value_is_capped_with_what_was_left_out(server: ScriptedServer) -> None:
    long_id = "r" * 10_000
    server.reset(lambda _s: json_reply({"detail": "nope"}, 404, **{"x-request-id": long_id}))
    with BatchClient(KEY, base_url=server.base_url, retry=RetryPolicy(max_retries=0)) as client:
        with pytest.raises(APIStatusError) as info:
            client.get_job("bjb-1")
    request_id = info.value.request_id
    assert request_id is not None and len(request_id) == QUOTE_LIMIT
    assert request_id == "r" * 188 + "…(9812 more)"
    assert len(str(info.value)) < 400
    assert len(info.value.headers["x-request-id"]) == QUOTE_LIMIT


def test_a_terminal_escape_in_a_header_is_shown_escaped() -> None:
    exc = error_for_status(500, method="GET", path="/x", request_id="req\x1b[2J\x07-1")
    assert exc.request_id == "req\\x1b[2J\\x07-1"
    assert "\x1b" not in str(exc)


def test_errors_built_by_hand_are_redacted_too() -> None:
    # Defence in depth: whatever text an error is given, a credential-shaped string is masked.
    exc = error_for_status(
        401, method="GET", path="/x", detail=f"token Bearer {KEY} refused", request_id=KEY
    )
    assert not _leaks(_everything(exc))
    assert str(exc) == "401 Unauthorized from GET /x: token Bearer ********** refused " + (
        f"(request id {MASK})"
    )


# ---- the functions ------------------------------------------------------------------------


def test_redact_masks_known_secrets_in_any_case_and_encoded() -> None:
    secret = "azure/key+1=="
    text = f"a {secret} b {secret.upper()} c {url_quote(secret, safe='')}"
    assert redact(text, [secret]) == f"a {MASK} b {MASK} c {MASK}"
    assert redact("abc", ["abc"]) == "abc"  # too short to mask without masking everything
    assert redact("use a Bearer token") == "use a Bearer token"  # prose is not a credential


@given(st.text(max_size=400), st.integers(min_value=20, max_value=300))
def test_quote_is_capped_and_idempotent(text: str, limit: int) -> None:
    once = quote(text, limit=limit)
    assert len(once) <= limit
    assert quote(once, limit=limit) == once
    assert once.isprintable()


@given(st.text(alphabet=st.characters(codec="ascii", exclude_characters="\r\n"), max_size=50))
def test_a_known_key_never_survives_quoting(noise: str) -> None:
    text = noise + KEY + noise
    assert KEY not in quote(text, [KEY]) and KEY not in redact(text, [KEY])


def test_describe_names_a_value_without_showing_it() -> None:
    assert describe(KEY) == f"a str of {len(KEY)} characters (not shown)"
    assert KEY not in describe({"api_key": KEY})
    assert describe(3) == "a value of type int (not shown)"
