"""Wire models of the LlamaCloud v2 APIs: batches, saved configurations, parse and extract jobs.

Field names, required fields and literal values follow the official ``llama-cloud`` SDK 2.19
types (``llama_cloud/types/batch_*.py``, ``configuration_*.py``, ``parse_v2_parameters*.py``,
``parsing_*.py``, ``extract_v2_*.py``). Two families, as in the v1 models:

* **Requests** (``BatchCreate``, ``ConfigurationCreate`` …) are strict: wrong types and missing
  required fields are refused exactly as the SDK's ``*Params`` types define them, and an unknown
  field is an error naming the closest valid one (unless validated with
  ``context={"lenient": True}``, as the emulator does, like a server that ignores what it does not
  know). ``parse_v2`` parameters are every option group of the SDK, generated from its types
  (``parse_parameters.py``).
* **Responses** (``Batch``, ``Configuration``, ``ParseJobResult`` …) keep unknown fields, so a field
  the service adds later does not break parsing. Status fields are the SDK's literals.

Example:
    ```python
    from prefect_llamabatch.models.v2 import BatchCreate

    body = BatchCreate.model_validate(
        {"config": {"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_AGENTIC"}},
         "source_directory_id": "dir-1"}
    )
    assert body.config.job.type == "parse_v2"
    ```
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.models.base import ResponseModel, WireModel
from prefect_llamabatch.models.v2.parse_parameters import ParseV2Parameters

__all__ = [
    "BATCH_STATUSES",
    "MAX_FILES_PER_BATCH",
    "PARSE_PRESETS",
    "TERMINAL_BATCH_STATUSES",
    "TERMINAL_V2_JOB_STATUSES",
    "Batch",
    "BatchConfig",
    "BatchCreate",
    "BatchJobSpec",
    "BatchJobType",
    "BatchListQuery",
    "BatchPage",
    "BatchResult",
    "BatchStatus",
    "ClassifyV2Parameters",
    "Configuration",
    "ConfigurationCreate",
    "ConfigurationListQuery",
    "ConfigurationPage",
    "ConfigurationParameters",
    "ConfigurationUpdate",
    "ExtractJob",
    "ExtractJobListQuery",
    "ExtractJobPage",
    "ExtractV2Parameters",
    "JobReference",
    "ParseJob",
    "ParseJobListQuery",
    "ParseJobPage",
    "ParseJobResult",
    "ParseTier",
    "ParseV2Parameters",
    "ProductType",
    "ResultContentMetadata",
    "SplitV1Parameters",
    "SpreadsheetV1Parameters",
    "UntypedParameters",
    "V2JobStatus",
    "V2WebhookConfiguration",
]

BatchStatus = Literal["CANCELLED", "COMPLETED", "FAILED", "PENDING", "RUNNING", "THROTTLED"]
V2JobStatus = Literal["CANCELLED", "COMPLETED", "FAILED", "PENDING", "RUNNING"]
BatchJobType = Literal["parse_v2", "extract_v2"]
ParseTier = Literal["agentic", "agentic_plus", "cost_effective", "fast"]
ProductType = Literal[
    "classify_v2", "extract_v2", "parse_v2", "split_v1", "spreadsheet_v1", "unknown"
]

BATCH_STATUSES: tuple[str, ...] = (
    "PENDING",
    "THROTTLED",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
)
TERMINAL_BATCH_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
TERMINAL_V2_JOB_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Public docs: a batch processes at most 1,000 source files.
MAX_FILES_PER_BATCH = 1000
# Built-in parse presets, one per tier (the SDK's examples use ``cfg-PARSE_AGENTIC``).
PARSE_PRESETS: dict[str, ParseTier] = {
    "cfg-PARSE_FAST": "fast",
    "cfg-PARSE_COST_EFFECTIVE": "cost_effective",
    "cfg-PARSE_AGENTIC": "agentic",
    "cfg-PARSE_AGENTIC_PLUS": "agentic_plus",
}


class _Request(WireModel):
    """A request body or query: an unknown field is an error naming the closest valid one
    (ignored when validated with ``context={"lenient": True}``, as the emulator does)."""


class _Response(ResponseModel):
    """A response: unknown fields are kept, so a field the service adds later parses."""


# ------------------------------------------------------------------ webhooks


class V2WebhookConfiguration(_Request):
    """One outbound webhook endpoint of a v2 batch or configuration (all fields optional)."""

    webhook_events: list[str] | None = None
    webhook_headers: dict[str, str] | None = None
    webhook_output_format: str | None = None
    webhook_signing_secret: str | None = None
    webhook_url: str | None = None


# ------------------------------------------------------------------ batches


class BatchJobSpec(BaseModel):
    """The job created for each file: its type and a configuration or preset id."""

    configuration_id: str
    type: BatchJobType


class BatchConfig(BaseModel):
    """A batch's configuration snapshot."""

    job: BatchJobSpec


class BatchCreate(_Request):
    """Body of ``POST /api/v2/batches`` (the SDK's ``BatchCreateParams``)."""

    config: BatchConfig
    source_directory_id: str
    webhook_configuration_ids: list[str] | None = None
    webhook_configurations: list[V2WebhookConfiguration] | None = None


class JobReference(_Response):
    """The per-file job a batch produced (``{type, id}``)."""

    id: str
    type: BatchJobType


class BatchResult(_Response):
    """One source file's mapping: its job, or the error that kept it from getting one."""

    source_directory_file_id: str
    error_message: str | None = None
    job_reference: JobReference | None = None


class Batch(_Response):
    """A v2 batch. ``results`` is filled only with ``expand=results``."""

    id: str
    config: BatchConfig
    project_id: str
    source_directory_id: str
    status: BatchStatus
    created_at: datetime | None = None
    results: list[BatchResult] | None = None
    updated_at: datetime | None = None


class BatchPage(_Response):
    """One cursor page of batches."""

    items: list[Batch]
    next_page_token: str | None = None


PageSize = Annotated[int, Field(ge=1, le=1000)]


class _PageQuery(_Request):
    organization_id: str | None = None
    project_id: str | None = None
    page_size: PageSize | None = None
    page_token: str | None = None


class BatchListQuery(_PageQuery):
    """Query of ``GET /api/v2/batches``."""

    source_directory_id: str | None = None
    status: BatchStatus | None = None
    created_at_on_or_after: datetime | None = None
    created_at_on_or_before: datetime | None = None


# ------------------------------------------------------------------ configurations


JSONValue = Union[dict[str, Any], list[Any], str, float, bool, None]


class ExtractV2Parameters(WireModel):
    """Parameters of an ``extract_v2`` configuration. ``data_schema`` is required."""

    product_type: Literal["extract_v2"]
    data_schema: dict[str, JSONValue]
    advanced_citations: bool | None = None
    cite_sources: bool | None = None
    confidence_scores: bool | None = None
    disable_cache: bool | None = None
    extraction_target: Literal["per_doc", "per_page", "per_table_row"] | None = None
    max_pages: int | None = None
    parse_config_id: str | None = None
    parse_tier: ParseTier | None = None
    sheet_names: list[str] | None = None
    spreadsheet_mode: bool | None = None
    system_prompt: str | None = None
    target_pages: str | None = None
    tier: Literal["agentic", "agentic_plus", "cost_effective", "turbo"] | None = None
    version: str | None = None


class ClassifyRuleV2(BaseModel):
    """A classification rule (``type`` and ``description``)."""

    description: str
    type: str


class ClassifyV2Parameters(BaseModel):
    """Parameters of a ``classify_v2`` configuration."""

    model_config = ConfigDict(extra="allow")

    product_type: Literal["classify_v2"]
    rules: list[ClassifyRuleV2]
    mode: Literal["FAST"] | None = None
    parsing_configuration: dict[str, Any] | None = None


class SplitV1Parameters(BaseModel):
    """Parameters of a ``split_v1`` configuration."""

    model_config = ConfigDict(extra="allow")

    product_type: Literal["split_v1"]
    categories: list[dict[str, Any]]


class SpreadsheetV1Parameters(BaseModel):
    """Parameters of a ``spreadsheet_v1`` configuration (all options optional)."""

    model_config = ConfigDict(extra="allow")

    product_type: Literal["spreadsheet_v1"]
    tier: Literal["agentic", "cost_effective"] | None = None


class UntypedParameters(BaseModel):
    """Catch-all parameters (``product_type: unknown``) with arbitrary fields."""

    model_config = ConfigDict(extra="allow")

    product_type: Literal["unknown"]


ConfigurationParameters = Annotated[
    Union[
        ParseV2Parameters,
        ExtractV2Parameters,
        ClassifyV2Parameters,
        SplitV1Parameters,
        SpreadsheetV1Parameters,
        UntypedParameters,
    ],
    Field(discriminator="product_type"),
]


class ConfigurationCreate(_Request):
    """Body of ``POST /api/v1/beta/configurations``: an upsert by name, product type and project."""

    name: str
    parameters: ConfigurationParameters


class ConfigurationUpdate(_Request):
    """Body of ``PUT /api/v1/beta/configurations/{id}``: omitted fields are left unchanged."""

    name: str | None = None
    parameters: ConfigurationParameters | None = None


class Configuration(_Response):
    """A saved product configuration (or a built-in preset).

    ``parameters`` are the strict request models: parse a server's answer with
    ``context={"lenient": True}`` so an option the service adds later does not fail.
    """

    id: str
    name: str
    parameters: ConfigurationParameters
    product_type: ProductType
    version: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ConfigurationPage(_Response):
    """One cursor page of configurations."""

    items: list[Configuration]
    next_page_token: str | None = None


class ConfigurationListQuery(_PageQuery):
    """Query of ``GET /api/v1/beta/configurations`` (``product_type`` may repeat)."""

    latest_only: bool = False
    name: str | None = None
    product_type: list[ProductType] | None = None


# ------------------------------------------------------------------ parse jobs


class JobUsage(_Response):
    """Credits billed against a job (null until billing recorded it)."""

    credits: float | None = None


class ParseJob(_Response):
    """A per-file parse job."""

    id: str
    project_id: str
    status: V2JobStatus
    created_at: datetime | None = None
    error_message: str | None = None
    name: str | None = None
    tier: str | None = None
    updated_at: datetime | None = None
    usage: JobUsage | None = None
    user_metadata: dict[str, str] | None = None


class ParseJobPage(_Response):
    """One cursor page of parse jobs."""

    items: list[ParseJob]
    next_page_token: str | None = None


class ResultContentMetadata(_Response):
    """Size, existence and a presigned download URL of one output file."""

    size_bytes: int
    exists: bool | None = None
    presigned_url: str | None = None


class MarkdownPage(_Response):
    """One page of markdown output."""

    markdown: str
    page_number: int
    success: Literal[True] = True


class MarkdownOutput(_Response):
    """Markdown output, page by page."""

    pages: list[MarkdownPage]


class TextPage(_Response):
    """One page of plain-text output."""

    page_number: int
    text: str


class TextOutput(_Response):
    """Plain-text output, page by page."""

    pages: list[TextPage]


class StructuredItem(_Response):
    """One structured item of a page (``text`` or ``heading`` here)."""

    md: str
    value: str
    type: Literal["text", "heading"] | None = None
    level: int | None = None


class ItemsPage(_Response):
    """One page of structured items."""

    items: list[StructuredItem]
    page_height: float
    page_number: int
    page_width: float
    success: Literal[True] = True


class ItemsOutput(_Response):
    """Structured output, page by page."""

    pages: list[ItemsPage]


class MetadataPage(_Response):
    """Page-level metadata."""

    page_number: int


class MetadataOutput(_Response):
    """Page and document metadata."""

    pages: list[MetadataPage]


class ParseJobResult(_Response):
    """``GET /api/v2/parse/{id}``: the job and the outputs asked for with ``expand``."""

    job: ParseJob
    items: ItemsOutput | None = None
    job_metadata: dict[str, Any] | None = None
    markdown: MarkdownOutput | None = None
    markdown_full: str | None = None
    metadata: MetadataOutput | None = None
    raw_parameters: dict[str, Any] | None = None
    result_content_metadata: dict[str, ResultContentMetadata] | None = None
    text: TextOutput | None = None
    text_full: str | None = None


class ParseJobListQuery(_PageQuery):
    """Query of ``GET /api/v2/parse`` (``job_ids`` may repeat)."""

    created_at_on_or_after: datetime | None = None
    created_at_on_or_before: datetime | None = None
    job_ids: list[str] | None = None
    status: V2JobStatus | None = None


# ------------------------------------------------------------------ extract jobs


class ExtractJob(_Response):
    """A per-file extract job (the SDK's ``ExtractV2Job``)."""

    id: str
    created_at: datetime
    file_input: str
    project_id: str
    status: str
    updated_at: datetime
    configuration: dict[str, Any] | None = None
    configuration_id: str | None = None
    error_message: str | None = None
    extract_metadata: dict[str, Any] | None = None
    extract_result: dict[str, JSONValue] | list[dict[str, JSONValue]] | None = None
    metadata: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None


class ExtractJobPage(_Response):
    """One cursor page of extract jobs."""

    items: list[ExtractJob]
    next_page_token: str | None = None


class ExtractJobListQuery(_PageQuery):
    """Query of ``GET /api/v2/extract``."""

    configuration_id: str | None = None
    created_at_on_or_after: datetime | None = None
    created_at_on_or_before: datetime | None = None
    document_input_type: str | None = None
    document_input_value: str | None = None
    expand: list[str] | None = None
    file_input: str | None = None
    job_ids: list[str] | None = None
    status: BatchStatus | None = None
