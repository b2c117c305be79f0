"""The LlamaCloud credentials block."""

from __future__ import annotations

import os
from typing import Any

from prefect.blocks.abstract import CredentialsBlock
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from prefect_llamabatch.client import AsyncBatchClient, BatchClient
from prefect_llamabatch.client.config import (
    BASE_URL_ENV_VAR,
    EU_BASE_URL,
    NA_BASE_URL,
    check_base_url,
    resolve_api_key,
)
from prefect_llamabatch.models import check_known_fields

__all__ = ["LlamaCloudCredentials"]

BLOCK_TYPE_KEY = "block_type_slug"
"""Key Prefect adds to a nested block's data to say which block type it is."""


class LlamaCloudCredentials(CredentialsBlock):
    """Credentials and connection settings for LlamaCloud (LlamaParse batch processing).

    Holds the API key, the region's API host, the default organization and project, and the
    timeout and retry settings of the clients it builds.

    Example:
        Load stored credentials and use a client:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials

        credentials = LlamaCloudCredentials.load("BLOCK_NAME")
        with credentials.get_client() as client:
            print(client.list_jobs(limit=5))
        ```

        Create them from the environment (``LLAMA_CLOUD_API_KEY``, ``LLAMA_CLOUD_BASE_URL``):
        ```python
        from prefect_llamabatch import LlamaCloudCredentials

        LlamaCloudCredentials.from_env().save("llamacloud", overwrite=True)
        ```
    """

    # hide_input_in_errors: a ValidationError's text would otherwise echo the input (the key).
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "LlamaCloud Credentials"
    _block_type_slug = "llamacloud-credentials"
    _logo_url = "https://avatars.githubusercontent.com/u/130722866?s=200&v=4"  # type: ignore[assignment]
    _documentation_url = "https://docs.cloud.llamaindex.ai/"  # type: ignore[assignment]
    _description = "Credentials and connection settings for LlamaCloud batch processing."

    api_key: SecretStr = Field(
        default=...,
        title="API Key",
        description="LlamaCloud API key (starts with 'llx-'); keys are specific to a region.",
    )
    base_url: str = Field(
        default=NA_BASE_URL,
        title="Base URL",
        description=(
            f"API host: {NA_BASE_URL} (North America, the default) or {EU_BASE_URL} (EU). "
            "Must be https; plain http is accepted only for loopback hosts (a local emulator)."
        ),
    )
    organization_id: str | None = Field(
        default=None,
        title="Organization ID",
        description="Default organization_id query parameter of every request.",
    )
    project_id: str | None = Field(
        default=None,
        title="Project ID",
        description="Default project_id query parameter of every request.",
    )
    timeout: float = Field(
        default=60.0, gt=0, description="Timeout of each HTTP request, in seconds."
    )
    max_retries: int = Field(
        default=5, ge=0, description="Retries of a failed request after the first attempt."
    )
    retry_deadline: float | None = Field(
        default=300.0,
        gt=0,
        description="Seconds after the first attempt after which a request is no longer retried.",
    )
    retry_initial_delay: float = Field(
        default=0.5,
        gt=0,
        description="Backoff window before the first retry, in seconds (doubles on each retry).",
    )
    retry_max_delay: float = Field(
        default=30.0, gt=0, description="Largest backoff window between retries, in seconds."
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        # Blocks accept any key by default: a misspelt setting would silently keep its default.
        if isinstance(data, dict):
            check_known_fields(data, [*cls.model_fields, BLOCK_TYPE_KEY], cls.__name__)
        return data

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr) -> SecretStr:
        return resolve_api_key(value)

    @field_validator("organization_id", "project_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        # The UI submits an emptied text field as "".
        return value.strip() or None if isinstance(value, str) else value

    @classmethod
    def from_env(cls, **overrides: Any) -> LlamaCloudCredentials:
        """Credentials from ``LLAMA_CLOUD_API_KEY`` (or ``LLAMA_PARSE_API_KEY``) and
        ``LLAMA_CLOUD_BASE_URL``; keyword arguments override.

        Raises:
            ValueError: No API key is set (the message names the variables to set).
        """
        settings: dict[str, Any] = {}
        if "api_key" not in overrides:
            settings["api_key"] = resolve_api_key(None)
        if "base_url" not in overrides and os.environ.get(BASE_URL_ENV_VAR):
            settings["base_url"] = os.environ[BASE_URL_ENV_VAR]
        settings.update(overrides)
        return cls(**settings)

    def get_client(self, **overrides: Any) -> BatchClient:
        """A sync :class:`BatchClient` configured from these credentials."""
        return BatchClient.from_credentials(self, **overrides)

    def get_async_client(self, **overrides: Any) -> AsyncBatchClient:
        """An :class:`AsyncBatchClient` configured from these credentials."""
        return AsyncBatchClient.from_credentials(self, **overrides)
