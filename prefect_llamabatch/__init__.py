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
    SkippedItem,
)
from prefect_llamabatch.retries import RetryPolicy
from prefect_llamabatch.tasks import (
    cancel_batch_job,
    create_batch_job,
    get_batch_job,
    get_item_processing_results,
    list_batch_jobs,
    list_job_items,
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
    "BatchClient",
    "BatchItemsFailed",
    "BatchJobCancelled",
    "BatchJobFailed",
    "BatchJobTimeout",
    "BatchRunError",
    "BatchRunResult",
    "ClientStats",
    "ConflictError",
    "FailedItem",
    "FailedItemsReport",
    "JobCounts",
    "LlamaBatchJob",
    "LlamaBatchJobRun",
    "LlamaCloudCredentials",
    "LlamaCloudError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "SkippedItem",
    "UnprocessableEntityError",
    "WaitSettings",
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
    "upload_directory",
    "wait_for_batch_job",
]
