"""Run LlamaCloud batch document jobs as reliable Prefect pipeline steps.

The package is layered; each folder is one layer and imports only point down (``docs/architecture.md``,
enforced by the import-linter contract in ``pyproject.toml``)::

    cli/  ->  flows/  ->  orchestration/ (tasks, waiting, reporting, job block)  ->  credentials.py
          ->  client/ (the SDK, no Prefect)  ->  models/ (wire models, pydantic only)
    emulator/  ->  models/

The root re-exports the public names lazily: ``import prefect_llamabatch.client`` (or ``.models``,
``.emulator``) loads no Prefect module, and a Prefect name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prefect_llamabatch._aliases import install_module_aliases
from prefect_llamabatch._version import __version__

if TYPE_CHECKING:
    from prefect_llamabatch.client import (
        AsyncBatchClient,
        BatchClient,
        ClientStats,
    )
    from prefect_llamabatch.client.errors import (
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
    from prefect_llamabatch.client.paging import ListingError
    from prefect_llamabatch.client.reconcile import CreateOwnershipError
    from prefect_llamabatch.client.retries import (
        RetryPolicy,
    )
    from prefect_llamabatch.credentials import (
        LlamaCloudCredentials,
    )
    from prefect_llamabatch.flows import (
        classify_directory,
        process_directory,
        process_items,
        retry_failed_items,
        run_llama_batch_job,
    )
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
    from prefect_llamabatch.orchestration.item_results import (
        FetchedItemResults,
        ItemResultError,
        fetch_item_results,
    )
    from prefect_llamabatch.orchestration.jobs import (
        LlamaBatchJob,
        LlamaBatchJobRun,
    )
    from prefect_llamabatch.orchestration.outputs import OutputsResult, download_outputs
    from prefect_llamabatch.orchestration.reporting import (
        FailedItemsReport,
        report_failed_items,
    )
    from prefect_llamabatch.orchestration.results import (
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
    from prefect_llamabatch.orchestration.tasks import (
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
    from prefect_llamabatch.orchestration.tracking import (
        cancel_remote_jobs,
    )
    from prefect_llamabatch.orchestration.waiting import (
        WaitSettings,
    )

# name -> module that defines it, imported on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "cancel_remote_jobs": "prefect_llamabatch.orchestration.tracking",
    "AsyncBatchClient": "prefect_llamabatch.client",
    "BatchClient": "prefect_llamabatch.client",
    "ClientStats": "prefect_llamabatch.client",
    "LlamaCloudCredentials": "prefect_llamabatch.credentials",
    "APIConnectionError": "prefect_llamabatch.client.errors",
    "APIResponseValidationError": "prefect_llamabatch.client.errors",
    "APIStatusError": "prefect_llamabatch.client.errors",
    "APITimeoutError": "prefect_llamabatch.client.errors",
    "AuthenticationError": "prefect_llamabatch.client.errors",
    "BadRequestError": "prefect_llamabatch.client.errors",
    "ConflictError": "prefect_llamabatch.client.errors",
    "LlamaCloudError": "prefect_llamabatch.client.errors",
    "NotFoundError": "prefect_llamabatch.client.errors",
    "PermissionDeniedError": "prefect_llamabatch.client.errors",
    "RateLimitError": "prefect_llamabatch.client.errors",
    "ServerError": "prefect_llamabatch.client.errors",
    "UnprocessableEntityError": "prefect_llamabatch.client.errors",
    "ListingError": "prefect_llamabatch.client.paging",
    "CreateOwnershipError": "prefect_llamabatch.client.reconcile",
    "LlamaBatchJob": "prefect_llamabatch.orchestration.jobs",
    "LlamaBatchJobRun": "prefect_llamabatch.orchestration.jobs",
    "BatchCancelResponse": "prefect_llamabatch.models",
    "BatchJob": "prefect_llamabatch.models",
    "BatchJobCreate": "prefect_llamabatch.models",
    "BatchJobStatus": "prefect_llamabatch.models",
    "BatchParseJobConfig": "prefect_llamabatch.models",
    "BatchParseJobRecordCreate": "prefect_llamabatch.models",
    "ClassifierRule": "prefect_llamabatch.models",
    "ClassifyJobConfig": "prefect_llamabatch.models",
    "ClassifyMode": "prefect_llamabatch.models",
    "ClassifyParsingConfiguration": "prefect_llamabatch.models",
    "Directory": "prefect_llamabatch.models",
    "DirectoryFile": "prefect_llamabatch.models",
    "ItemProcessingResults": "prefect_llamabatch.models",
    "ItemStatus": "prefect_llamabatch.models",
    "JobItem": "prefect_llamabatch.models",
    "JobStatus": "prefect_llamabatch.models",
    "JobType": "prefect_llamabatch.models",
    "ParseMode": "prefect_llamabatch.models",
    "ParsingLanguage": "prefect_llamabatch.models",
    "ProcessingResult": "prefect_llamabatch.models",
    "WebhookConfiguration": "prefect_llamabatch.models",
    "WebhookEvent": "prefect_llamabatch.models",
    "BatchApiUnavailable": "prefect_llamabatch.orchestration.results",
    "BatchItemsFailed": "prefect_llamabatch.orchestration.results",
    "BatchJobCancelled": "prefect_llamabatch.orchestration.results",
    "BatchJobFailed": "prefect_llamabatch.orchestration.results",
    "BatchJobTimeout": "prefect_llamabatch.orchestration.results",
    "BatchRunError": "prefect_llamabatch.orchestration.results",
    "BatchRunResult": "prefect_llamabatch.orchestration.results",
    "FailedItem": "prefect_llamabatch.orchestration.results",
    "JobCounts": "prefect_llamabatch.orchestration.results",
    "RetryRound": "prefect_llamabatch.orchestration.results",
    "SkippedItem": "prefect_llamabatch.orchestration.results",
    "RetryPolicy": "prefect_llamabatch.client.retries",
    "CreatedJob": "prefect_llamabatch.orchestration.tasks",
    "UploadedDirectory": "prefect_llamabatch.orchestration.tasks",
    "cancel_batch_job": "prefect_llamabatch.orchestration.tasks",
    "create_batch_job": "prefect_llamabatch.orchestration.tasks",
    "get_batch_job": "prefect_llamabatch.orchestration.tasks",
    "get_item_processing_results": "prefect_llamabatch.orchestration.tasks",
    "list_batch_jobs": "prefect_llamabatch.orchestration.tasks",
    "list_job_items": "prefect_llamabatch.orchestration.tasks",
    "submit_batch_job": "prefect_llamabatch.orchestration.tasks",
    "upload_directory": "prefect_llamabatch.orchestration.tasks",
    "wait_for_batch_job": "prefect_llamabatch.orchestration.tasks",
    "WaitSettings": "prefect_llamabatch.orchestration.waiting",
    "classify_directory": "prefect_llamabatch.flows",
    "process_directory": "prefect_llamabatch.flows",
    "process_items": "prefect_llamabatch.flows",
    "retry_failed_items": "prefect_llamabatch.flows",
    "run_llama_batch_job": "prefect_llamabatch.flows",
    "FailedItemsReport": "prefect_llamabatch.orchestration.reporting",
    "FetchedItemResults": "prefect_llamabatch.orchestration.item_results",
    "ItemResultError": "prefect_llamabatch.orchestration.item_results",
    "fetch_item_results": "prefect_llamabatch.orchestration.item_results",
    "OutputsResult": "prefect_llamabatch.orchestration.outputs",
    "download_outputs": "prefect_llamabatch.orchestration.outputs",
    "report_failed_items": "prefect_llamabatch.orchestration.reporting",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # `prefect block register -m prefect_llamabatch` walks dir(): both blocks must be listed.
    return sorted({*globals(), *_LAZY})


install_module_aliases()

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
    "CreateOwnershipError",
    "CreatedJob",
    "Directory",
    "DirectoryFile",
    "FailedItem",
    "FailedItemsReport",
    "FetchedItemResults",
    "ItemProcessingResults",
    "ItemResultError",
    "ItemStatus",
    "JobCounts",
    "JobItem",
    "JobStatus",
    "JobType",
    "ListingError",
    "LlamaBatchJob",
    "LlamaBatchJobRun",
    "LlamaCloudCredentials",
    "LlamaCloudError",
    "NotFoundError",
    "OutputsResult",
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
    "download_outputs",
    "fetch_item_results",
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
