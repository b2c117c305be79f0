"""Run LlamaCloud batch document jobs as reliable Prefect pipeline steps."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Prefect layer (issue 4): tasks, waiting, results, reporting, flows, job block.
from prefect_llamabatch._tracking import cancel_remote_jobs
from prefect_llamabatch._version import __version__
from prefect_llamabatch.client import AsyncBatchClient, BatchClient, ClientStats
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LlamaCloudError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from prefect_llamabatch.jobs import LlamaBatchJob, LlamaBatchJobRun
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobStatus,
    BatchParseJobConfig,
    BatchParseJobRecordCreate,
    ClassifierRule,
    ClassifyJobConfig,
    ClassifyMode,
    ClassifyParsingConfiguration,
    Directory,
    DirectoryFile,
    ItemProcessingResults,
    ItemStatus,
    JobItem,
    JobStatus,
    JobType,
    ParseMode,
    ParsingLanguage,
    ProcessingResult,
    WebhookConfiguration,
    WebhookEvent,
)
from prefect_llamabatch.results import (
    BatchApiUnavailable,
    BatchItemsFailed,
    BatchJobCancelled,
    BatchJobFailed,
    BatchJobTimeout,
    BatchRunError,
    BatchRunResult,
    FailedItem,
    JobCounts,
    RetryRound,
    SkippedItem,
)
from prefect_llamabatch.retries import RetryPolicy
from prefect_llamabatch.tasks import (
    CreatedJob,
    UploadedDirectory,
    cancel_batch_job,
    create_batch_job,
    get_batch_job,
    get_item_processing_results,
    list_batch_jobs,
    list_job_items,
    submit_batch_job,
    upload_directory,
    wait_for_batch_job,
)
from prefect_llamabatch.waiting import WaitSettings

if TYPE_CHECKING:
    from prefect_llamabatch.flows import (
        classify_directory,
        process_directory,
        process_items,
        retry_failed_items,
        run_llama_batch_job,
    )
    from prefect_llamabatch.reporting import FailedItemsReport, report_failed_items

# Defining a flow makes Prefect build the JSON schema of its parameters (most of this package's
# import time), and Prefect imports every installed collection whenever it looks up a block type
# or starts a worker: the flow modules load on first use instead.
_LAZY = {
    "classify_directory": "flows",
    "process_directory": "flows",
    "process_items": "flows",
    "retry_failed_items": "flows",
    "run_llama_batch_job": "flows",
    "FailedItemsReport": "reporting",
    "report_failed_items": "reporting",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBatchClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchApiUnavailable",
    "BatchCancelResponse",
    "BatchClient",
    "BatchItemsFailed",
    "BatchJob",
    "BatchJobCancelled",
    "BatchJobCreate",
    "BatchJobFailed",
    "BatchJobStatus",
    "BatchJobTimeout",
    "BatchParseJobConfig",
    "BatchParseJobRecordCreate",
    "BatchRunError",
    "BatchRunResult",
    "ClassifierRule",
    "ClassifyJobConfig",
    "ClassifyMode",
    "ClassifyParsingConfiguration",
    "ClientStats",
    "ConflictError",
    "CreatedJob",
    "Directory",
    "DirectoryFile",
    "FailedItem",
    "FailedItemsReport",
    "ItemProcessingResults",
    "ItemStatus",
    "JobCounts",
    "JobItem",
    "JobStatus",
    "JobType",
    "LlamaBatchJob",
    "LlamaBatchJobRun",
    "LlamaCloudCredentials",
    "LlamaCloudError",
    "NotFoundError",
    "ParseMode",
    "ParsingLanguage",
    "PermissionDeniedError",
    "ProcessingResult",
    "RateLimitError",
    "RetryPolicy",
    "RetryRound",
    "ServerError",
    "SkippedItem",
    "UnprocessableEntityError",
    "UploadedDirectory",
    "WaitSettings",
    "WebhookConfiguration",
    "WebhookEvent",
    "__version__",
    "cancel_batch_job",
    "cancel_remote_jobs",
    "classify_directory",
    "create_batch_job",
    "get_batch_job",
    "get_item_processing_results",
    "list_batch_jobs",
    "list_job_items",
    "process_directory",
    "process_items",
    "report_failed_items",
    "retry_failed_items",
    "run_llama_batch_job",
    "submit_batch_job",
    "upload_directory",
    "wait_for_batch_job",
]
