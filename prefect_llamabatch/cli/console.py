"""What the CLI prints: consoles, one-line messages, JSON, and tables whose ids never wrap.

Everything the server sent goes through :mod:`prefect_llamabatch.cli.inert` first.

Example:
    ```python
    from prefect_llamabatch.cli.console import new_table, print_json

    print_json({"id": "bjb-1"})
    table = new_table("jobs", ("job id", "status"), ids=("job id",))
    assert [c.header for c in table.columns] == ["job id", "status"]
    ```
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from prefect_llamabatch.cli.inert import cell, clean

__all__ = [
    "describe_validation_error",
    "enum_text",
    "instant",
    "new_table",
    "newest_first",
    "print_json",
    "print_table",
    "say",
    "stderr",
    "stdout",
    "when",
]

_UNION_TAGS = frozenset({"parse", "classify"})


def describe_validation_error(
    exc: ValidationError, flags: dict[str, str] | None = None, whole: str | None = None
) -> str:
    """One line per problem, naming the CLI flag when ``flags`` maps the field to one.

    Built from locations and messages only: pydantic's own text may echo the input, which can
    hold a secret parse option.
    """
    flags = flags or {}
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        if loc and loc[0] in flags:
            rest = loc[1:]
            if rest and rest[0] in _UNION_TAGS:  # the job_config union's member, not a field
                rest = rest[1:]
            where = flags[loc[0]] + (f" ({'.'.join(rest)})" if rest else "")
        else:
            where = ".".join(loc) or whole or exc.title
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


class _Console(Console):
    """A rich console that leaves a closed pipe to :func:`run` (exit 141, no message)."""

    def on_broken_pipe(self) -> None:
        # Rich's own handler exits with 1, which would read as "the job failed".
        self.quiet = True
        raise BrokenPipeError


def stdout(width: int | None = None) -> Console:
    # Resolved per call so a redirected sys.stdout (tests, pipes) is honoured.
    return _Console(soft_wrap=True, width=width)


def stderr() -> Console:
    return _Console(stderr=True, soft_wrap=True)


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    # Plain print, not rich: rich would wrap and highlight, breaking `| jq`.
    print(json.dumps(_dump(value), indent=2, default=str))


def say(console: Console, message: str) -> None:
    """One message line, never interpreted as markup (it may quote server text)."""
    console.print(clean(message), markup=False, highlight=False, soft_wrap=True)


def enum_text(value: object) -> str:
    return str(getattr(value, "value", value))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def instant(value: datetime | None) -> float:
    """Seconds since the epoch for sorting; a zone-less time is taken as UTC, none sorts oldest."""
    if value is None:
        return float("-inf")
    return (value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value).timestamp()


def newest_first(rows: Iterable[Any], when: Callable[[Any], float]) -> list[Any]:
    # The API documents no list order: the CLI sorts itself (ties: by id, for a stable order).
    return sorted(rows, key=lambda row: (when(row), clean(getattr(row, "id", ""))), reverse=True)


def new_table(title: str, columns: Sequence[str], ids: Sequence[str] = ()) -> Table:
    """A table whose id columns never wrap (ids must stay copyable); other columns fold."""
    table = Table(title=cell(title))
    for column in columns:
        if column in ids:
            table.add_column(column, no_wrap=True, overflow="ignore")
        else:
            table.add_column(column, overflow="fold")
    return table


def print_table(table: Table) -> None:
    console = stdout()
    # Measured without the console's limit: a pipe or a narrow terminal (80 columns by default)
    # would otherwise cut the ids. A pipe gets the natural width (one line per row, for grep);
    # a terminal gets its width, or more if whole ids need it (the terminal then wraps lines).
    natural = console.measure(table, options=console.options.update(max_width=1 << 16))
    width = max(console.width, natural.minimum) if console.is_terminal else natural.maximum
    if width != console.width:
        console = stdout(width)
    console.print(table)
