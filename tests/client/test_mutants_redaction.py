"""Redaction behaviours that mutation testing found unpinned (``docs/mutation.md``).

Each test states a guarantee of :mod:`prefect_llamabatch.client.redaction` that a surviving
mutant broke without any other test noticing.
"""

from __future__ import annotations

import pytest

from prefect_llamabatch.client.redaction import MASK, describe, quote, redact


def test_invisible_characters_beyond_latin1_are_escaped_as_unicode() -> None:
    # A right-to-left override or a line separator from a server could disguise a log line.
    shown = quote("ok\u202egnp.exe\u2028next")
    assert shown == "ok\\u202egnp.exe\\u2028next"
    assert "\u202e" not in shown and "\u2028" not in shown


def test_a_collection_is_described_by_its_entries_without_showing_them() -> None:
    described = describe(["llx-abcdef123456", "other"])
    assert described == "a list of 2 entries (not shown)"
    assert "llx-" not in described and "other" not in described
    assert describe({"api_key": "llx-abcdef123456"}) == "a dict of 1 entries (not shown)"


def test_a_secret_of_the_minimum_length_is_masked() -> None:
    # Four characters are enough to be masked; three are left (masking every "abc" would make
    # text unreadable).
    assert redact("pin=abcd", ["abcd"]) == f"pin={MASK}"
    assert redact("pin=abc", ["abc"]) == "pin=abc"


def test_a_secret_starting_with_a_shorter_secret_is_masked_whole() -> None:
    # Two known secrets, one the start of the other in another case: the longer is masked as a
    # whole, never as the shorter's mask followed by the rest of it in the clear.
    shown = redact("token=SECRET-TOKEN-1 then secret", ["secret", "SECRET-TOKEN-1"])
    assert shown == f"token={MASK} then {MASK}"
    assert "TOKEN-1" not in shown


@pytest.mark.parametrize("limit", range(13))
def test_a_tiny_limit_cuts_the_value_instead_of_hanging(limit: int) -> None:
    # A limit too small for the "…(N more)" marker once looped forever; now the value is cut,
    # never longer than the limit, and quoting again changes nothing.
    shown = quote("x" * 300, limit=limit)
    assert len(shown) <= limit and set(shown) <= set("x…(0123456789 more)")
    assert quote(shown, limit=limit) == shown
