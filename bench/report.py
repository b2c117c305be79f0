"""Rendering of benchmark sections: a rich table on the terminal, markdown for results.md."""

from __future__ import annotations

from collections.abc import Sequence

from harness import Section
from rich.console import Console
from rich.table import Table

# Wide enough for the tables when output is piped (make, CI logs).
_console = Console(width=max(Console().width, 120))

MACHINE_KEYS = ("os", "cpu", "cores", "memory", "python")
VERSION_KEYS = ("prefect-llamabatch", "prefect", "httpx", "pydantic", "tenacity", "llama-cloud")


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def render_terminal(section: Section) -> None:
    """Print a section's tables, targets and notes."""
    _console.print(_table(section.title, section.columns, section.rows))
    for title, columns, rows in section.extra_tables:
        _console.print(_table(title, columns, rows))
    if section.targets:
        _console.print(
            _table(
                "targets",
                ["target", "wanted", "measured", "verdict"],
                [[t.what, t.target, t.measured, t.verdict] for t in section.targets],
            )
        )
    for note in section.notes:
        _console.print(f"  · {note}", markup=False)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    def numeric(i: int) -> bool:
        cells = [r[i] for r in rows if i < len(r) and r[i]]
        return bool(cells) and all(c[0].isdigit() or c[0] in "+-−" for c in cells)

    align = ["---:" if i and numeric(i) else "---" for i in range(len(columns))]
    return [line(columns), "| " + " | ".join(align) + " |", *(line(r) for r in rows)]


def render_markdown(sections: Sequence[Section], info: dict[str, str]) -> str:
    """The whole of ``bench/results.md``."""
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python bench/run.py`); do not edit by hand. Every comparison ran",
        "in one run on one machine against the local emulator (`prefect_llamabatch.emulator`).",
        "Benchmarks print numbers; the test suite has no timed assertions.",
        "",
        "## Machine and versions",
        "",
        *_md_table(
            ["", ""],
            [[k, info.get(k, "?")] for k in MACHINE_KEYS]
            + [[k, info.get(k, "?")] for k in VERSION_KEYS],
        ),
        "",
        "## Targets",
        "",
        *_md_table(
            ["target", "wanted", "measured", "verdict"],
            [
                [t.what, t.target, t.measured, t.verdict if t.met is not False else "**MISSED**"]
                for s in sections
                for t in s.targets
            ],
        ),
        "",
    ]
    for section in sections:
        out += [f"## {section.title}", ""]
        stamp = f"Ran {section.started_at} ({section.mode} mode, {section.seconds:.0f} s)"
        other = {k: v for k, v in section.machine.items() if k != "date" and info.get(k) != v}
        if other:
            stamp += "; differs from the header: " + ", ".join(f"{k} {v}" for k, v in other.items())
        out += [stamp + ".", ""]
        out += _md_table(section.columns, section.rows)
        out.append("")
        for title, columns, rows in section.extra_tables:
            out += [f"**{title}**", "", *_md_table(columns, rows), ""]
        if section.targets:
            out += _md_table(
                ["target", "wanted", "measured", "verdict"],
                [[t.what, t.target, t.measured, t.verdict] for t in section.targets],
            )
            out.append("")
        out += [f"- {note}" for note in section.notes]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
