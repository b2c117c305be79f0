"""Run LlamaCloud batch document jobs as reliable Prefect pipeline steps."""

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
from prefect_llamabatch.retries import RetryPolicy

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBatchClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchClient",
    "ClientStats",
    "ConflictError",
    "LlamaCloudCredentials",
    "LlamaCloudError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "UnprocessableEntityError",
    "__version__",
]
