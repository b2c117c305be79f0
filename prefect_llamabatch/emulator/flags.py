"""The emulator's command-line flags, written once.

``python -m prefect_llamabatch.emulator`` (argparse, :func:`add_flags`) and ``llamabatch
emulator`` (cyclopts, the model flattened into flags) both read :class:`EmulatorFlags`; its
:meth:`~EmulatorFlags.to_config` turns them into the server's
:class:`~prefect_llamabatch.emulator.settings.EmulatorConfig`. A new setting is one field here.

Example:
    ```python
    from prefect_llamabatch.emulator.flags import EmulatorFlags

    config = EmulatorFlags(port=0, classify_record="required").to_config()
    assert config.classify_record == "required" and config.port == 0
    ```
"""

from __future__ import annotations

import argparse
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prefect_llamabatch.emulator.settings import (
    LOOPBACK_HOSTS,
    ApiKeySpec,
    EmulatorConfig,
    FaultConfig,
    FaultRule,
)

__all__ = ["EmulatorFlags", "add_flags"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# Flags whose config field has another name; the others have the same one.
_CONFIG_NAMES = {
    "db": "db_path",
    "item_duration": "item_duration_seconds",
    "failure_pattern": "failure_patterns",
    "transient_failure_pattern": "transient_failure_patterns",
    "max_file_size": "max_file_size_bytes",
    "v2_presigned_url_ttl": "v2_presigned_url_ttl_seconds",
}
# Flags turned into their config value by hand in ``to_config`` (parsed, or inverted).
_CONVERTED = {
    "api_key": "api_keys",
    "fault": "faults",
    "omit_total_size": "include_total_size",
    "admin_token": "admin_token",
}
# A config field refused by the config is named by the flag that set it.
_FLAG_NAMES = {config: flag for flag, config in {**_CONFIG_NAMES, **_CONVERTED}.items()}


class EmulatorFlags(BaseModel):
    """Every flag of the emulator's command line, with its default and help."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on (loopback only).")
    port: int = Field(8765, description="Port (0: a free one).")
    db: Path | None = Field(None, description="SQLite file keeping state across restarts.")
    data_dir: Path | None = Field(None, description="Folder for uploads and outputs.")
    api_key: list[str] = Field(
        default_factory=list,
        description="An accepted key, KEY:[ORG:]PROJECT[,PROJECT] (repeatable; default: "
        "llx-emulator-local-key).",
        json_schema_extra={"metavar": "KEY:[ORG:]PROJECT[,PROJECT]"},
    )
    admin_token: str | None = Field(
        None, description="Token of the /_emulator admin API (default: random)."
    )
    time_scale: float = Field(
        1.0, description="Multiplies simulated durations (0.01: 100x faster)."
    )
    item_duration: float = Field(0.1, description="Simulated seconds per item.")
    concurrency: int = Field(4, description="Items in flight per job.")
    failure_pattern: list[str] = Field(
        default_factory=list,
        description="Glob of file names that always fail (repeatable).",
        json_schema_extra={"metavar": "GLOB"},
    )
    transient_failure_pattern: list[str] = Field(
        default_factory=list,
        description="Glob of file names that fail on their first processing only (repeatable).",
        json_schema_extra={"metavar": "GLOB"},
    )
    failure_rate: float = Field(0.0, description="Fraction of other items that fail (seeded).")
    seed: int = Field(0, description="Seed of the failure rate and of random faults.")
    fault: list[str] = Field(
        default_factory=list,
        description="Injected fault, e.g. get_job:503:0.1 or create_job:commit_then_fail:1:1 "
        "(repeatable).",
        json_schema_extra={"metavar": "ROUTE:KIND[=VALUE][:RATE[:COUNT]]"},
    )
    max_file_size: int | None = Field(
        None, description="Bytes; larger files are skipped (size_limit_exceeded)."
    )
    response_latency: float = Field(0.0, description="Seconds added to every /api response.")
    dispatched_status: bool = Field(
        False, description="Report 'dispatched' once every item was handed out."
    )
    start_frozen: bool = Field(
        False, description="Start with processing frozen (the admin API unfreezes it)."
    )
    allow_remote: bool = Field(
        False, description="Allow a non-loopback --host (the emulator has no real security)."
    )
    # Strict by default (nothing LlamaCloud does not document); conveniences are opt-in.
    idempotency_keys: bool = Field(
        False, description="Honour Idempotency-Key (a convenience LlamaCloud does not document)."
    )
    clamp_limit: bool = Field(False, description="Clamp a limit above 1,000 instead of a 422.")
    case_insensitive_filters: bool = Field(False, description="Accept enum filters in any case.")
    list_order: Literal["oldest_first", "newest_first"] = Field(
        "oldest_first", description="Order of every listing (the real one is undocumented)."
    )
    omit_total_size: bool = Field(False, description="Send no total_size in offset listings.")
    max_page_size: int | None = Field(None, description="Serve at most N entries per page.")
    classify_record: Literal["required", "server_filled"] = Field(
        "server_filled",
        description="'required': refuse a classify job_config without the ClassifyJob record's "
        "id, project_id, status and user_id (the schema's letter); 'server_filled': rules "
        "suffice.",
    )
    v2_max_files_per_batch: int = Field(
        1000, description="Source files one v2 batch may hold (the public limit is 1,000)."
    )
    v2_max_running_batches: int | None = Field(
        None, description="v2 batches a project runs at once; more wait as THROTTLED."
    )
    v2_presigned_url_ttl: int = Field(
        3600, description="Seconds a presigned output URL of a v2 job stays valid."
    )

    def to_config(self) -> EmulatorConfig:
        """The ``EmulatorConfig`` the flags describe.

        Raises:
            ValueError: a flag is invalid; the message names it.
        """
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise ValueError(
                f"--host {self.host} is not a loopback address; the emulator has no real "
                "security. Add --allow-remote to listen on it anyway."
            )
        try:
            keys = [ApiKeySpec.parse(spec) for spec in self.api_key]
        except ValueError as exc:
            raise ValueError(f"--api-key: {exc}") from None
        try:
            rules = [FaultRule.parse(spec) for spec in self.fault]
        except (ValueError, ValidationError) as exc:
            raise ValueError(f"--fault: {exc}") from None
        values: dict[str, object] = {
            _CONFIG_NAMES.get(name, name): getattr(self, name)
            for name in type(self).model_fields
            if name not in _CONVERTED
        }
        values.update(
            api_keys=keys,
            faults=FaultConfig(rules=rules, seed=self.seed),
            include_total_size=not self.omit_total_size,
        )
        if self.admin_token is not None:
            values["admin_token"] = SecretStr(self.admin_token)
        try:
            return EmulatorConfig.model_validate(values)
        except ValidationError as exc:
            raise ValueError(_problems(exc, _FLAG_NAMES)) from None

    @classmethod
    def parse(cls, values: dict[str, Any]) -> EmulatorFlags:
        """Flags from parsed values (argparse's namespace as a dict), errors naming the flag.

        Raises:
            ValueError: a value is invalid; the message names its flag.
        """
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ValueError(_problems(exc, {})) from None


def _problems(exc: ValidationError, flag_names: dict[str, str]) -> str:
    """A validation error as one line naming each bad field by its flag (``flag_names`` maps a
    config field to the flag that sets it; a flag's own field is its flag)."""

    def flag(loc: tuple[int | str, ...]) -> str:
        return _flag(flag_names.get(str(loc[0]), str(loc[0]))) if loc else "config"

    return "; ".join(f"{flag(e['loc'])}: {e['msg']}" for e in exc.errors())


def _without_none(annotation: Any) -> Any:
    """The annotation without ``| None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next(a for a in get_args(annotation) if a is not type(None))
    return annotation


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add every :class:`EmulatorFlags` field to ``parser`` (destinations are field names)."""
    for name, field in EmulatorFlags.model_fields.items():
        kind = _without_none(field.annotation)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        options: dict[str, Any] = {"help": field.description, "dest": name}
        if kind is bool:
            options["action"] = "store_true"
        elif get_origin(kind) is list:
            options.update(action="append", default=[])
        elif get_origin(kind) is Literal:
            options.update(choices=list(get_args(kind)), default=field.default)
        else:
            options.update(type=kind, default=field.default)
        if "metavar" in extra:
            options["metavar"] = extra["metavar"]
        parser.add_argument(_flag(name), **options)
