"""Enumerations of the v1 batch and directories APIs, and the terminal status sets."""

from __future__ import annotations

from enum import Enum
from functools import cache
from typing import TypeVar

E = TypeVar("E", bound=Enum)

# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class WireEnum(str, Enum):
    """A string enum that prints as its API string: ``f"{JobType.PARSE}"`` is ``parse``.

    Plain ``(str, Enum)`` members print as ``JobType.PARSE`` (Python 3.11+), which then shows
    up in logs, artifacts and exports; the API's spelling is what users search for.

    Example:
        ```python
        from prefect_llamabatch.models import JobType

        assert f"{JobType.PARSE}" == str(JobType.PARSE) == "parse"
        ```
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)


class JobStatus(WireEnum):
    """Status of a batch job. ``dispatched`` is not terminal."""

    PENDING = "pending"
    RUNNING = "running"
    DISPATCHED = "dispatched"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemStatus(WireEnum):
    """Status of one item (directory file) of a batch job."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class JobType(WireEnum):
    """Kind of processing a batch job performs."""

    PARSE = "parse"
    EXTRACT = "extract"
    CLASSIFY = "classify"


TERMINAL_JOB_STATUSES: frozenset[str] = frozenset(
    {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value}
)
TERMINAL_ITEM_STATUSES: frozenset[str] = frozenset(
    {
        ItemStatus.COMPLETED.value,
        ItemStatus.FAILED.value,
        ItemStatus.SKIPPED.value,
        ItemStatus.CANCELLED.value,
    }
)


# The US spelling, as other LlamaCloud APIs and many proxies write it.
_SPELLINGS = {"canceled": "cancelled"}


@cache
def _members_by_spelling(cls: type[Enum]) -> dict[str, Enum]:
    return {str(member.value).lower(): member for member in cls}


def normalize_status(cls: type[E], value: object) -> E | object:
    """The member of ``cls`` that ``value`` spells, else ``value`` unchanged (kept raw).

    Case, surrounding whitespace and the spelling ``canceled`` are ignored, so a server that
    sends ``COMPLETED`` or ``"completed "`` still ends a wait; an unknown status is left as sent
    and is never final.

    Example:
        ```python
        from prefect_llamabatch.models import JobStatus, normalize_status

        assert normalize_status(JobStatus, " Canceled ") is JobStatus.CANCELLED
        assert normalize_status(JobStatus, "paused") == "paused"
        ```
    """
    if isinstance(value, cls) or not isinstance(value, str):
        return value
    key = value.strip().lower()
    member = _members_by_spelling(cls).get(_SPELLINGS.get(key, key))
    return value if member is None else member


def is_terminal_job_status(status: JobStatus | str) -> bool:
    """Whether a job status is final (normalised first). Unknown (newer) statuses are not."""
    value = normalize_status(JobStatus, status)
    return isinstance(value, JobStatus) and value.value in TERMINAL_JOB_STATUSES


def is_terminal_item_status(status: ItemStatus | str) -> bool:
    """Whether an item status is final (normalised first). Unknown (newer) statuses are not."""
    value = normalize_status(ItemStatus, status)
    return isinstance(value, ItemStatus) and value.value in TERMINAL_ITEM_STATUSES


class ParseMode(WireEnum):
    """How LlamaParse parses a document (``parse_mode``)."""

    PARSE_PAGE_WITHOUT_LLM = "parse_page_without_llm"
    PARSE_PAGE_WITH_LLM = "parse_page_with_llm"
    PARSE_PAGE_WITH_LVM = "parse_page_with_lvm"
    PARSE_PAGE_WITH_AGENT = "parse_page_with_agent"
    PARSE_PAGE_WITH_LAYOUT_AGENT = "parse_page_with_layout_agent"
    PARSE_DOCUMENT_WITH_LLM = "parse_document_with_llm"
    PARSE_DOCUMENT_WITH_LVM = "parse_document_with_lvm"
    PARSE_DOCUMENT_WITH_AGENT = "parse_document_with_agent"


class Priority(WireEnum):
    """Request priority; may be ignored depending on the organization tier."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ImageToSave(WireEnum):
    """Kinds of images to save (``images_to_save``)."""

    SCREENSHOT = "screenshot"
    EMBEDDED = "embedded"
    LAYOUT = "layout"


class FailPageMode(WireEnum):
    """What replaces a page that failed to parse (``replace_failed_page_mode``)."""

    RAW_TEXT = "raw_text"
    BLANK_PAGE = "blank_page"
    ERROR_MESSAGE = "error_message"


class WebhookEvent(WireEnum):
    """Events a webhook can subscribe to."""

    EXTRACT_PENDING = "extract.pending"
    EXTRACT_SUCCESS = "extract.success"
    EXTRACT_ERROR = "extract.error"
    EXTRACT_PARTIAL_SUCCESS = "extract.partial_success"
    EXTRACT_CANCELLED = "extract.cancelled"
    PARSE_PENDING = "parse.pending"
    PARSE_RUNNING = "parse.running"
    PARSE_SUCCESS = "parse.success"
    PARSE_ERROR = "parse.error"
    PARSE_PARTIAL_SUCCESS = "parse.partial_success"
    PARSE_CANCELLED = "parse.cancelled"
    CLASSIFY_PENDING = "classify.pending"
    CLASSIFY_RUNNING = "classify.running"
    CLASSIFY_SUCCESS = "classify.success"
    CLASSIFY_ERROR = "classify.error"
    CLASSIFY_PARTIAL_SUCCESS = "classify.partial_success"
    CLASSIFY_CANCELLED = "classify.cancelled"
    SHEETS_PENDING = "sheets.pending"
    SHEETS_SUCCESS = "sheets.success"
    SHEETS_ERROR = "sheets.error"
    SHEETS_PARTIAL_SUCCESS = "sheets.partial_success"
    SHEETS_CANCELLED = "sheets.cancelled"
    # Newer API versions (llama-cloud 2.13 sends them); accepted so the official SDK's values pass.
    SPLIT_PENDING = "split.pending"
    SPLIT_PROCESSING = "split.processing"
    SPLIT_SUCCESS = "split.success"
    SPLIT_ERROR = "split.error"
    SPLIT_CANCELLED = "split.cancelled"
    UNMAPPED_EVENT = "unmapped_event"


class WebhookOutputFormat(WireEnum):
    """Body format of webhook deliveries."""

    STRING = "string"
    JSON = "json"


class ClassifyMode(WireEnum):
    """Classification mode of a classify job."""

    FAST = "FAST"
    MULTIMODAL = "MULTIMODAL"


class ClassifyJobStatus(WireEnum):
    """Status of a classify job record (capitalised on the wire, unlike batch statuses)."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    CANCELLED = "CANCELLED"


class DirectoryType(WireEnum):
    """Kind of directory; ``ephemeral`` ones are meant for batch processing and expire."""

    EPHEMERAL = "ephemeral"
    INDEX = "index"
    USER = "user"


class ParsingLanguage(WireEnum):
    """OCR / parsing languages accepted by ``languages`` and ``parsing_configuration.lang``."""

    AF = "af"
    AZ = "az"
    BS = "bs"
    CS = "cs"
    CY = "cy"
    DA = "da"
    DE = "de"
    EN = "en"
    ES = "es"
    ET = "et"
    FR = "fr"
    GA = "ga"
    HR = "hr"
    HU = "hu"
    ID = "id"
    IS = "is"
    IT = "it"
    KU = "ku"
    LA = "la"
    LT = "lt"
    LV = "lv"
    MI = "mi"
    MS = "ms"
    MT = "mt"
    NL = "nl"
    NO = "no"
    OC = "oc"
    PI = "pi"
    PL = "pl"
    PT = "pt"
    RO = "ro"
    RS_LATIN = "rs_latin"
    SK = "sk"
    SL = "sl"
    SQ = "sq"
    SV = "sv"
    SW = "sw"
    TL = "tl"
    TR = "tr"
    UZ = "uz"
    VI = "vi"
    AR = "ar"
    FA = "fa"
    UG = "ug"
    UR = "ur"
    BN = "bn"
    AS = "as"
    MNI = "mni"
    RU = "ru"
    RS_CYRILLIC = "rs_cyrillic"
    BE = "be"
    BG = "bg"
    UK = "uk"
    MN = "mn"
    ABQ = "abq"
    ADY = "ady"
    KBD = "kbd"
    AVA = "ava"
    DAR = "dar"
    INH = "inh"
    CHE = "che"
    LBE = "lbe"
    LEZ = "lez"
    TAB = "tab"
    TJK = "tjk"
    HI = "hi"
    MR = "mr"
    NE = "ne"
    BH = "bh"
    MAI = "mai"
    ANG = "ang"
    BHO = "bho"
    MAH = "mah"
    SCK = "sck"
    NEW = "new"
    GOM = "gom"
    SA = "sa"
    BGC = "bgc"
    TH = "th"
    CH_SIM = "ch_sim"
    CH_TRA = "ch_tra"
    JA = "ja"
    KO = "ko"
    TA = "ta"
    TE = "te"
    KN = "kn"
