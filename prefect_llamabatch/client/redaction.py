"""One redaction for everything the package prints, raises or logs.

:func:`redact` masks the secrets a caller knows (the API key, secret request values), in any
case and URL-encoded, and, without knowing them, anything shaped like a credential: a
``Bearer``/``Basic`` token and a LlamaCloud key (``llx-…``). :func:`quote` is for a value the
package shows but did not write (a header the server sent, an id the user gave): redacted,
control characters escaped, and at most :data:`QUOTE_LIMIT` characters.
:func:`describe` names a value without showing it (for a validation error that must not echo
a key given where a block belongs).

Example:
    ```python
    from prefect_llamabatch.client.redaction import describe, quote, redact

    assert redact("Bearer llx-abcdef123456 sent") == "Bearer ********** sent"
    assert redact("key=MYSECRETKEY", ["mysecretkey"]) == "key=**********"
    assert quote("x" * 300).endswith("…(109 more)") and len(quote("x" * 300)) == 200
    assert describe("llx-abcdef123456") == "a str of 16 characters (not shown)"
    ```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote as url_quote

from prefect_llamabatch.models import MASK

__all__ = ["MASK", "QUOTE_LIMIT", "describe", "quote", "redact", "safe_headers"]

QUOTE_LIMIT = 200
"""Longest quoted value, its ``…(N more)`` marker included."""

MIN_SECRET_LENGTH = 4
"""Shorter known secrets are not masked (masking every ``a`` would make text unreadable)."""

# Credentials recognised by their shape, for text whose secrets the caller does not know.
_SHAPES = (
    # An Authorization value: scheme, then a token of at least 8 characters.
    re.compile(r"\b(Bearer|Basic)(\s+)[^\s\"',;)}\]]{8,}", re.IGNORECASE),
    # A LlamaCloud API key.
    re.compile(r"\bllx-[A-Za-z0-9_-]{8,}"),
)

# Headers that carry credentials (a server's or a proxy's) and are never kept on an error.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


def _variants(secrets: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            found.add(secret)
            found.add(url_quote(secret, safe=""))
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every credential-shaped string masked.

    Args:
        text: What is about to be shown, raised or logged.
        secrets: Values known to be secret (the API key, secret request fields); matched in any
            case and URL-encoded; shorter than :data:`MIN_SECRET_LENGTH` ones are ignored.

    Returns:
        The text with each secret replaced by ``**********``.
    """
    variants = _variants(secrets)
    if variants:
        pattern = re.compile("|".join(re.escape(v) for v in variants), re.IGNORECASE)
        text = pattern.sub(MASK, text)
    text = _SHAPES[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _SHAPES[1].sub(MASK, text)


def _escape(text: str) -> str:
    # Terminal escape sequences and line breaks from a server never reach a log or a console.
    return "".join(
        c if c.isprintable() else (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
        for c in text
    )


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = limit
    while True:
        marker = f"…({len(text) - keep} more)"
        if keep + len(marker) <= limit:
            return text[:keep] + marker
        if keep == 0:
            # Not even the marker fits: a plain cut (this loop used to run forever here).
            return text[: max(limit, 0)]
        keep = max(limit - len(marker), 0)


def quote(value: object, secrets: Iterable[str] = (), *, limit: int = QUOTE_LIMIT) -> str:
    """A value the package did not write, safe to show: redacted, escaped, length-capped.

    Idempotent: quoting a quoted value changes nothing, so errors rebuilt from their
    attributes (unpickled) read the same.

    Args:
        value: The value (``str()`` is taken of anything else).
        secrets: Known secrets, as for :func:`redact`.
        limit: Longest result; longer text keeps its start and ends in ``…(N more)``.
    """
    return _cap(_escape(redact(str(value), secrets)), limit)


def safe_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """Response headers fit to keep on an error: lower-case names, credential headers dropped,
    each value quoted (redacted and capped)."""
    known = list(secrets)
    return {
        name.lower(): quote(value, known)
        for name, value in headers.items()
        if name.lower() not in _CREDENTIAL_HEADERS
    }


def describe(value: object) -> str:
    """Name a value's type and size without showing it (e.g. in a refusal of a key passed where
    a block belongs)."""
    kind = type(value).__name__
    try:
        size = len(value)  # type: ignore[arg-type]
    except TypeError:
        return f"a value of type {kind} (not shown)"
    unit = "characters" if isinstance(value, str) else "entries"
    return f"a {kind} of {size} {unit} (not shown)"
