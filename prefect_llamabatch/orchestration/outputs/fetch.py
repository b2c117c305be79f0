"""The client calls that fetch outputs: job statuses looked up in batches, a parse output streamed
from its presigned URL (or inline) into a staging file, an extract result as JSON."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import aclosing, closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from pydantic import BaseModel

from prefect_llamabatch.models.v2 import ExtractJob, ParseJob
from prefect_llamabatch.orchestration.effects import (
    ClientCall,
    ClientIteration,
    Tenant,
    tenant,
)
from prefect_llamabatch.orchestration.outputs.destination import CHUNK, Staged

if TYPE_CHECKING:
    from prefect_llamabatch.client import AsyncBatchClient, BatchClient


class OutputUnavailable(Exception):
    """The job has no output to write (not completed, or no such output)."""

    def __init__(self, reason: str, status: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class LookUp(ClientIteration[Union[ParseJob, ExtractJob]]):
    """``iter_parse_jobs`` / ``iter_extract_jobs`` for these ids, collected."""

    kind: str
    job_ids: tuple[str, ...]
    concurrency: int
    tenant: Tenant = field(default_factory=tenant)

    def sync(self, client: BatchClient) -> Iterator[ParseJob | ExtractJob]:
        if self.kind == "extract":
            return client.iter_extract_jobs(
                job_ids=self.job_ids, concurrency=self.concurrency, **self.tenant
            )
        return client.iter_parse_jobs(
            job_ids=self.job_ids, concurrency=self.concurrency, **self.tenant
        )

    def aio(self, client: AsyncBatchClient) -> Any:
        if self.kind == "extract":
            return client.iter_extract_jobs(
                job_ids=self.job_ids, concurrency=self.concurrency, **self.tenant
            )
        return client.iter_parse_jobs(
            job_ids=self.job_ids, concurrency=self.concurrency, **self.tenant
        )


def _staging_file(staging: str) -> tuple[Any, str]:
    handle = tempfile.NamedTemporaryFile(dir=staging, delete=False, suffix=".part")
    return handle, handle.name


def _stage_bytes(staging: str, data: bytes) -> Staged:
    handle, name = _staging_file(staging)
    with handle:
        handle.write(data)
    return Staged(name, len(data), hashlib.sha256(data).hexdigest())


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode()


_INLINE = {"markdown": "markdown_full", "text": "text_full", "items": "items"}


def _inline(result: Any, output_format: str) -> bytes:
    value = getattr(result, _INLINE[output_format])
    if value is None:
        raise OutputUnavailable(f"the job has no {output_format} output", result.job.status)
    if isinstance(value, BaseModel):
        return _json_bytes(value.model_dump(mode="json", exclude_none=True))
    return str(value).encode()


def _presigned(result: Any, output_format: str) -> str | None:
    if result.job.status != "COMPLETED":
        message = result.job.error_message or f"the job is {result.job.status}"
        raise OutputUnavailable(message, result.job.status)
    meta = (result.result_content_metadata or {}).get(output_format)
    if meta is None or not meta.exists or not meta.presigned_url:
        return None
    url: str = meta.presigned_url
    return url


@dataclass(frozen=True)
class FetchParseOutput(ClientCall[Staged]):
    """One parse output, streamed from its presigned URL into a staging file (or inline if the
    service offers no file for it)."""

    job_id: str
    output_format: str
    staging: str
    tenant: Tenant = field(default_factory=tenant)

    def sync(self, client: BatchClient) -> Staged:
        result = client.get_parse_job(
            self.job_id, expand=f"{self.output_format}_content_metadata", **self.tenant
        )
        url = _presigned(result, self.output_format)
        if url is None:
            inline = client.get_parse_job(
                self.job_id, expand=_INLINE[self.output_format], **self.tenant
            )
            return _stage_bytes(self.staging, _inline(inline, self.output_format))
        handle, name = _staging_file(self.staging)
        digest, size = hashlib.sha256(), 0
        try:
            with handle, closing(client.iter_download(url, chunk_size=CHUNK)) as chunks:  # type: ignore[type-var]
                for chunk in chunks:
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Staged(name, size, digest.hexdigest())

    async def aio(self, client: AsyncBatchClient) -> Staged:
        result = await client.get_parse_job(
            self.job_id, expand=f"{self.output_format}_content_metadata", **self.tenant
        )
        url = _presigned(result, self.output_format)
        if url is None:
            inline = await client.get_parse_job(
                self.job_id, expand=_INLINE[self.output_format], **self.tenant
            )
            return _stage_bytes(self.staging, _inline(inline, self.output_format))
        handle, name = _staging_file(self.staging)
        digest, size = hashlib.sha256(), 0
        try:
            # Local staging writes of 1 MiB are short; the upload runs in a thread.
            chunks = client.iter_download(url, chunk_size=CHUNK)
            with handle:
                async with aclosing(chunks):  # type: ignore[type-var]
                    async for chunk in chunks:
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Staged(name, size, digest.hexdigest())


@dataclass(frozen=True)
class FetchExtractOutput(ClientCall[Staged]):
    """One extract result (``extract_result``, inline), as JSON in a staging file."""

    job_id: str
    staging: str
    known: ExtractJob | None = None
    tenant: Tenant = field(default_factory=tenant)

    @staticmethod
    def _stage(job: ExtractJob, staging: str) -> Staged:
        if job.status != "COMPLETED":
            raise OutputUnavailable(job.error_message or f"the job is {job.status}", job.status)
        if job.extract_result is None:
            raise OutputUnavailable("the job has no extract_result", job.status)
        return _stage_bytes(staging, _json_bytes(job.extract_result))

    def sync(self, client: BatchClient) -> Staged:
        job = self.known or client.get_extract_job(self.job_id, **self.tenant)
        return self._stage(job, self.staging)

    async def aio(self, client: AsyncBatchClient) -> Staged:
        job = self.known or await client.get_extract_job(self.job_id, **self.tenant)
        return self._stage(job, self.staging)
