"""Job configurations: parse (``BatchParseJobConfig``) and classify (``ClassifyJobConfig``)."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import (
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from prefect_llamabatch.models.base import (
    ClassifyJobStatusValue,
    Fraction,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    Secret,
    SecretProxyURL,
    WireModel,
)
from prefect_llamabatch.models.enums import (
    ClassifyMode,
    FailPageMode,
    ImageToSave,
    ParseMode,
    ParsingLanguage,
    Priority,
    WebhookEvent,
    WebhookOutputFormat,
)

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


@functools.cache
def job_config_adapter() -> TypeAdapter[BatchParseJobRecordCreate | ClassifyJobConfig]:
    """The validator of either job config, built on first use (it costs ~80 ms at import)."""
    return TypeAdapter(JobConfig)
