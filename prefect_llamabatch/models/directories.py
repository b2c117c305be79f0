"""Directories and their files (the input of a batch job)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Union

from pydantic import (
    Field,
)

from prefect_llamabatch.models.base import (
    DirectoryTypeValue,
    Id,
    NonEmptyStr,
    ResponseModel,
    WireModel,
)

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

    file_id: Id
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
