"""Server-sent (and user-given) text made inert for a terminal; shared by the CLI and the demo.

Names and error messages come from the server: printed as Rich markup, ``[/bold]`` would be
applied or crash the command (unbalanced), and control characters (ESC starts terminal escape
sequences) would reach the terminal.

Example:
    ```python
    from prefect_llamabatch.cli.inert import cell, clean

    assert clean("a\\x1b[31mred") == "a\\\\x1b[31mred"
    assert cell("[/oops]").plain == "[/oops]"
    ```
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["cell", "clean"]

# C0/C1 control characters and bidirectional overrides; newline and tab stay.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: object) -> str:
    """The text with each control character shown as its escape (``\\x1b``)."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], str(value))


def cell(value: object) -> Text:
    """The text as a Rich ``Text``: never parsed as markup, control characters escaped."""
    return Text(clean(value))
