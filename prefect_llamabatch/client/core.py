"""The sans-IO core shared by :class:`AsyncBatchClient` and :class:`BatchClient`.

:class:`ClientCore` turns each API call into an op (see :mod:`prefect_llamabatch.client.effects`): it
validates the arguments, builds the requests and runs them under the retry policy. The pieces it
composes live in modules named for their concepts: ``_config`` (hosts, paths, environment),
``_requests`` (argument checks, query encoding, redaction), ``_uploads`` (multipart files),
``_responses`` (error mapping, parsing), ``_paging`` (offset and cursor pagination),
``_reconcile`` (creates that never duplicate) and ``_stats`` (counters).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from prefect_llamabatch.client.config import (
    BATCH_PATH,
    DIRECTORIES_PATH,
    USER_AGENT,
    resolve_api_key,
    resolve_base_url,
)
from prefect_llamabatch.client.effects import Op, Outcome, Send, Sleep
from prefect_llamabatch.client.errors import (
    BadRequestError,
    ConflictError,
    LlamaCloudError,
    NotFoundError,
)
from prefect_llamabatch.client.paging import cursor_pages, offset_pages
from prefect_llamabatch.client.reconcile import create, file_finder, find_created_job
from prefect_llamabatch.client.request import (
    Request,
    check_header_value,
    check_id,
    check_name,
    check_page_size,
    enum_member,
    path_segment,
    query_pairs,
    secret_values,
)
from prefect_llamabatch.client.response import check_response, invalid_response, parse_model
from prefect_llamabatch.client.retries import Attempt, Done, RetryLoop, RetryPolicy, Wait
from prefect_llamabatch.client.stats import Counters
from prefect_llamabatch.client.uploads import FileInput, Upload, metadata_field
from prefect_llamabatch.models import (
    BatchCancelRequest,
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    ClassifyJobConfig,
    Directory,
    DirectoryCreate,
    DirectoryFile,
    DirectoryFileAdd,
    DirectoryFileList,
    DirectoryList,
    DirectoryType,
    ItemProcessingResults,
    JobItem,
    JobItemList,
    JobType,
    ListItemsQuery,
    ListJobsQuery,
)

logger = logging.getLogger("prefect_llamabatch.client")

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


class ClientCore:
    """Request building, parsing, retries, reconciliation and pagination, without I/O."""

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None,
        base_url: str | None,
        organization_id: str | None,
        project_id: str | None,
        retry: RetryPolicy | None,
        max_concurrency: int,
    ) -> None:
        self.api_key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        self.organization_id = (
            None if organization_id is None else check_id("organization_id", organization_id)
        )
        self.project_id = None if project_id is None else check_id("project_id", project_id)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self.policy = retry or RetryPolicy()
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency: must be an integer >= 1, got {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        self.counters = Counters()

    def __repr__(self) -> str:
        return (
            f"base_url={self.base_url!r}, organization_id={self.organization_id!r}, "
            f"project_id={self.project_id!r}"
        )

    # ---- building ---------------------------------------------------------------------

    def _tenant(self, organization_id: str | None, project_id: str | None) -> dict[str, str | None]:
        org = self.organization_id if organization_id is None else organization_id
        proj = self.project_id if project_id is None else project_id
        return {
            "organization_id": None if org is None else check_id("organization_id", org),
            "project_id": None if proj is None else check_id("project_id", proj),
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        tenant: Mapping[str, str | None],
        params: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        data: Mapping[str, str | None] | None = None,
        upload: Upload | None = None,
        headers: Mapping[str, str | None] | None = None,
    ) -> Request:
        """Describe one request: URL, query with the tenant, auth and identification headers."""
        all_headers = {
            "Authorization": f"Bearer {self.api_key.get_secret_value()}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        all_headers.update({k: v for k, v in (headers or {}).items() if v is not None})
        secrets = [self.api_key.get_secret_value()]
        wire = None
        if body is not None:
            wire = body.to_wire() if hasattr(body, "to_wire") else body.model_dump(mode="json")
            secrets.extend(secret_values(body))
        return Request(
            method=method,
            url=self.base_url + path,
            path=path,
            params=query_pairs(**{**(params or {}), **tenant}),
            headers=all_headers,
            json=wire,
            data={k: v for k, v in (data or {}).items() if v is not None} or None,
            upload=upload,
            secrets=tuple(secrets),
        )

    # ---- attempts and retries -----------------------------------------------------------

    def attempt(self, request: Request, parse: Callable[[httpx.Response], T]) -> Op[T]:
        """One request, checked and parsed; failures raise :class:`LlamaCloudError`."""
        self.counters.add("requests")
        outcome: Outcome = yield Send(request)
        response = check_response(request, outcome)
        logger.debug("%s %s -> %s", request.method, request.path, response.status_code)
        return parse(response)

    def retrying(
        self,
        attempt: Callable[[RetryLoop[T]], Op[T]],
        *,
        on_give_up: Callable[[], Op[T | None]] | None = None,
        retry_on: Callable[[BaseException], bool] | None = None,
    ) -> Op[T]:
        """Run ``attempt`` under the retry policy (tenacity decides: retry, wait, or stop).

        ``on_give_up`` runs once when retrying stops with an error; a non-``None`` result
        replaces the error (a create that reconciliation can still find). ``retry_on`` replaces
        the policy's rule of which errors are retried (the budget and backoff stay the policy's).
        """
        loop: RetryLoop[T] = self.policy.loop(retry_on=retry_on)
        while True:
            try:
                step = loop.next()
            except LlamaCloudError:
                if on_give_up is not None:
                    rescued = yield from on_give_up()
                    if rescued is not None:
                        return rescued
                raise
            if isinstance(step, Done):
                return step.value
            if isinstance(step, Wait):
                self.counters.add("retries")
                yield Sleep(float(step))
                continue
            assert isinstance(step, Attempt)
            try:
                value = yield from attempt(loop)
            except LlamaCloudError as exc:
                loop.failed(exc)
            else:
                loop.succeeded(value)

    def call(self, request: Request, parse: Callable[[httpx.Response], T]) -> Op[T]:
        """An idempotent request with retries."""
        return self.retrying(lambda _loop: self.attempt(request, parse))

    def call_model(self, request: Request, model: type[P]) -> Op[P]:
        """An idempotent request with retries, parsed into ``model``."""
        return self.call(request, lambda response: parse_model(request, response, model))

    # ---- batch jobs -----------------------------------------------------------------------

    def create_job(
        self,
        body: BatchJobCreate | Mapping[str, Any],
        *,
        idempotency_key: str | None,
        organization_id: str | None,
        project_id: str | None,
        temporal_namespace: str | None,
    ) -> Op[BatchJob]:
        job = body if isinstance(body, BatchJobCreate) else BatchJobCreate.model_validate(body)
        key = (
            uuid.uuid4().hex
            if idempotency_key is None
            else check_header_value("idempotency_key", idempotency_key)
        )
        namespace = (
            None
            if temporal_namespace is None
            else check_header_value("temporal_namespace", temporal_namespace)
        )
        tenant = self._tenant(organization_id, project_id)
        job = with_classify_record(job, key=key, project_id=tenant["project_id"])
        request = self.request(
            "POST",
            BATCH_PATH,
            tenant=tenant,
            body=job,
            headers={"Idempotency-Key": key, "temporal-namespace": namespace},
        )
        return create(
            self,
            request,
            lambda response: _created_job(request, response, job),
            lambda sent: find_created_job(self, job, tenant, sent),
        )

    def get_job(
        self, job_id: str, *, organization_id: str | None, project_id: str | None
    ) -> Op[BatchJobStatus]:
        request = self.request(
            "GET",
            f"{BATCH_PATH}/{path_segment('job_id', job_id)}",
            tenant=self._tenant(organization_id, project_id),
        )
        return self.call_model(request, BatchJobStatus)

    def cancel_job(
        self,
        job_id: str,
        reason: str | None,
        *,
        organization_id: str | None,
        project_id: str | None,
        temporal_namespace: str | None,
    ) -> Op[BatchCancelResponse]:
        segment = path_segment("job_id", job_id)
        namespace = (
            None
            if temporal_namespace is None
            else check_header_value("temporal_namespace", temporal_namespace)
        )
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            f"{BATCH_PATH}/{segment}/cancel",
            tenant=tenant,
            body=BatchCancelRequest.model_validate({} if reason is None else {"reason": reason}),
            headers={"temporal-namespace": namespace},
        )
        status_request = self.request("GET", f"{BATCH_PATH}/{segment}", tenant=tenant)
        return self._cancel(job_id, request, status_request)

    def _cancel(
        self, job_id: str, request: Request, status_request: Request
    ) -> Op[BatchCancelResponse]:
        try:
            return (yield from self.call_model(request, BatchCancelResponse))
        except (BadRequestError, ConflictError):
            # The server refuses to cancel a finished job; that is not an error for the caller.
            status = yield from self.call_model(status_request, BatchJobStatus)
            if not status.job.is_terminal:
                raise
            return BatchCancelResponse(
                job_id=status.job.id or job_id,
                message=f"job is already {status.job.status_value}; nothing to cancel",
                processed_items=status.job.processed_items or 0,
                status=status.job.status,
            )

    def list_jobs(
        self,
        *,
        directory_id: str | None,
        job_type: JobType | str | None,
        status: str | None,
        limit: int | None,
        offset: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[BatchJobList]:
        query = ListJobsQuery.model_validate(
            {
                "directory_id": directory_id,
                "job_type": job_type,
                "status": status,
                "limit": limit,
                "offset": offset,
            }
        )
        request = self.request(
            "GET",
            BATCH_PATH,
            tenant=self._tenant(organization_id, project_id),
            params=dict(query),
        )
        return self.call_model(request, BatchJobList)

    def iter_jobs(
        self,
        *,
        directory_id: str | None,
        job_type: JobType | str | None,
        status: str | None,
        page_size: int,
        concurrency: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        query = ListJobsQuery.model_validate(
            {
                "directory_id": directory_id,
                "job_type": job_type,
                "status": status,
                "limit": page_size,
            }
        )
        tenant = self._tenant(organization_id, project_id)

        def page(offset: int, limit: int) -> Request:
            params = {**dict(query), "limit": limit, "offset": offset}
            return self.request("GET", BATCH_PATH, tenant=tenant, params=params)

        return offset_pages(
            self.call_model,
            page,
            BatchJobList,
            page_size,
            self._concurrency(concurrency),
            lambda job: job.id,
        )

    def list_items(
        self,
        job_id: str,
        *,
        status: str | None,
        limit: int | None,
        offset: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[JobItemList]:
        query = ListItemsQuery.model_validate({"status": status, "limit": limit, "offset": offset})
        request = self.request(
            "GET",
            f"{BATCH_PATH}/{path_segment('job_id', job_id)}/items",
            tenant=self._tenant(organization_id, project_id),
            params=dict(query),
        )
        return self.call_model(request, JobItemList)

    def iter_items(
        self,
        job_id: str,
        *,
        status: str | None,
        page_size: int,
        concurrency: int | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        query = ListItemsQuery.model_validate({"status": status, "limit": page_size})
        path = f"{BATCH_PATH}/{path_segment('job_id', job_id)}/items"
        tenant = self._tenant(organization_id, project_id)

        def page(offset: int, limit: int) -> Request:
            params = {**dict(query), "limit": limit, "offset": offset}
            return self.request("GET", path, tenant=tenant, params=params)

        def item_key(item: JobItem) -> str:
            return item.item_id

        return offset_pages(
            self.call_model, page, JobItemList, page_size, self._concurrency(concurrency), item_key
        )

    def _concurrency(self, concurrency: int | None) -> int:
        if concurrency is None:
            return self.max_concurrency
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency: must be an integer >= 1, got {concurrency!r}")
        return concurrency

    def get_item_results(
        self,
        item_id: str,
        *,
        job_type: JobType | str | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[ItemProcessingResults]:
        request = self.request(
            "GET",
            f"{BATCH_PATH}/items/{path_segment('item_id', item_id)}/processing-results",
            tenant=self._tenant(organization_id, project_id),
            params={"job_type": enum_member("job_type", JobType, job_type)},
        )
        return self.call_model(request, ItemProcessingResults)

    # ---- directories ------------------------------------------------------------------

    def create_directory(
        self,
        name: str,
        *,
        description: str | None,
        type: str | None,
        system_metadata: Mapping[str, Any] | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[Directory]:
        fields: dict[str, Any] = {"name": name}
        for key, value in (
            ("description", description),
            ("type", type),
            ("system_metadata", system_metadata),
        ):
            if value is not None:
                fields[key] = value.value if isinstance(value, DirectoryType) else value
        body = DirectoryCreate.model_validate(fields)
        request = self.request(
            "POST",
            DIRECTORIES_PATH,
            tenant=self._tenant(organization_id, project_id),
            body=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        # A duplicate empty directory is harmless, so no reconciliation: the re-send's key
        # dedupes on the emulator; LlamaCloud documents no key and may create a second one.
        return create(self, request, lambda r: parse_model(request, r, Directory), None)

    def get_directory(
        self, directory_id: str, *, organization_id: str | None, project_id: str | None
    ) -> Op[Directory]:
        request = self.request(
            "GET",
            f"{DIRECTORIES_PATH}/{path_segment('directory_id', directory_id)}",
            tenant=self._tenant(organization_id, project_id),
        )
        return self.call_model(request, Directory)

    def delete_directory(
        self, directory_id: str, *, organization_id: str | None, project_id: str | None
    ) -> Op[None]:
        request = self.request(
            "DELETE",
            f"{DIRECTORIES_PATH}/{path_segment('directory_id', directory_id)}",
            tenant=self._tenant(organization_id, project_id),
        )

        def attempt(loop: RetryLoop[None]) -> Op[None]:
            try:
                yield from self.attempt(request, lambda _response: None)
            except NotFoundError:
                # Gone on a retry: the earlier, failed-looking attempt did delete it.
                if loop.attempt_number == 1:
                    raise

        return self.retrying(attempt)

    def list_directories(
        self,
        *,
        name: str | None,
        type: str | None,
        types: Sequence[str] | None,
        include_deleted: bool | None,
        page_size: int | None,
        page_token: str | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryList]:
        request = self._directories_request(
            name=name,
            type=type,
            types=types,
            include_deleted=include_deleted,
            page_size=page_size,
            page_token=page_token,
            tenant=self._tenant(organization_id, project_id),
        )
        return self.call_model(request, DirectoryList)

    def iter_directories(
        self,
        *,
        name: str | None,
        type: str | None,
        types: Sequence[str] | None,
        include_deleted: bool | None,
        page_size: int,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        tenant = self._tenant(organization_id, project_id)
        self._directories_request(
            name=name,
            type=type,
            types=types,
            include_deleted=include_deleted,
            page_size=page_size,
            page_token=None,
            tenant=tenant,
        )
        return cursor_pages(
            self.call_model,
            lambda token: self._directories_request(
                name=name,
                type=type,
                types=types,
                include_deleted=include_deleted,
                page_size=page_size,
                page_token=token,
                tenant=tenant,
            ),
            DirectoryList,
            lambda directory: directory.id,
        )

    def _directories_request(
        self,
        *,
        name: str | None,
        type: str | None,
        types: Sequence[str] | None,
        include_deleted: bool | None,
        page_size: int | None,
        page_token: str | None,
        tenant: Mapping[str, str | None],
    ) -> Request:
        if isinstance(types, str):
            raise ValueError("types: pass a list of directory types, e.g. ['ephemeral', 'user']")
        return self.request(
            "GET",
            DIRECTORIES_PATH,
            tenant=tenant,
            params={
                "name": name,
                "type": enum_member("type", DirectoryType, type),
                "types": None
                if types is None
                else [enum_member("types", DirectoryType, t) for t in types],
                "include_deleted": include_deleted,
                "page_size": check_page_size(page_size),
                "page_token": page_token,
            },
        )

    def upload_file(
        self,
        directory_id: str,
        file: FileInput,
        *,
        display_name: str | None,
        unique_id: str | None,
        external_file_id: str | None,
        metadata: Mapping[str, Any] | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryFile]:
        segment = path_segment("directory_id", directory_id)
        for name, value in (
            ("display_name", display_name),
            ("unique_id", unique_id),
            ("external_file_id", external_file_id),
        ):
            if value is not None:
                check_name(name, value)
        metadata_json = metadata_field(metadata)
        upload = Upload(file, display_name)
        if unique_id is None:
            # Without a unique_id an ambiguous failure could only be re-sent blindly, adding the
            # file (and so a batch item) twice; the default gives reconciliation a key to look up.
            unique_id = external_file_id or upload.identity()
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            f"{DIRECTORIES_PATH}/{segment}/files/upload",
            tenant=tenant,
            data={
                "display_name": display_name,
                "external_file_id": external_file_id,
                "metadata": metadata_json,
                "unique_id": unique_id,
            },
            upload=upload,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        return create(
            self,
            request,
            lambda r: parse_model(request, r, DirectoryFile),
            file_finder(self, segment, unique_id, tenant),
        )

    def add_file(
        self,
        directory_id: str,
        file_id: str,
        *,
        display_name: str | None,
        unique_id: str | None,
        metadata: Mapping[str, Any] | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryFile]:
        segment = path_segment("directory_id", directory_id)
        fields: dict[str, Any] = {"file_id": file_id}
        for key, value in (
            ("display_name", display_name),
            # Defaulted for the same reason as in upload_file: reconciliation needs a key.
            ("unique_id", (display_name or file_id) if unique_id is None else unique_id),
            ("metadata", None if metadata is None else dict(metadata)),
        ):
            if value is not None:
                fields[key] = value
        body = DirectoryFileAdd.model_validate(fields)
        tenant = self._tenant(organization_id, project_id)
        request = self.request(
            "POST",
            f"{DIRECTORIES_PATH}/{segment}/files",
            tenant=tenant,
            body=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert body.unique_id is not None
        return create(
            self,
            request,
            lambda r: parse_model(request, r, DirectoryFile),
            file_finder(self, segment, body.unique_id, tenant, file_id=body.file_id),
        )

    def list_directory_files(
        self,
        directory_id: str,
        *,
        page_size: int | None,
        page_token: str | None,
        unique_id: str | None,
        display_name: str | None,
        display_name_contains: str | None,
        file_id: str | None,
        include_deleted: bool | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[DirectoryFileList]:
        request = self.request(
            "GET",
            f"{DIRECTORIES_PATH}/{path_segment('directory_id', directory_id)}/files",
            tenant=self._tenant(organization_id, project_id),
            params={
                "display_name": display_name,
                "display_name_contains": display_name_contains,
                "file_id": file_id,
                "unique_id": unique_id,
                "include_deleted": include_deleted,
                "page_size": check_page_size(page_size),
                "page_token": page_token,
            },
        )
        return self.call_model(request, DirectoryFileList)

    def iter_directory_files(
        self,
        directory_id: str,
        *,
        page_size: int,
        unique_id: str | None,
        display_name: str | None,
        display_name_contains: str | None,
        file_id: str | None,
        include_deleted: bool | None,
        organization_id: str | None,
        project_id: str | None,
    ) -> Op[None]:
        path = f"{DIRECTORIES_PATH}/{path_segment('directory_id', directory_id)}/files"
        tenant = self._tenant(organization_id, project_id)
        size = check_page_size(page_size)

        def page(token: str | None) -> Request:
            return self.request(
                "GET",
                path,
                tenant=tenant,
                params={
                    "display_name": display_name,
                    "display_name_contains": display_name_contains,
                    "file_id": file_id,
                    "unique_id": unique_id,
                    "include_deleted": include_deleted,
                    "page_size": size,
                    "page_token": token,
                },
            )

        return cursor_pages(self.call_model, page, DirectoryFileList, lambda file: file.id)


def _created_job(request: Request, response: httpx.Response, body: BatchJobCreate) -> BatchJob:
    """The created job, checked: the job type (and directory) asked for.

    A classify config is told from a parse config by its ``rules`` alone; a server that read it
    as the other type would run a job nobody asked for, so that is an error, not a success.
    """
    job = parse_model(request, response, BatchJob)
    asked, got = body.job_type.value, getattr(job.job_type, "value", job.job_type)
    wrong_directory = (
        body.directory_id is not None
        and job.directory_id is not None
        and job.directory_id != body.directory_id
    )
    if got != asked or wrong_directory:
        over = "" if job.directory_id is None else f" over {job.directory_id}"
        raise invalid_response(
            request,
            response,
            f"the created job {job.id} is a {got} job{over}, not the {asked} job"
            + ("" if body.directory_id is None else f" over {body.directory_id}")
            + " that was asked for; cancel it if it is not wanted",
        )
    return job


def with_classify_record(
    job: BatchJobCreate, *, key: str, project_id: str | None
) -> BatchJobCreate:
    """A classify body whose ``job_config`` carries the ``ClassifyJob`` record fields it can.

    The API's schema makes a classify config a whole ``ClassifyJob`` record (``id``,
    ``project_id``, ``status`` and ``user_id`` required besides ``rules``); whether LlamaCloud
    fills them when absent is undocumented. The client fills what it truthfully can: ``id``
    (from the create's idempotency key, so every attempt sends the same body), ``status``
    ``PENDING`` and the request's ``project_id`` when it names one. ``user_id`` is the caller's
    to give: a server that requires it answers 422 naming it, and nothing is created.

    Example:
        ```python
        from prefect_llamabatch.client.core import with_classify_record
        from prefect_llamabatch.models import BatchJobCreate

        body = BatchJobCreate(item_ids=["dfl-1"], job_config={"rules": [
            {"type": "invoice", "description": "bills"}]})
        filled = with_classify_record(body, key="k1", project_id="proj-1")
        assert filled.job_config.id == "cls-k1" and filled.job_config.project_id == "proj-1"
        ```
    """
    config = job.job_config
    if not isinstance(config, ClassifyJobConfig):
        return job
    fill: dict[str, str] = {}
    if config.id is None:
        fill["id"] = f"cls-{key}"
    if config.status is None:
        fill["status"] = "PENDING"
    if config.project_id is None and project_id is not None:
        fill["project_id"] = project_id
    if not fill:
        return job
    record = ClassifyJobConfig.model_validate({**config.model_dump(exclude_unset=True), **fill})
    return job.model_copy(update={"job_config": record})
