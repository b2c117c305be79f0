"""Requests described without performing them: argument checks, query encoding, secrets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, SecretStr

from prefect_llamabatch.client.redaction import quote as quote_value
from prefect_llamabatch.models import id_problem

if TYPE_CHECKING:
    from prefect_llamabatch.client.uploads import Upload

E = TypeVar("E", bound=Enum)


_SHOWN = 60  # characters of a refused value shown in the error (a 1 MB id is not echoed)


def _shown(value: object) -> str:
    return quote_value(repr(value) if isinstance(value, str) else value, limit=_SHOWN)


def check_id(name: str, value: object) -> str:
    """``value`` if it can be sent as an id, else a ``ValueError`` naming ``name``.

    Refused before any request: blank, ``.``/``..``, a ``/`` or ``\\``, control characters,
    surrounding whitespace, more than ``MAX_ID_LENGTH`` characters (see
    :func:`prefect_llamabatch.models.id_problem`).
    """
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"{name}: {problem}, got {_shown(value)}")
    assert isinstance(value, str)
    return value


def check_name(name: str, value: object) -> str:
    """``value`` if it is a non-blank string (a display name or unique id, ``/`` allowed)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must be a non-empty string, got {_shown(value)}")
    return value


def path_segment(name: str, value: object) -> str:
    """A checked id escaped as one URL path segment (``a/b`` cannot reach another route)."""
    return quote(check_id(name, value), safe="")


def check_header_value(name: str, value: object, *, max_len: int = 255) -> str:
    """``value`` if it can be sent as a header value: printable ASCII, at most ``max_len``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be a non-empty string, got {_shown(value)}")
    if len(value) > max_len:
        raise ValueError(f"{name}: at most {max_len} characters, got {len(value)}")
    if not all(" " <= c <= "~" for c in value):
        raise ValueError(f"{name}: only printable ASCII characters are allowed in a header")
    return value


def enum_member(name: str, cls: type[E], value: E | str | None) -> E | None:
    """``value`` as a member of ``cls`` (``None`` passes), else a ``ValueError`` listing them."""
    if value is None or isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{name}: {value!r} is not one of {valid}") from None


def check_page_size(value: int | None) -> int | None:
    """``value`` if it is a positive integer (or ``None``), else a ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"page_size: must be an integer >= 1, got {value!r}")
    return value


def _query_value(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_pairs(**params: Any) -> list[tuple[str, str]]:
    """Query pairs with ``None`` left out and arrays as repeated keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            pairs.extend((key, _query_value(v)) for v in value)
        else:
            pairs.append((key, _query_value(value)))
    return pairs


def secret_values(value: Any) -> Iterator[str]:
    """Every secret string inside a request body model (for redaction of server messages)."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        yield secret
        password = _url_password(secret)
        if password:
            yield password
    elif isinstance(value, BaseModel):
        for item in value.__dict__.values():
            yield from secret_values(item)
        for item in (value.model_extra or {}).values():
            yield from secret_values(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from secret_values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from secret_values(item)


def _url_password(value: str) -> str | None:
    try:
        return urlsplit(value).password
    except ValueError:
        return None


@dataclass(frozen=True)
class Request:
    """One HTTP request, described without performing it."""

    method: str
    url: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    json: Any = field(default=None, repr=False)
    data: dict[str, str] | None = field(default=None, repr=False)
    upload: Upload | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @contextmanager
    def httpx_kwargs(self) -> Iterator[dict[str, Any]]:
        """Keyword arguments for ``httpx.(Async)Client.request``; opens the upload if any."""
        kwargs: dict[str, Any] = {"method": self.method, "url": self.url, "headers": self.headers}
        if self.params:
            # An empty list still makes httpx parse and re-encode the URL (~20 µs a call).
            kwargs["params"] = self.params
        if self.json is not None:
            kwargs["json"] = self.json
        if self.upload is None:
            yield kwargs
            return
        with self.upload.open() as content:
            kwargs["files"] = {
                "upload_file": (self.upload.filename, content, self.upload.content_type)
            }
            if self.data:
                kwargs["data"] = self.data
            yield kwargs
