"""Batch jobs and their items: create/list requests and the responses describing them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from prefect_llamabatch.models.base import (
    LENIENT,
    Id,
    ItemStatusValue,
    JobStatusValue,
    JobTypeValue,
    NonNegativeInt,
    PositiveInt,
    ResponseModel,
    WireModel,
)
from prefect_llamabatch.models.enums import ItemStatus, JobStatus, JobType, is_terminal_job_status
from prefect_llamabatch.models.job_config import ClassifyJobConfig, JobConfig, job_config_adapter

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
    directory_id: Id | None = None
    item_ids: list[Id] | None = None
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

    directory_id: Id | None = None
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
    """Response of ``GET /api/v1/beta/batch-processing/{job_id}``: ``job`` and its progress.

    The read-only properties mirror ``job`` (``status``, the counters …) so the first thing a
    user reaches for works; they are not fields, so the wire shape (``model_dump``) stays
    ``{"job": …, "progress_percentage": …}``.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJobStatus

        job = {"id": "bjb-1", "job_type": "parse", "project_id": "p", "status": "running",
               "total_items": 4, "processed_items": 2, "failed_items": 1}
        r = BatchJobStatus.model_validate({"job": job, "progress_percentage": 50.0})
        assert (r.status_value, r.processed_items, r.failed_items, r.skipped_items) == (
            "running", 2, 1, 0)
        assert set(r.model_dump()) == {"job", "progress_percentage"}
        ```
    """

    job: BatchJob
    progress_percentage: float = 0.0

    @property
    def id(self) -> str:
        """The job's id (``job.id``)."""
        return self.job.id

    @property
    def job_id(self) -> str:
        """The job's id (``job.id``), under the name other responses use."""
        return self.job.id

    @property
    def job_type(self) -> JobType | str:
        """The job's type (``job.job_type``)."""
        return self.job.job_type

    @property
    def status(self) -> JobStatus | str:
        """The job's status (``job.status``): a ``JobStatus``, or the raw string if unknown."""
        return self.job.status

    @property
    def status_value(self) -> str:
        """The job's status as its wire string, known or not."""
        return self.job.status_value

    @property
    def is_terminal(self) -> bool:
        """Whether the job reached a final status."""
        return self.job.is_terminal

    @property
    def total_items(self) -> int:
        """Items in the job (``job.total_items``)."""
        return self.job.total_items

    @property
    def processed_items(self) -> int:
        """Items in a final status, failed and skipped included (absent counts as 0)."""
        return self.job.processed_items or 0

    @property
    def failed_items(self) -> int:
        """Items that failed (absent counts as 0)."""
        return self.job.failed_items or 0

    @property
    def skipped_items(self) -> int:
        """Items that were skipped (absent counts as 0)."""
        return self.job.skipped_items or 0

    @property
    def succeeded_items(self) -> int:
        """Items that completed: processed, neither failed nor skipped."""
        return max(self.processed_items - self.failed_items - self.skipped_items, 0)

    @property
    def error_message(self) -> str | None:
        """The job's error message, if it failed (``job.error_message``)."""
        return self.job.error_message


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
    return job_config_adapter().validate_python(value, context={LENIENT: True})


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
