"""What happens to one item: the documented, deterministic outcome rules and the real output.

Pure functions of the item's name and bytes, the job's config and the emulator's settings, so the
same inputs always give the same outcome (see docs/emulator.md, "Outcome rules").
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from fnmatch import fnmatchcase
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any

from pydantic import SecretStr

from prefect_llamabatch.models import BatchParseJobRecordCreate, ClassifierRule, ClassifyJobConfig

__all__ = [
    "Outcome",
    "OutcomeSettings",
    "UnreadableDocument",
    "cache_flags",
    "classify_text",
    "decide_outcome",
    "document_text",
    "masked_config",
    "matches_any",
    "parameters_hash",
    "render_markdown",
    "seeded_fraction",
]

TEXT_SUFFIXES = frozenset(
    {".txt", ".text", ".md", ".markdown", ".csv", ".tsv", ".json", ".html", ".htm", ".xml"}
    | {".yaml", ".yml", ".log", ".rst", ".ini", ".toml"}
)
# Fields that change neither the output nor the identity of a processing: tracking ids, webhooks
# and the cache switches themselves.
_UNHASHED_RECORD_FIELDS = frozenset(
    {
        "correlation_id",
        "session_id",
        "parent_job_execution_id",
        "user_id",
        "project_id",
        "partitions",
        "webhook_url",
        "id",
        "status",
        "created_at",
        "updated_at",
        "effective_at",
        "error_message",
        "job_record_id",
    }
)
_UNHASHED_PARAMETERS = frozenset(
    {"webhook_url", "webhook_configurations", "invalidate_cache", "do_not_cache", "project_id"}
)
_STOPWORDS = frozenset(
    "the and for with that this from are was were has have had not but its into any all can "
    "will would there their about which when what who whom your you our they them these those "
    "been being also such than then over under more most some very each per via".split()
)


class UnreadableDocument(Exception):
    """The file cannot be read as its type; the message is the item's ``error_message``."""


@dataclass(frozen=True)
class OutcomeSettings:
    """The settings outcome rules depend on (a snapshot of the emulator's configuration)."""

    failure_patterns: tuple[str, ...] = ()
    transient_failure_patterns: tuple[str, ...] = ()
    failure_rate: float = 0.0
    seed: int = 0
    max_file_size_bytes: int | None = None


@dataclass(frozen=True)
class Outcome:
    """The final status of one processing and, when completed, its output."""

    status: str
    error_message: str | None = None
    skip_reason: str | None = None
    attempted: bool = False
    output: str | None = None
    output_suffix: str = ".md"
    output_metadata: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ config identity


def masked_config(config: BatchParseJobRecordCreate | ClassifyJobConfig) -> dict[str, Any]:
    """The config as the server stores and echoes it: wire names, secrets masked."""
    return config.model_dump(mode="json", by_alias=True, exclude_unset=True)


def parameters_hash(config: BatchParseJobRecordCreate | ClassifyJobConfig) -> str:
    """sha256 of the canonical config, without secrets, webhooks, tracking ids or cache switches.

    The same processing parameters always give the same hash, whatever the secret values,
    the key order or the job that carries them.
    """
    data = _without_secrets(config.model_dump(by_alias=True, exclude_unset=True))
    kind = "classify" if isinstance(config, ClassifyJobConfig) else "parse"
    data = {k: v for k, v in data.items() if k not in _UNHASHED_RECORD_FIELDS}
    params = data.get("parameters")
    if isinstance(params, dict):
        data["parameters"] = {k: v for k, v in params.items() if k not in _UNHASHED_PARAMETERS}
    canonical = json.dumps({"type": kind, "config": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _without_secrets(value: Any) -> Any:
    # A python-mode dump keeps secrets as SecretStr: drop them (and explicit nulls, which mean
    # the same as unset), and make the rest JSON-ready.
    if isinstance(value, dict):
        return {
            k: _without_secrets(v)
            for k, v in value.items()
            if v is not None and not isinstance(v, SecretStr)
        }
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value if not isinstance(v, SecretStr)]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def cache_flags(config: BatchParseJobRecordCreate | ClassifyJobConfig) -> tuple[bool, bool]:
    """``(look_up, store)``: whether earlier results may be reused, and this one kept for reuse.

    ``invalidate_cache`` reprocesses but keeps the new result; ``do_not_cache`` neither reuses nor
    keeps.
    """
    if isinstance(config, BatchParseJobRecordCreate) and config.parameters is not None:
        params = config.parameters
        if params.do_not_cache:
            return False, False
        if params.invalidate_cache:
            return False, True
    return True, True


# ------------------------------------------------------------------ reading documents


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _decode_text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            f"Failed to read {name}: invalid UTF-8 at byte {exc.start} ({exc.reason}); "
            "the file is corrupted or not a text file"
        ) from None


class _HTMLText(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "section", "article", "table", "ul", "ol"})
    _SKIP = frozenset({"script", "style", "head", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._skip = 0
        self._prefix = ""

    def _flush(self) -> None:
        text = " ".join("".join(self._current).split())
        if text:
            self.lines.append(self._prefix + text)
        self._current = []
        self._prefix = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._prefix = "#" * int(tag[1]) + " "
        elif tag in self._BLOCKS:
            self._flush()
            if tag == "li":
                self._prefix = "- "

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def text(self) -> str:
        self._flush()
        return "\n\n".join(self.lines)


_PDF_TEXT = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*(?:Tj|')")
_PDF_ARRAY = re.compile(rb"\[((?:\\.|[^\]])*)\]\s*TJ")
_PDF_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\)")


def _pdf_unescape(raw: bytes) -> str:
    text = re.sub(rb"\\([nrtbf()\\])", lambda m: m.group(1), raw)
    return text.decode("latin-1")


def _pdf_text(name: str, data: bytes) -> str:
    if not data.lstrip()[:5] == b"%PDF-":
        raise UnreadableDocument(
            f"Failed to parse {name}: not a valid PDF (no %PDF- header); "
            "the file is corrupted or has the wrong extension"
        )
    parts = [_pdf_unescape(m.group(1)) for m in _PDF_TEXT.finditer(data)]
    for array in _PDF_ARRAY.finditer(data):
        parts.append("".join(_pdf_unescape(s) for s in _PDF_STRING.findall(array.group(1))))
    return "\n".join(p for p in parts if p.strip())


def document_text(name: str, data: bytes) -> str:
    """The document's plain text, as classification sees it.

    Raises:
        UnreadableDocument: empty file, a ``.pdf`` without ``%PDF-``, invalid UTF-8 in a text
            type, or a ``.json`` that does not parse.
    """
    if not data:
        raise UnreadableDocument(f"Failed to parse {name}: the file is empty (0 bytes)")
    suffix = _suffix(name)
    if suffix == ".pdf":
        return _pdf_text(name, data)
    if suffix in TEXT_SUFFIXES:
        text = _decode_text(name, data)
        if suffix in (".html", ".htm"):
            parser = _HTMLText()
            parser.feed(text)
            return parser.text()
        if suffix == ".json":
            _load_json(name, text)
        return text
    # Binary formats (images, office files): the emulator has no OCR; their text is the name.
    return PurePosixPath(name).stem.replace("_", " ").replace("-", " ")


def _load_json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableDocument(
            f"Failed to parse {name}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def _markdown_table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    width = max(len(r) for r in rows)

    def cells(row: list[str]) -> str:
        padded = [c.replace("|", "\\|").replace("\n", " ").strip() for c in row]
        padded += [""] * (width - len(row))
        return "| " + " | ".join(padded) + " |"

    lines = [cells(rows[0]), "|" + "---|" * width]
    lines.extend(cells(r) for r in rows[1:])
    return "\n".join(lines)


def render_markdown(name: str, data: bytes) -> str:
    """A markdown rendering of the document (what a parse job writes as its output).

    Text and markdown are kept as they are; CSV/TSV become a table; JSON is pretty-printed in a
    fenced block; HTML loses its tags but keeps headings and paragraphs; PDFs give their text
    objects; binary formats give a one-line placeholder.

    Example:
        ```python
        from prefect_llamabatch.emulator.outcomes import render_markdown

        assert render_markdown("t.csv", b"a,b\\n1,2\\n").startswith("| a | b |")
        ```

    Raises:
        UnreadableDocument: see :func:`document_text`.
    """
    text = document_text(name, data)
    suffix = _suffix(name)
    if suffix in (".csv", ".tsv"):
        dialect = "excel-tab" if suffix == ".tsv" else "excel"
        rows = [r for r in csv.reader(io.StringIO(text), dialect=dialect) if r]
        return _markdown_table(rows) + "\n"
    if suffix == ".json":
        pretty = json.dumps(_load_json(name, text), indent=2, ensure_ascii=False)
        return f"```json\n{pretty}\n```\n"
    if suffix == ".xml":
        return f"```xml\n{text.strip()}\n```\n"
    if suffix == ".pdf" or suffix in TEXT_SUFFIXES:
        return text.strip() + "\n"
    return (
        f"# {PurePosixPath(name).name}\n\n_Binary document ({len(data)} bytes); no text layer._\n"
    )


# ------------------------------------------------------------------ classification


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2} - _STOPWORDS


def classify_text(text: str, rules: list[ClassifierRule]) -> tuple[str, float, str]:
    """Pick the rule whose description (and type) shares the most words with the text.

    Score = shared words / words of the rule; ties go to the earlier rule, and a text sharing no
    word with any rule gets the first rule with confidence 0.

    Returns:
        ``(type, confidence, reasoning)``.
    """
    doc = _words(text)
    best_index, best_score, best_shared = 0, 0.0, set[str]()
    for index, rule in enumerate(rules):
        vocabulary = _words(rule.description) | _words(rule.type)
        if not vocabulary:
            continue
        shared = vocabulary & doc
        score = len(shared) / len(vocabulary)
        if score > best_score:
            best_index, best_score, best_shared = index, score, shared
    chosen = rules[best_index]
    reasoning = (
        f"Matched words: {', '.join(sorted(best_shared))}"
        if best_shared
        else "No rule's words appear in the document; defaulted to the first rule"
    )
    return chosen.type, round(best_score, 3), reasoning


# ------------------------------------------------------------------ the rules


def matches_any(name: str, patterns: tuple[str, ...]) -> str | None:
    """The first glob (case-sensitive, on the file name) that matches, or None."""
    base = PurePosixPath(name).name
    for pattern in patterns:
        if fnmatchcase(name, pattern) or fnmatchcase(base, pattern):
            return pattern
    return None


def seeded_fraction(seed: int, name: str) -> float:
    """A number in [0, 1) fixed by the seed and the file name (same inputs, same number)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def decide_outcome(
    *,
    name: str,
    size: int,
    data: bytes | None,
    config: BatchParseJobRecordCreate | ClassifyJobConfig,
    settings: OutcomeSettings,
    previous_attempts: int,
    cached: bool,
) -> Outcome:
    """Apply the outcome rules, in their documented order, to one item.

    1. above ``max_file_size_bytes`` → skipped ``size_limit_exceeded``;
    2. an earlier successful processing with the same parameters hash → skipped
       ``already_processed`` (``cached`` is computed by the caller from the cache switches);
    3. name matches ``failure_patterns`` → failed;
    4. name matches ``transient_failure_patterns`` and this is the file's first processing → failed;
    5. empty or unreadable as its type → failed;
    6. the seeded ``failure_rate`` draw for this name → failed;
    7. otherwise completed, with a markdown rendering (parse) or a classification (classify).

    ``data`` may be None only when rule 1 or 2 applies (the caller reads the file lazily).
    """
    limit = settings.max_file_size_bytes
    if limit is not None and size > limit:
        return Outcome("skipped", skip_reason="size_limit_exceeded")
    if cached:
        return Outcome("skipped", skip_reason="already_processed")
    assert data is not None, "data is needed past the skip rules"
    pattern = matches_any(name, settings.failure_patterns)
    if pattern is not None:
        return Outcome(
            "failed",
            attempted=True,
            error_message=f"Failed to process {name}: document could not be parsed "
            f"(emulated permanent failure, pattern {pattern!r})",
        )
    pattern = matches_any(name, settings.transient_failure_patterns)
    if pattern is not None and previous_attempts == 0:
        return Outcome(
            "failed",
            attempted=True,
            error_message=f"Failed to process {name}: worker timed out "
            f"(emulated transient failure, pattern {pattern!r}; a retry succeeds)",
        )
    try:
        if isinstance(config, ClassifyJobConfig):
            text = document_text(name, data)
        else:
            markdown = render_markdown(name, data)
    except UnreadableDocument as exc:
        return Outcome("failed", attempted=True, error_message=str(exc))
    if settings.failure_rate > 0 and seeded_fraction(settings.seed, name) < settings.failure_rate:
        return Outcome(
            "failed",
            attempted=True,
            error_message=f"Failed to process {name}: internal parsing error "
            "(emulated by the seeded failure_rate)",
        )
    if isinstance(config, ClassifyJobConfig):
        kind, confidence, reasoning = classify_text(text, config.rules)
        result = {"type": kind, "confidence": confidence, "reasoning": reasoning}
        return Outcome(
            "completed",
            attempted=True,
            output=json.dumps(result, indent=2) + "\n",
            output_suffix=".json",
            output_metadata=result,
        )
    return Outcome("completed", attempted=True, output=markdown)
