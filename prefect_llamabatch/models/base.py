"""Foundations of every wire model: secret serialization, strict requests, tolerant responses."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    ValidationInfo,
    model_validator,
)

from prefect_llamabatch.models.enums import (
    ClassifyJobStatus,
    DirectoryType,
    ItemStatus,
    JobStatus,
    JobType,
    normalize_status,
)

MASK = "**********"
LENIENT = "lenient"
REVEAL_SECRETS = "reveal_secrets"


# --------------------------------------------------------------------------------------------
# Base classes, secrets
# --------------------------------------------------------------------------------------------


PREFECT_INCLUDE_SECRETS = "include_secrets"
"""The context key Prefect sets when it saves a Block: a config nested in a block keeps its secrets."""


def _revealing(info: SerializationInfo) -> bool:
    context = info.context
    return bool(
        isinstance(context, dict)
        and (context.get(REVEAL_SECRETS) or context.get(PREFECT_INCLUDE_SECRETS) is True)
    )


def _serialize_secret(value: SecretStr, info: SerializationInfo) -> Any:
    if _revealing(info):
        return value.get_secret_value()
    # Python-mode dumps keep the SecretStr (masked repr, round-trips); JSON dumps show the mask.
    return str(value) if info.mode == "json" else value


Secret = Annotated[SecretStr, PlainSerializer(_serialize_secret, when_used="always")]
"""A secret string field: masked everywhere except in a request body built by ``to_wire()``."""


class ProxyURL(SecretStr):
    """An ``http_proxy`` URL whose user info (``user:password@``) is a secret.

    Displayed with the credentials masked and the host kept, so logs stay useful.
    """

    def _display(self) -> str:
        raw = self.get_secret_value()
        try:
            parts = urlsplit(raw)
            if parts.username is None and parts.password is None:
                return raw
            host = parts.hostname or ""
            if parts.port is not None:
                host = f"{host}:{parts.port}"
            return urlunsplit((parts.scheme, f"{MASK}@{host}", parts.path, parts.query, ""))
        except ValueError:
            return MASK


def _serialize_proxy(value: ProxyURL, info: SerializationInfo) -> Any:
    if _revealing(info):
        return value.get_secret_value()
    return value._display() if info.mode == "json" else value


SecretProxyURL = Annotated[ProxyURL, PlainSerializer(_serialize_proxy, when_used="always")]


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def check_known_fields(data: Iterable[Any], known: Iterable[str], model_name: str) -> None:
    """Raise ``ValueError`` naming every key of ``data`` not in ``known``, with the closest name.

    Example:
        ```python
        from prefect_llamabatch.models import check_known_fields

        try:
            check_known_fields({"max_retry": 3}, {"max_retries", "timeout"}, "Settings")
        except ValueError as exc:
            assert "did you mean 'max_retries'" in str(exc)
        ```
    """
    allowed = set(known)
    unknown = [key for key in data if key not in allowed]
    if unknown:
        problems = []
        for key in unknown:
            hint = _closest(str(key), sorted(allowed))
            suffix = f" (did you mean {hint!r}?)" if hint else ""
            problems.append(f"{key!r}{suffix}")
        raise ValueError(f"unknown field {', '.join(problems)} for {model_name}")


class WireModel(BaseModel):
    """Base of every request model: unknown fields are rejected with a suggestion.

    Validation with ``context={"lenient": True}`` (used for the server's echo of a config inside
    a response, and by the emulator) keeps unknown fields instead, so a newer server never breaks
    parsing.
    """

    # hide_input_in_errors: a ValidationError's text would otherwise echo the input, secrets included.
    # additionalProperties False: the JSON schema (Prefect's deployment parameter checks, its UI
    # forms, the emulator's OpenAPI) refuses unknown fields as validation does; extra="allow" is
    # only there for the lenient parse of a server's echo.
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        hide_input_in_errors=True,
        json_schema_extra={"additionalProperties": False},
        # Validators are built on first use, not at import: most processes use a handful of the
        # ~200 models (the client's import cost, bench B5).
        defer_build=True,
    )

    _strict_fields: ClassVar[bool] = True

    @classmethod
    def _known_names(cls) -> set[str]:
        names: set[str] = set()
        for name, field in cls.model_fields.items():
            names.add(name)
            if field.alias:
                names.add(field.alias)
        return names

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any, info: ValidationInfo) -> Any:
        if not cls._strict_fields or not isinstance(data, dict):
            return data
        if isinstance(info.context, dict) and info.context.get(LENIENT):
            return data
        check_known_fields(data, cls._known_names(), cls.__name__)
        return data

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # A config has ~130 optional fields; show only the ones that were set.
        for name, value in super().__repr_args__():
            if name is None or name in self.model_fields_set:
                yield name, value

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for the API: wire names, secrets in clear, unset fields left out."""
        return self.model_dump(
            mode="json", by_alias=True, exclude_unset=True, context={REVEAL_SECRETS: True}
        )


class ResponseModel(BaseModel):
    """Base of every response model: tolerant of fields and enum values it does not know."""

    # hide_input_in_errors: a ValidationError's text would otherwise echo the input, secrets included.
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, hide_input_in_errors=True, defer_build=True
    )


# Statuses from the server are normalised (case, surrounding whitespace, ``canceled``) to the
# member they spell, so ``COMPLETED`` or ``"completed "`` ends a wait; anything else stays raw.
JobStatusValue = Annotated[
    Union[JobStatus, str],
    Field(union_mode="left_to_right"),
    BeforeValidator(lambda value: normalize_status(JobStatus, value)),
]
ItemStatusValue = Annotated[
    Union[ItemStatus, str],
    Field(union_mode="left_to_right"),
    BeforeValidator(lambda value: normalize_status(ItemStatus, value)),
]
JobTypeValue = Annotated[Union[JobType, str], Field(union_mode="left_to_right")]
DirectoryTypeValue = Annotated[Union[DirectoryType, str], Field(union_mode="left_to_right")]
ClassifyJobStatusValue = Annotated[
    Union[ClassifyJobStatus, str],
    Field(union_mode="left_to_right"),
    BeforeValidator(lambda value: normalize_status(ClassifyJobStatus, value)),
]

NonEmptyStr = Annotated[str, Field(min_length=1)]


# --------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------

MAX_ID_LENGTH = 512
"""Longest id accepted (LlamaCloud's ids are ``bjb-…``/``dfl-…`` or UUIDs, well under 100)."""

_SEPARATORS = ("/", "\\")
_DOT_SEGMENTS = (".", "..")


def _unprintable(value: str) -> bool:
    # Cc: control characters; Cf: invisible format characters (zero-width, bidi overrides);
    # Zl/Zp: line and paragraph separators.
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


def id_problem(value: object) -> str | None:
    """Why ``value`` cannot be sent as an id (``None`` if it can); the reason never echoes it.

    An id becomes one URL path segment: ``.``/``..`` (which URL normalisation resolves to
    *another route*), a separator, a control character or a megabyte of text must be refused
    before any request.

    Example:
        ```python
        from prefect_llamabatch.models.base import id_problem

        assert id_problem("bjb-123") is None
        assert "'.' or '..'" in id_problem("..")
        assert "'/'" in id_problem("a/b")
        ```
    """
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"at most {MAX_ID_LENGTH} characters, got {len(value)}"
    if value in _DOT_SEGMENTS:
        return "must not be '.' or '..' (URL normalisation would send the request elsewhere)"
    if any(sep in value for sep in _SEPARATORS):
        return "must not contain '/' or '\\' (an id is one URL path segment)"
    if _unprintable(value):
        return "must not contain control or invisible characters"
    if value != value.strip():
        return "must not start or end with whitespace"
    decoded = unquote(value)
    if decoded != value and (
        decoded in _DOT_SEGMENTS or any(sep in decoded for sep in _SEPARATORS)
    ):
        return "must not contain a percent-encoded '/', '\\', '.' or '..'"
    return None


def _check_id(value: str, info: ValidationInfo) -> str:
    if isinstance(info.context, dict) and info.context.get(LENIENT):
        # The emulator parses with the lenient context: it answers odd ids as the service
        # would (not found), instead of refusing them in a way the real API does not.
        return value
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"{info.field_name}: {problem}")
    return value


Id = Annotated[str, Field(min_length=1), AfterValidator(_check_id)]
"""An id sent in a request (``directory_id``, ``item_ids``, ``file_id`` …): see :func:`id_problem`."""
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]
