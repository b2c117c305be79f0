"""Wire models of the LlamaCloud beta batch-processing and directories APIs.

One set of pydantic v2 models serves the client (requests it sends, responses it parses) and the
emulator (requests it accepts, responses it returns).

Two families, with opposite rules:

* **Requests** (``BatchJobCreate``, ``BatchParseJobConfig`` …) are strict: an unknown field is an error
  naming it and the closest valid name, and bounds are checked at construction, before any HTTP call.
* **Responses** (``BatchJob``, ``JobItem`` …) are tolerant: unknown fields are kept, and an enum value
  the server adds later parses and is kept as its raw string.

Secret-bearing parse options are ``SecretStr``: masked in ``repr``/``str``/``model_dump()``, revealed
only by :meth:`WireModel.to_wire`, which builds the request body.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "TERMINAL_ITEM_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "BatchCancelRequest",
    "BatchCancelResponse",
    "BatchJob",
    "BatchJobCreate",
    "BatchJobList",
    "BatchJobStatus",
    "BatchParseJobConfig",
    "BatchParseJobRecordCreate",
    "ClassifierRule",
    "ClassifyJobConfig",
    "ClassifyJobStatus",
    "ClassifyMode",
    "ClassifyParsingConfiguration",
    "Directory",
    "DirectoryCreate",
    "DirectoryFile",
    "DirectoryFileAdd",
    "DirectoryFileList",
    "DirectoryList",
    "DirectoryType",
    "DirectoryUpdate",
    "FailPageMode",
    "ImageToSave",
    "ItemProcessingResults",
    "ItemStatus",
    "JobConfig",
    "JobItem",
    "JobItemList",
    "JobStatus",
    "JobType",
    "ListItemsQuery",
    "ListJobsQuery",
    "ParseMode",
    "ParsingLanguage",
    "PresignedURL",
    "Priority",
    "ProcessingResult",
    "ProxyURL",
    "WebhookConfiguration",
    "WebhookEvent",
    "WebhookOutputFormat",
    "WireModel",
    "check_known_fields",
    "is_terminal_job_status",
    "job_config_type",
]

MASK = "**********"
LENIENT = "lenient"
REVEAL_SECRETS = "reveal_secrets"


# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class JobStatus(str, Enum):
    """Status of a batch job. ``dispatched`` is not terminal."""

    PENDING = "pending"
    RUNNING = "running"
    DISPATCHED = "dispatched"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemStatus(str, Enum):
    """Status of one item (directory file) of a batch job."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class JobType(str, Enum):
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


def is_terminal_job_status(status: JobStatus | str) -> bool:
    """Whether a job status is final. Unknown (newer) statuses are not."""
    value = status.value if isinstance(status, Enum) else status
    return value in TERMINAL_JOB_STATUSES


class ParseMode(str, Enum):
    """How LlamaParse parses a document (``parse_mode``)."""

    PARSE_PAGE_WITHOUT_LLM = "parse_page_without_llm"
    PARSE_PAGE_WITH_LLM = "parse_page_with_llm"
    PARSE_PAGE_WITH_LVM = "parse_page_with_lvm"
    PARSE_PAGE_WITH_AGENT = "parse_page_with_agent"
    PARSE_PAGE_WITH_LAYOUT_AGENT = "parse_page_with_layout_agent"
    PARSE_DOCUMENT_WITH_LLM = "parse_document_with_llm"
    PARSE_DOCUMENT_WITH_LVM = "parse_document_with_lvm"
    PARSE_DOCUMENT_WITH_AGENT = "parse_document_with_agent"


class Priority(str, Enum):
    """Request priority; may be ignored depending on the organization tier."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ImageToSave(str, Enum):
    """Kinds of images to save (``images_to_save``)."""

    SCREENSHOT = "screenshot"
    EMBEDDED = "embedded"
    LAYOUT = "layout"


class FailPageMode(str, Enum):
    """What replaces a page that failed to parse (``replace_failed_page_mode``)."""

    RAW_TEXT = "raw_text"
    BLANK_PAGE = "blank_page"
    ERROR_MESSAGE = "error_message"


class WebhookEvent(str, Enum):
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


class WebhookOutputFormat(str, Enum):
    """Body format of webhook deliveries."""

    STRING = "string"
    JSON = "json"


class ClassifyMode(str, Enum):
    """Classification mode of a classify job."""

    FAST = "FAST"
    MULTIMODAL = "MULTIMODAL"


class ClassifyJobStatus(str, Enum):
    """Status of a classify job record (capitalised on the wire, unlike batch statuses)."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    CANCELLED = "CANCELLED"


class DirectoryType(str, Enum):
    """Kind of directory; ``ephemeral`` ones are meant for batch processing and expire."""

    EPHEMERAL = "ephemeral"
    INDEX = "index"
    USER = "user"


class ParsingLanguage(str, Enum):
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
    model_config = ConfigDict(extra="allow", populate_by_name=True, hide_input_in_errors=True)


JobStatusValue = Annotated[Union[JobStatus, str], Field(union_mode="left_to_right")]
ItemStatusValue = Annotated[Union[ItemStatus, str], Field(union_mode="left_to_right")]
JobTypeValue = Annotated[Union[JobType, str], Field(union_mode="left_to_right")]
DirectoryTypeValue = Annotated[Union[DirectoryType, str], Field(union_mode="left_to_right")]
ClassifyJobStatusValue = Annotated[Union[ClassifyJobStatus, str], Field(union_mode="left_to_right")]

NonEmptyStr = Annotated[str, Field(min_length=1)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(gt=0)]


# --------------------------------------------------------------------------------------------
# Parse job configuration
# --------------------------------------------------------------------------------------------


class WebhookConfiguration(WireModel):
    """An outbound webhook notified on job status changes. ``webhook_headers`` values are secrets."""

    webhook_url: str | None = None
    webhook_events: list[WebhookEvent] | None = Field(
        default=None, description="Events to deliver; null means all events."
    )
    webhook_headers: dict[str, Secret] | None = None
    webhook_output_format: WebhookOutputFormat | None = None
    webhook_signing_secret: Secret | None = None

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("webhook_url must be an http(s) URL")
        return value


class BatchParseJobConfig(WireModel):
    """Parse parameters applied to every file of a batch (``job_config.parameters``).

    Every option of LlamaParse's batch configuration, typed. Secret-bearing options
    (``azure_openai_key``, ``gpt4o_api_key``, ``vendor_multimodal_api_key``, ``http_proxy``
    credentials, webhook headers) are masked in every display.

    Example:
        ```python
        from prefect_llamabatch.models import BatchParseJobConfig, ParseMode

        params = BatchParseJobConfig(parse_mode=ParseMode.PARSE_PAGE_WITH_LLM, languages=["en"])
        assert params.to_wire() == {"parse_mode": "parse_page_with_llm", "languages": ["en"]}
        ```
    """

    adaptive_long_table: bool | None = None
    aggressive_table_extraction: bool | None = None
    annotate_links: bool | None = None
    auto_mode: bool | None = None
    auto_mode_configuration_json: str | None = None
    auto_mode_trigger_on_image_in_page: bool | None = None
    auto_mode_trigger_on_regexp_in_page: str | None = None
    auto_mode_trigger_on_table_in_page: bool | None = None
    auto_mode_trigger_on_text_in_page: str | None = None
    azure_openai_api_version: str | None = None
    azure_openai_deployment_name: str | None = None
    azure_openai_endpoint: str | None = None
    azure_openai_key: Secret | None = None
    bbox_bottom: Fraction | None = None
    bbox_left: Fraction | None = None
    bbox_right: Fraction | None = None
    bbox_top: Fraction | None = None
    bounding_box: str | None = None
    compact_markdown_table: bool | None = None
    complemental_formatting_instruction: str | None = None
    confidence_score_effort: str | None = None
    content_guideline_instruction: str | None = None
    continuous_mode: bool | None = None
    custom_metadata: dict[str, Any] | None = None
    disable_image_extraction: bool | None = None
    disable_ocr: bool | None = None
    disable_reconstruction: bool | None = None
    do_not_cache: bool | None = None
    do_not_unroll_columns: bool | None = None
    enable_cost_optimizer: bool | None = None
    extract_charts: bool | None = None
    extract_layout: bool | None = None
    extract_printed_page_number: bool | None = None
    fast_mode: bool | None = None
    formatting_instruction: str | None = None
    gpt4o_api_key: Secret | None = None
    gpt4o_mode: bool | None = None
    guess_xlsx_sheet_name: bool | None = None
    hide_footers: bool | None = None
    hide_headers: bool | None = None
    high_res_ocr: bool | None = None
    html_make_all_elements_visible: bool | None = None
    html_remove_fixed_elements: bool | None = None
    html_remove_navigation_elements: bool | None = None
    http_proxy: SecretProxyURL | None = None
    ignore_document_elements_for_layout_detection: bool | None = None
    images_to_save: list[ImageToSave] | None = None
    inline_images_in_markdown: bool | None = None
    input_s3_path: str | None = None
    input_s3_region: str | None = None
    input_url: str | None = None
    internal_is_screenshot_job: bool | None = None
    invalidate_cache: bool | None = None
    is_formatting_instruction: bool | None = None
    job_timeout_extra_time_per_page_in_seconds: NonNegativeFloat | None = None
    job_timeout_in_seconds: NonNegativeFloat | None = None
    keep_page_separator_when_merging_tables: bool | None = None
    lang: str | None = None
    languages: list[ParsingLanguage] | None = None
    layout_aware: bool | None = None
    line_level_bounding_box: bool | None = None
    markdown_table_multiline_header_separator: str | None = None
    max_pages: NonNegativeInt | None = None
    max_pages_enforced: NonNegativeInt | None = None
    merge_tables_across_pages_in_markdown: bool | None = None
    model: str | None = None
    outlined_table_extraction: bool | None = None
    output_pdf_of_document: bool | None = None
    output_s3_path_prefix: str | None = None
    output_s3_region: str | None = None
    output_tables_as_html: bool | None = Field(default=None, alias="output_tables_as_HTML")
    output_bucket: str | None = Field(default=None, alias="outputBucket")
    page_error_tolerance: Fraction | None = None
    page_footer_prefix: str | None = None
    page_footer_suffix: str | None = None
    page_header_prefix: str | None = None
    page_header_suffix: str | None = None
    page_prefix: str | None = None
    page_separator: str | None = None
    page_suffix: str | None = None
    parse_mode: ParseMode | None = None
    parsing_instruction: str | None = None
    pipeline_id: str | None = None
    precise_bounding_box: bool | None = None
    premium_mode: bool | None = None
    presentation_out_of_bounds_content: bool | None = None
    presentation_skip_embedded_data: bool | None = None
    preserve_layout_alignment_across_pages: bool | None = None
    preserve_very_small_text: bool | None = None
    preset: str | None = None
    priority: Priority | None = None
    project_id: str | None = None
    remove_hidden_text: bool | None = None
    replace_failed_page_mode: FailPageMode | None = None
    replace_failed_page_with_error_message_prefix: str | None = None
    replace_failed_page_with_error_message_suffix: str | None = None
    resource_info: dict[str, Any] | None = None
    save_images: bool | None = None
    skip_diagonal_text: bool | None = None
    specialized_chart_parsing_agentic: bool | None = None
    specialized_chart_parsing_efficient: bool | None = None
    specialized_chart_parsing_plus: bool | None = None
    specialized_image_parsing: bool | None = None
    spreadsheet_extract_sub_tables: bool | None = None
    spreadsheet_force_formula_computation: bool | None = None
    spreadsheet_include_hidden_sheets: bool | None = None
    strict_mode_buggy_font: bool | None = None
    strict_mode_image_extraction: bool | None = None
    strict_mode_image_ocr: bool | None = None
    strict_mode_reconstruction: bool | None = None
    structured_output: bool | None = None
    structured_output_json_schema: str | None = None
    structured_output_json_schema_name: str | None = None
    system_prompt: str | None = None
    system_prompt_append: str | None = None
    take_screenshot: bool | None = None
    target_pages: str | None = None
    tier: str | None = None
    type: Literal["parse"] | None = None
    use_vendor_multimodal_model: bool | None = None
    user_prompt: str | None = None
    vendor_multimodal_api_key: Secret | None = None
    vendor_multimodal_model_name: str | None = None
    version: str | None = None
    webhook_configurations: list[WebhookConfiguration] | None = None
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _check_bbox(self) -> BatchParseJobConfig:
        # Margins are fractions of the page cut from each side; together they must leave a page.
        for low, high in (("bbox_top", "bbox_bottom"), ("bbox_left", "bbox_right")):
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a + b >= 1.0:
                raise ValueError(f"{low} + {high} must be < 1 (they are margins cut from the page)")
        return self


class BatchParseJobRecordCreate(WireModel):
    """A parse job config (``job_config`` union member). ``{}`` is a valid, default parse job.

    Example:
        ```python
        from prefect_llamabatch.models import BatchParseJobRecordCreate

        config = BatchParseJobRecordCreate.model_validate({"parameters": {"fast_mode": True}})
        assert config.to_wire() == {"parameters": {"fast_mode": True}}
        ```
    """

    job_name: Literal["parse_raw_file_job"] | None = None
    parameters: BatchParseJobConfig | None = None
    correlation_id: str | None = None
    parent_job_execution_id: str | None = None
    partitions: dict[str, str] | None = None
    project_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    webhook_url: str | None = None


class ClassifierRule(WireModel):
    """One classification rule: the ``type`` to assign when ``description`` matches."""

    type: NonEmptyStr
    description: NonEmptyStr


class ClassifyParsingConfiguration(WireModel):
    """How documents are parsed before classification."""

    lang: ParsingLanguage | None = None
    max_pages: NonNegativeInt | None = None
    target_pages: list[NonNegativeInt] | None = None


class ClassifyJobConfig(WireModel):
    """A classify job config (``job_config`` union member, a ``ClassifyJob`` record on the wire).

    Only ``rules`` is needed to create one; the record fields are filled by the server.

    Example:
        ```python
        from prefect_llamabatch.models import ClassifyJobConfig

        config = ClassifyJobConfig(rules=[{"type": "invoice", "description": "bills with totals"}])
        ```
    """

    rules: list[ClassifierRule] = Field(min_length=1)
    mode: ClassifyMode | None = None
    parsing_configuration: ClassifyParsingConfiguration | None = None
    id: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    status: ClassifyJobStatusValue | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    effective_at: datetime | None = None
    error_message: str | None = None
    job_record_id: str | None = None

    @field_validator("rules")
    @classmethod
    def _unique_types(cls, rules: list[ClassifierRule]) -> list[ClassifierRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.type in seen:
                raise ValueError(f"rules: type {rule.type!r} appears more than once")
            seen.add(rule.type)
        return rules


def job_config_type(value: Any) -> str:
    """Which union member a ``job_config`` is: ``classify`` when it carries ``rules``, else ``parse``."""
    if isinstance(value, ClassifyJobConfig):
        return "classify"
    if isinstance(value, dict) and "rules" in value:
        return "classify"
    return "parse"


JobConfig = Annotated[
    Union[
        Annotated[BatchParseJobRecordCreate, Tag("parse")],
        Annotated[ClassifyJobConfig, Tag("classify")],
    ],
    Discriminator(job_config_type),
]


# --------------------------------------------------------------------------------------------
# Batch requests
# --------------------------------------------------------------------------------------------


class BatchJobCreate(WireModel):
    """Body of ``POST /api/v1/beta/batch-processing``: exactly one of ``directory_id``/``item_ids``.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJobCreate

        body = BatchJobCreate(directory_id="dir-123", job_config={})
        assert body.to_wire() == {"directory_id": "dir-123", "job_config": {}}
        ```
    """

    job_config: JobConfig
    directory_id: NonEmptyStr | None = None
    item_ids: list[NonEmptyStr] | None = None
    page_size: PositiveInt | None = None
    continue_as_new_threshold: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_source(self) -> BatchJobCreate:
        if self.directory_id is not None and self.item_ids is not None:
            raise ValueError("give exactly one of 'directory_id' or 'item_ids', not both")
        if self.directory_id is None and self.item_ids is None:
            raise ValueError("give exactly one of 'directory_id' or 'item_ids'; neither was given")
        if self.item_ids is not None:
            if not self.item_ids:
                raise ValueError(
                    "item_ids is empty: give at least one item id, or use directory_id"
                )
            seen: set[str] = set()
            dupes = sorted({i for i in self.item_ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
            if dupes:
                raise ValueError(f"item_ids contains duplicates: {', '.join(map(repr, dupes))}")
        return self

    @property
    def job_type(self) -> JobType:
        """The job type this body creates."""
        return JobType.CLASSIFY if isinstance(self.job_config, ClassifyJobConfig) else JobType.PARSE


class BatchCancelRequest(WireModel):
    """Body of ``POST /api/v1/beta/batch-processing/{job_id}/cancel``."""

    reason: str | None = None


class ListJobsQuery(WireModel):
    """Query of ``GET /api/v1/beta/batch-processing``."""

    directory_id: NonEmptyStr | None = None
    job_type: JobType | None = None
    status: JobStatus | None = None
    limit: PositiveInt | None = None
    offset: NonNegativeInt | None = None


class ListItemsQuery(WireModel):
    """Query of ``GET /api/v1/beta/batch-processing/{job_id}/items``."""

    status: ItemStatus | None = None
    limit: PositiveInt | None = None
    offset: NonNegativeInt | None = None


# --------------------------------------------------------------------------------------------
# Batch responses
# --------------------------------------------------------------------------------------------


class BatchJob(ResponseModel):
    """A batch job record (create and list responses, and ``job`` of the status response)."""

    id: str
    job_type: JobTypeValue
    project_id: str
    status: JobStatusValue
    total_items: int
    completed_at: datetime | None = None
    created_at: datetime | None = None
    directory_id: str | None = None
    effective_at: datetime | None = None
    error_message: str | None = None
    failed_items: int | None = None
    job_record_id: str | None = None
    processed_items: int | None = None
    skipped_items: int | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    workflow_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the job reached a final status (unknown statuses are not final)."""
        return is_terminal_job_status(self.status)

    @property
    def status_value(self) -> str:
        """The status as its wire string, known or not."""
        return self.status.value if isinstance(self.status, Enum) else str(self.status)


class BatchJobStatus(ResponseModel):
    """Response of ``GET /api/v1/beta/batch-processing/{job_id}``."""

    job: BatchJob
    progress_percentage: float = 0.0


class BatchJobList(ResponseModel):
    """One page of ``GET /api/v1/beta/batch-processing``."""

    items: list[BatchJob] = Field(default_factory=list)
    total_size: int | None = None
    next_page_token: str | None = None


class BatchCancelResponse(ResponseModel):
    """Response of the cancel endpoint."""

    job_id: str
    message: str = ""
    processed_items: int = 0
    status: JobStatusValue


class JobItem(ResponseModel):
    """One item (directory file) of a batch job, with its own underlying ``job_id``."""

    item_id: str
    item_name: str
    status: ItemStatusValue
    completed_at: datetime | None = None
    effective_at: datetime | None = None
    error_message: str | None = None
    job_id: str | None = None
    job_record_id: str | None = None
    skip_reason: str | None = None
    started_at: datetime | None = None

    @property
    def status_value(self) -> str:
        """The status as its wire string, known or not."""
        return self.status.value if isinstance(self.status, Enum) else str(self.status)


class JobItemList(ResponseModel):
    """One page of ``GET /api/v1/beta/batch-processing/{job_id}/items``."""

    items: list[JobItem] = Field(default_factory=list)
    total_size: int | None = None
    next_page_token: str | None = None


def _lenient_job_config(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value
    return _JOB_CONFIG_ADAPTER.validate_python(value, context={LENIENT: True})


class ProcessingResult(ResponseModel):
    """One processing of an item: the config used, where the output is, and its params hash."""

    item_id: str
    job_config: JobConfig
    job_type: JobTypeValue
    output_s3_path: str
    parameters_hash: str
    processed_at: datetime
    result_id: str
    output_metadata: dict[str, Any] | None = None

    @field_validator("job_config", mode="before")
    @classmethod
    def _tolerate_newer_config(cls, value: Any) -> Any:
        # The server echoes the config; a field it added later must not break parsing.
        return _lenient_job_config(value)


class ItemProcessingResults(ResponseModel):
    """Response of ``GET /api/v1/beta/batch-processing/items/{item_id}/processing-results``."""

    item_id: str
    item_name: str
    processing_results: list[ProcessingResult] | None = None


# --------------------------------------------------------------------------------------------
# Directories
# --------------------------------------------------------------------------------------------


class DirectoryCreate(WireModel):
    """Body of ``POST /api/v1/beta/directories``."""

    name: NonEmptyStr
    description: str | None = None
    system_metadata: dict[str, Any] | None = None
    type: Literal["ephemeral", "user"] | None = None


class DirectoryUpdate(WireModel):
    """Body of ``PATCH /api/v1/beta/directories/{directory_id}``."""

    name: NonEmptyStr | None = None
    description: str | None = None


class Directory(ResponseModel):
    """A directory of files a batch job can process."""

    id: str
    name: str
    project_id: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    description: str | None = None
    expires_at: datetime | None = None
    system_metadata: dict[str, Any] | None = None
    type: DirectoryTypeValue | None = None


class DirectoryList(ResponseModel):
    """One page of directories (cursor pagination)."""

    items: list[Directory] = Field(default_factory=list)
    next_page_token: str | None = None


class PresignedURL(ResponseModel):
    """A time-limited download URL."""

    url: str
    expires_at: datetime | None = None
    form_fields: dict[str, str] | None = None


FileMetadataValue = Union[str, int, float, bool, None, list[str]]


class DirectoryFileAdd(WireModel):
    """Body of ``POST /api/v1/beta/directories/{directory_id}/files`` (an already uploaded file)."""

    file_id: NonEmptyStr
    display_name: NonEmptyStr | None = None
    metadata: dict[str, FileMetadataValue] | None = None
    unique_id: NonEmptyStr | None = None


class DirectoryFile(ResponseModel):
    """A file in a directory; its ``id`` (``dfl-…``) is what the batch API calls an item."""

    id: str
    directory_id: str
    display_name: str
    project_id: str
    unique_id: str
    file_id: str | None = None
    metadata: dict[str, Any] | None = None
    download_url: PresignedURL | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class DirectoryFileList(ResponseModel):
    """One page of a directory's files (cursor pagination)."""

    items: list[DirectoryFile] = Field(default_factory=list)
    next_page_token: str | None = None


_JOB_CONFIG_ADAPTER: TypeAdapter[BatchParseJobRecordCreate | ClassifyJobConfig] = TypeAdapter(
    JobConfig
)
