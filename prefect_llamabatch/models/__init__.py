"""Wire models of the LlamaCloud beta batch-processing and directories APIs.

Split by resource: ``enums``, ``base`` (secrets, strict requests, tolerant responses),
``job_config``, ``jobs`` (jobs and items), ``directories``; ``v2`` holds the v2 Batches API
(batches, saved configurations, parse and extract jobs). One set of pydantic v2 models serves the client (requests it sends, responses it parses) and the
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

import importlib
from typing import TYPE_CHECKING, Any

from prefect_llamabatch.models.base import (
    LENIENT,
    MASK,
    MAX_ID_LENGTH,
    PREFECT_INCLUDE_SECRETS,
    REVEAL_SECRETS,
    ProxyURL,
    WireModel,
    check_known_fields,
    id_problem,
)
from prefect_llamabatch.models.directories import (
    Directory,
    DirectoryCreate,
    DirectoryFile,
    DirectoryFileAdd,
    DirectoryFileList,
    DirectoryList,
    DirectoryUpdate,
    FileMetadataValue,
    PresignedURL,
)
from prefect_llamabatch.models.enums import (
    TERMINAL_ITEM_STATUSES,
    TERMINAL_JOB_STATUSES,
    ClassifyJobStatus,
    ClassifyMode,
    DirectoryType,
    FailPageMode,
    ImageToSave,
    ItemStatus,
    JobStatus,
    JobType,
    ParseMode,
    ParsingLanguage,
    Priority,
    WebhookEvent,
    WebhookOutputFormat,
    is_terminal_item_status,
    is_terminal_job_status,
    normalize_status,
)
from prefect_llamabatch.models.job_config import (
    BatchParseJobConfig,
    BatchParseJobRecordCreate,
    ClassifierRule,
    ClassifyJobConfig,
    ClassifyParsingConfiguration,
    JobConfig,
    WebhookConfiguration,
    job_config_type,
)
from prefect_llamabatch.models.jobs import (
    BatchCancelRequest,
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    ItemProcessingResults,
    JobItem,
    JobItemList,
    ListItemsQuery,
    ListJobsQuery,
    ProcessingResult,
)

if TYPE_CHECKING:
    from prefect_llamabatch.models.v2 import (
        Batch,
        BatchConfig,
        BatchCreate,
        BatchJobSpec,
        BatchPage,
        BatchResult,
        Configuration,
        ConfigurationCreate,
        ConfigurationPage,
        ConfigurationUpdate,
        ExtractJob,
        ExtractJobPage,
        ExtractV2Parameters,
        JobReference,
        ParseJob,
        ParseJobPage,
        ParseJobResult,
        ParseV2Parameters,
        ResultContentMetadata,
        V2WebhookConfiguration,
    )

# The v2 models (and the generated parse_v2 options under them) load on first use: a v1 user's
# import of the models or of the client does not build them (bench B5).
_V2_NAMES = frozenset(
    {
        "Batch",
        "BatchConfig",
        "BatchCreate",
        "BatchJobSpec",
        "BatchPage",
        "BatchResult",
        "Configuration",
        "ConfigurationCreate",
        "ConfigurationPage",
        "ConfigurationUpdate",
        "ExtractJob",
        "ExtractJobPage",
        "ExtractV2Parameters",
        "JobReference",
        "ParseJob",
        "ParseJobPage",
        "ParseJobResult",
        "ParseV2Parameters",
        "ResultContentMetadata",
        "V2WebhookConfiguration",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _V2_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("prefect_llamabatch.models.v2"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_V2_NAMES})


__all__ = [
    "LENIENT",
    "MASK",
    "MAX_ID_LENGTH",
    "PREFECT_INCLUDE_SECRETS",
    "REVEAL_SECRETS",
    "TERMINAL_ITEM_STATUSES",
    "TERMINAL_JOB_STATUSES",
    "Batch",
    "BatchCancelRequest",
    "BatchCancelResponse",
    "BatchConfig",
    "BatchCreate",
    "BatchJob",
    "BatchJobCreate",
    "BatchJobList",
    "BatchJobSpec",
    "BatchJobStatus",
    "BatchPage",
    "BatchParseJobConfig",
    "BatchParseJobRecordCreate",
    "BatchResult",
    "ClassifierRule",
    "ClassifyJobConfig",
    "ClassifyJobStatus",
    "ClassifyMode",
    "ClassifyParsingConfiguration",
    "Configuration",
    "ConfigurationCreate",
    "ConfigurationPage",
    "ConfigurationUpdate",
    "Directory",
    "DirectoryCreate",
    "DirectoryFile",
    "DirectoryFileAdd",
    "DirectoryFileList",
    "DirectoryList",
    "DirectoryType",
    "DirectoryUpdate",
    "ExtractJob",
    "ExtractJobPage",
    "ExtractV2Parameters",
    "FailPageMode",
    "FileMetadataValue",
    "ImageToSave",
    "ItemProcessingResults",
    "ItemStatus",
    "JobConfig",
    "JobItem",
    "JobItemList",
    "JobReference",
    "JobStatus",
    "JobType",
    "ListItemsQuery",
    "ListJobsQuery",
    "ParseJob",
    "ParseJobPage",
    "ParseJobResult",
    "ParseMode",
    "ParseV2Parameters",
    "ParsingLanguage",
    "PresignedURL",
    "Priority",
    "ProcessingResult",
    "ProxyURL",
    "ResultContentMetadata",
    "V2WebhookConfiguration",
    "WebhookConfiguration",
    "WebhookEvent",
    "WebhookOutputFormat",
    "WireModel",
    "check_known_fields",
    "id_problem",
    "is_terminal_item_status",
    "is_terminal_job_status",
    "job_config_type",
    "normalize_status",
]
