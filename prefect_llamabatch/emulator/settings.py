"""Configuration of the local LlamaCloud emulator: keys, speed, outcome rules and faults."""

from __future__ import annotations

import secrets
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_PROJECT_ID",
    "LOOPBACK_HOSTS",
    "MAX_LIMIT",
    "ROUTE_NAMES",
    "V2_ROUTE_NAMES",
    "ApiKeySpec",
    "EmulatorConfig",
    "FaultConfig",
    "FaultKind",
    "FaultRule",
    "ListOrder",
]

ListOrder = Literal["oldest_first", "newest_first"]
"""Order of every listing. LlamaCloud documents none, so clients must not depend on either."""

MAX_LIMIT = 1000
"""The API's largest ``limit`` / ``page_size``; above it the strict emulator answers 422."""

DEFAULT_API_KEY = "llx-emulator-local-key"
DEFAULT_ORGANIZATION_ID = "org-emulator"
DEFAULT_PROJECT_ID = "proj-emulator"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Route names used by fault rules, the request log and the per-route counts.
ROUTE_NAMES: tuple[str, ...] = (
    "create_job",
    "list_jobs",
    "get_job",
    "cancel_job",
    "list_items",
    "get_item_results",
    "create_directory",
    "list_directories",
    "get_directory",
    "update_directory",
    "delete_directory",
    "upload_file",
    "add_file",
    "list_files",
    "get_file",
    "update_file",
    "delete_file",
    "create_file",
)
# The v2 API's routes (emulator/v2_api.py); fault rules may name them too.
V2_ROUTE_NAMES: tuple[str, ...] = (
    "create_batch",
    "list_batches",
    "get_batch",
    "cancel_batch",
    "create_configuration",
    "list_configurations",
    "get_configuration",
    "update_configuration",
    "delete_configuration",
    "list_parse_jobs",
    "get_parse_job",
    "get_v2_output",
    "list_extract_jobs",
    "get_extract_job",
)


class ApiKeySpec(BaseModel):
    """An API key the emulator accepts, bound to one organization and one or more projects.

    The first project is the key's default: it is used when a request names no ``project_id``.

    Example:
        ```python
        from prefect_llamabatch.emulator import ApiKeySpec

        spec = ApiKeySpec.parse("llx-abc:org-1:proj-a,proj-b")
        assert spec.project_ids == ["proj-a", "proj-b"]
        assert spec.organization_id == "org-1"
        ```
    """

    model_config = ConfigDict(frozen=True)

    key: SecretStr
    organization_id: str = DEFAULT_ORGANIZATION_ID
    project_ids: list[str] = Field(min_length=1)

    @field_validator("project_ids")
    @classmethod
    def _non_empty_ids(cls, value: list[str]) -> list[str]:
        if any(not p for p in value):
            raise ValueError("project_ids: every project id must be non-empty")
        return value

    @classmethod
    def parse(cls, spec: str) -> ApiKeySpec:
        """Parse ``KEY:ORG:PROJECT[,PROJECT…]`` or ``KEY:PROJECT[,PROJECT…]``.

        Raises:
            ValueError: naming the problem, without echoing the key.
        """
        parts = spec.split(":")
        if len(parts) == 2:
            key, projects = parts
            org = DEFAULT_ORGANIZATION_ID
        elif len(parts) == 3:
            key, org, projects = parts
        else:
            raise ValueError(
                "api key spec must be KEY:PROJECT[,PROJECT] or KEY:ORG:PROJECT[,PROJECT] "
                f"(got {len(parts)} ':'-separated parts)"
            )
        if not key:
            raise ValueError("api key spec: the KEY part is empty")
        if not org:
            raise ValueError("api key spec: the ORG part is empty")
        project_ids = [p.strip() for p in projects.split(",")]
        if not projects or any(not p for p in project_ids):
            raise ValueError("api key spec: the PROJECT list is empty or has an empty entry")
        return cls(key=SecretStr(key), organization_id=org, project_ids=project_ids)

    @property
    def default_project_id(self) -> str:
        """The project used when a request names none."""
        return self.project_ids[0]


class FaultKind(str, Enum):
    """What a fault rule does to a matching request.

    ``drop``, ``http_*`` and ``latency`` act before the handler runs (nothing is stored);
    ``commit_then_fail``, ``commit_then_drop`` and ``malformed_json`` run the handler first,
    so its effects (e.g. a created job) are stored and only the response is lost or mangled.

    Example:
        ```python
        from prefect_llamabatch.emulator import FaultKind, FaultRule

        assert FaultRule(kind="503").kind is FaultKind.HTTP_503
        ```
    """

    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    LATENCY = "latency"
    DROP = "drop"
    MALFORMED_JSON = "malformed_json"
    COMMIT_THEN_FAIL = "commit_then_fail"
    COMMIT_THEN_DROP = "commit_then_drop"


_KIND_ALIASES = {
    "429": FaultKind.HTTP_429,
    "500": FaultKind.HTTP_500,
    "502": FaultKind.HTTP_502,
    "503": FaultKind.HTTP_503,
    "504": FaultKind.HTTP_504,
    "malformed": FaultKind.MALFORMED_JSON,
}


class FaultRule(BaseModel):
    """One deterministic fault: which route, what happens, how often.

    Matching requests are counted per rule; the first ``after`` are let through, then each is hit
    with probability ``rate`` (drawn from a generator seeded by ``FaultConfig.seed`` and the
    rule's position), at most ``count`` times.

    Example:
        ```python
        from prefect_llamabatch.emulator import FaultRule

        # The next two status polls answer 503.
        rule = FaultRule(route="get_job", kind="http_503", count=2)
        assert FaultRule.parse("get_job:503:1.0:2") == rule
        ```
    """

    model_config = ConfigDict(frozen=True)

    route: str = Field(
        default="*", description="Route name (see ROUTE_NAMES) or a glob such as '*' or 'list_*'."
    )
    kind: FaultKind
    rate: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    count: Annotated[int, Field(ge=1)] | None = None
    after: Annotated[int, Field(ge=0)] = 0
    latency_seconds: Annotated[float, Field(ge=0.0)] = 0.5
    retry_after: Annotated[float, Field(ge=0.0)] | None = 1.0

    @field_validator("route")
    @classmethod
    def _known_route(cls, value: str) -> str:
        # A typo would silently never fire; insist that the glob names at least one route.
        if not any(fnmatchcase(name, value) for name in (*ROUTE_NAMES, *V2_ROUTE_NAMES)):
            raise ValueError(
                f"route {value!r} matches no route; use a glob over: "
                f"{', '.join((*ROUTE_NAMES, *V2_ROUTE_NAMES))}"
            )
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _alias_kind(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _KIND_ALIASES.get(value.lower(), value.lower())
        return value

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """Parse ``ROUTE:KIND[=VALUE][:RATE[:COUNT]]``.

        ``VALUE`` is the latency in seconds for ``latency`` and the ``Retry-After`` seconds for
        ``429``/``503``. Examples: ``get_job:503:0.2``, ``create_job:commit_then_fail:1:1``,
        ``*:latency=0.3:0.5``.
        """
        parts = spec.split(":")
        if len(parts) < 2 or len(parts) > 4:
            raise ValueError(
                f"fault spec {spec!r}: expected ROUTE:KIND[=VALUE][:RATE[:COUNT]], "
                "e.g. get_job:503:0.2 or create_job:commit_then_fail:1:1"
            )
        route, kind_part = parts[0] or "*", parts[1]
        kind_name, _, value = kind_part.partition("=")
        data: dict[str, Any] = {"route": route, "kind": kind_name}
        if value:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"fault spec {spec!r}: value {value!r} is not a number") from None
            kind = _KIND_ALIASES.get(kind_name.lower(), kind_name.lower())
            data["latency_seconds" if kind == FaultKind.LATENCY else "retry_after"] = number
        try:
            if len(parts) >= 3 and parts[2]:
                data["rate"] = float(parts[2])
            if len(parts) == 4 and parts[3]:
                data["count"] = int(parts[3])
        except ValueError:
            raise ValueError(
                f"fault spec {spec!r}: RATE must be a number, COUNT an integer"
            ) from None
        return cls.model_validate(data)


class FaultConfig(BaseModel):
    """A set of fault rules and the seed that makes them reproducible.

    Example:
        ```python
        from prefect_llamabatch.emulator import FaultConfig, FaultRule

        faults = FaultConfig(seed=7, rules=[FaultRule(route="*", kind="http_429", rate=0.1)])
        ```
    """

    rules: list[FaultRule] = Field(default_factory=list)
    seed: int = 0


ClassifyRecord = Literal["required", "server_filled"]
"""Whether a classify ``job_config`` must carry the ``ClassifyJob`` record fields (see below)."""


class EmulatorConfig(BaseModel):
    """Everything the emulator can be told at start.

    By default the emulator is *strict*: it offers nothing LlamaCloud does not document. An
    ``Idempotency-Key`` is ignored, a ``limit`` above 1,000 is answered with 422, enum filters
    must be spelled as the API spells them, and offset listings fill ``next_page_token`` like
    the real service. The conveniences (``idempotency_keys``, ``clamp_limit``,
    ``case_insensitive_filters``) are opt-in; ``list_order``, ``include_total_size`` and
    ``max_page_size`` make listings as unhelpful as the API allows.

    Example:
        ```python
        from prefect_llamabatch.emulator import EmulatorConfig

        config = EmulatorConfig(time_scale=0.01, failure_patterns=["*broken*"])
        assert config.effective_item_seconds == 0.001
        assert not config.idempotency_keys  # strict unless asked

        hostile = EmulatorConfig(list_order="newest_first", include_total_size=False, max_page_size=7)
        ```
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    db_path: Path | None = Field(
        default=None, description="SQLite file; None keeps state in memory."
    )
    data_dir: Path | None = Field(
        default=None,
        description="Uploaded files and outputs; default: '<db_path>.data' or a temporary folder.",
    )
    api_keys: list[ApiKeySpec] = Field(default_factory=list)
    admin_token: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(24)))
    item_duration_seconds: Annotated[float, Field(ge=0.0)] = 0.1
    concurrency: Annotated[int, Field(ge=1)] = 4
    time_scale: Annotated[float, Field(ge=0.0)] = 1.0
    failure_patterns: list[str] = Field(default_factory=list)
    transient_failure_patterns: list[str] = Field(default_factory=list)
    failure_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    seed: int = 0
    max_file_size_bytes: Annotated[int, Field(ge=0)] | None = None
    faults: FaultConfig = Field(default_factory=FaultConfig)
    response_latency: Annotated[float, Field(ge=0.0)] = 0.0
    dispatched_status: bool = Field(
        default=False,
        description="Report 'dispatched' once every item of a job was handed out.",
    )
    start_frozen: bool = False
    allow_remote: bool = False
    request_log_size: Annotated[int, Field(ge=0)] = 10_000
    # v2 Batches API (see docs/emulator.md, "The v2 API").
    v2_max_running_batches: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Batches a project may run at once; more wait as THROTTLED (None: no limit).",
    )
    v2_max_files_per_batch: Annotated[int, Field(ge=1)] = Field(
        default=1000, description="Source files one batch may hold (the public limit is 1,000)."
    )
    v2_presigned_url_ttl_seconds: Annotated[int, Field(ge=0)] = Field(
        default=3600, description="Lifetime of the presigned output URLs of parse jobs."
    )
    idempotency_keys: bool = Field(
        default=False,
        description="Honour Idempotency-Key on job creation (an emulator convenience: "
        "LlamaCloud documents no such header).",
    )
    clamp_limit: bool = Field(
        default=False,
        description="Clamp limit/page_size above 1,000 instead of answering 422 (a convenience).",
    )
    case_insensitive_filters: bool = Field(
        default=False,
        description="Accept enum filters (job_type, status) in any case (a convenience).",
    )
    list_order: ListOrder = Field(
        default="oldest_first",
        description="Order of every listing (jobs, items, directories, files); the real one is "
        "undocumented.",
    )
    include_total_size: bool = Field(
        default=True, description="Send total_size in offset listings (the API may omit it)."
    )
    max_page_size: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Serve at most this many entries per page, whatever limit/page_size asks.",
    )
    classify_record: ClassifyRecord = Field(
        default="server_filled",
        description="A classify job_config is a ClassifyJob record whose id, project_id, status "
        "and user_id the schema marks required; whether LlamaCloud fills them is undocumented. "
        "'server_filled' accepts rules alone (what the official SDK sends when its caller gives "
        "rules alone); 'required' refuses a record without them (422 naming each, the schema's "
        "letter).",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_key_specs(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [ApiKeySpec.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _defaults_and_checks(self) -> EmulatorConfig:
        if not self.api_keys:
            self.api_keys = [
                ApiKeySpec(key=SecretStr(DEFAULT_API_KEY), project_ids=[DEFAULT_PROJECT_ID])
            ]
        keys = [k.key.get_secret_value() for k in self.api_keys]
        if len(set(keys)) != len(keys):
            raise ValueError("api_keys: the same key is given twice")
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise ValueError(
                f"host {self.host!r} is not a loopback address; the emulator has no real security, "
                "so pass allow_remote=True (CLI: --allow-remote) to listen on it anyway"
            )
        if not self.admin_token.get_secret_value():
            raise ValueError("admin_token must not be empty")
        return self

    @property
    def effective_item_seconds(self) -> float:
        """Wall-clock seconds one item takes: ``item_duration_seconds * time_scale``."""
        return self.item_duration_seconds * self.time_scale

    @property
    def default_key(self) -> ApiKeySpec:
        """The first configured key (printed by the CLI, exposed as ``Emulator.api_key``)."""
        return self.api_keys[0]
