"""The emulated LlamaCloud API: the six batch endpoints and the directory endpoints.

Request bodies and queries are parsed with the shared wire models (leniently, like a real server
that ignores fields it does not know); a wrong type answers 422 with a FastAPI-style ``detail``
list. Route names (``create_job`` …) are what fault rules and the request log refer to.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from prefect_llamabatch.emulator.auth import ApiError, Tenant
from prefect_llamabatch.emulator.outcomes import cache_flags, masked_config, parameters_hash
from prefect_llamabatch.emulator.render import (
    directory_model,
    file_model,
    item_model,
    job_model,
    job_status_model,
    model_response,
    results_model,
)
from prefect_llamabatch.emulator.settings import MAX_LIMIT
from prefect_llamabatch.emulator.state import MAX_UPLOAD_BYTES, EmulatorState
from prefect_llamabatch.emulator.store import encode_offset
from prefect_llamabatch.models import (
    LENIENT,
    BatchCancelRequest,
    BatchCancelResponse,
    BatchJobCreate,
    BatchJobList,
    ClassifyJobConfig,
    DirectoryCreate,
    DirectoryFileAdd,
    DirectoryFileList,
    DirectoryList,
    DirectoryUpdate,
    FileMetadataValue,
    JobItemList,
    JobType,
    ListItemsQuery,
    ListJobsQuery,
)

__all__ = ["router"]

M = TypeVar("M", bound=BaseModel)

DEFAULT_LIMIT = 100

router = APIRouter()
_BATCH = "/api/v1/beta/batch-processing"
_DIRS = "/api/v1/beta/directories"
_METADATA: TypeAdapter[dict[str, FileMetadataValue]] = TypeAdapter(dict[str, FileMetadataValue])


# ------------------------------------------------------------------ request parsing


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _tenant(request: Request) -> tuple[EmulatorState, Tenant]:
    state = _state(request)
    return state, state.keys.tenant(request)


def _validation_detail(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    # FastAPI's shape, without echoing the input (it may hold a secret).
    return [{"type": e["type"], "loc": [where, *e["loc"]], "msg": e["msg"]} for e in exc.errors()]


def _validate(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data, context={LENIENT: True})
    except ValidationError as exc:
        raise ApiError(422, _validation_detail(exc, where)) from None


async def _json_body(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(422, [{"type": "missing", "loc": ["body"], "msg": "Field required"}])
    try:
        data = json.loads(raw)
    except ValueError as exc:
        position = getattr(exc, "pos", 0)
        raise ApiError(
            422, [{"type": "json_invalid", "loc": ["body", position], "msg": "JSON decode error"}]
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            422,
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                }
            ],
        )
    return data


async def _body(request: Request, model: type[M], *, optional: bool = False) -> M:
    return _validate(model, await _json_body(request, optional=optional), "body")


def _query(request: Request, model: type[M], *, enums: tuple[str, ...] = ()) -> M:
    fields = model.model_fields
    lenient = _state(request).config.case_insensitive_filters
    data: dict[str, Any] = {}
    for key, value in request.query_params.items():
        if key in fields:
            data[key] = value.lower() if lenient and key in enums else value
    return _validate(model, data, "query")


def _limit(request: Request, value: int | None, name: str = "limit") -> int:
    """The page size to serve: 422 above the API maximum (unless clamping), then the page cap.

    Only ``limit`` has a documented maximum; a cursor listing's ``page_size`` above it is
    served capped (a short page with a token, which clients must handle anyway).
    """
    config = _state(request).config
    size = value or DEFAULT_LIMIT
    if size > MAX_LIMIT:
        if not config.clamp_limit and name == "limit":
            raise ApiError(
                422,
                [
                    {
                        "type": "less_than_equal",
                        "loc": ["query", name],
                        "msg": f"Input should be less than or equal to {MAX_LIMIT}",
                    }
                ],
            )
        size = MAX_LIMIT
    if config.max_page_size is not None:
        size = min(size, config.max_page_size)
    return size


def _newest_first(request: Request) -> bool:
    return _state(request).config.list_order == "newest_first"


def _offset_page(request: Request, offset: int, served: int, total: int) -> dict[str, Any]:
    """``total_size`` (unless omitted) and, while entries remain, a ``next_page_token``.

    LlamaCloud fills the token on offset listings too; the SDK pages by offset and so do the
    clients, so it is never read back. Fields left out are absent from the JSON.
    """
    envelope: dict[str, Any] = {}
    if _state(request).config.include_total_size:
        envelope["total_size"] = total
    if served and offset + served < total:
        envelope["next_page_token"] = encode_offset(offset + served)
    return envelope


class _DirectoryListQuery(BaseModel):
    name: str | None = None
    type: str | None = None
    include_deleted: bool = False
    page_size: int = Field(default=DEFAULT_LIMIT, gt=0)
    page_token: str | None = None


class _FileListQuery(BaseModel):
    display_name: str | None = None
    display_name_contains: str | None = None
    file_id: str | None = None
    unique_id: str | None = None
    include_deleted: bool = False
    page_size: int = Field(default=DEFAULT_LIMIT, gt=0)
    page_token: str | None = None


class _FileUpdate(BaseModel):
    """Body of PATCH …/files/{id} (the SDK's ``files.update``; not in models.py's subset)."""

    model_config = ConfigDict(extra="ignore")

    display_name: str | None = Field(default=None, min_length=1)
    metadata: dict[str, FileMetadataValue] | None = None
    target_directory_id: str | None = None
    unique_id: str | None = Field(default=None, min_length=1)


class _ResultsQuery(BaseModel):
    job_type: JobType | None = None


def _expand_download(request: Request) -> bool:
    return "download_url" in request.query_params.getlist("expand")


def _download_url(state: EmulatorState, file_id: str) -> dict[str, Any]:
    url, expires = state.sign_download(file_id)
    return {"url": url, "expires_at": datetime.fromtimestamp(expires, timezone.utc).isoformat()}


# ------------------------------------------------------------------ batch processing


CLASSIFY_RECORD_FIELDS = ("id", "project_id", "status", "user_id")
"""Fields of the ``ClassifyJob`` record (the classify ``job_config``) the schema marks required."""


def _check_classify_record(config: ClassifyJobConfig) -> None:
    missing = [name for name in CLASSIFY_RECORD_FIELDS if getattr(config, name) is None]
    if missing:
        raise ApiError(
            422,
            [
                {
                    "type": "missing",
                    "loc": ["body", "job_config", "ClassifyJob", name],
                    "msg": "Field required",
                }
                for name in missing
            ],
        )


@router.post(_BATCH, name="create_job")
async def create_job(request: Request) -> Response:
    """Create a batch job from a directory or a list of item ids."""
    state, tenant = _tenant(request)
    body = await _body(request, BatchJobCreate)
    config = body.job_config
    if isinstance(config, ClassifyJobConfig) and state.config.classify_record == "required":
        _check_classify_record(config)
    # LlamaCloud documents no idempotency key: honoured only when the convenience is on.
    idempotency_key = (
        request.headers.get("idempotency-key") or None if state.config.idempotency_keys else None
    )
    request_hash = hashlib.sha256(
        json.dumps(body.model_dump(mode="json", exclude_unset=True), sort_keys=True).encode()
    ).hexdigest()
    if idempotency_key is not None:
        existing = state.store.find_job_by_idempotency_key(tenant.project_id, idempotency_key)
        if existing is not None:
            if existing["request_hash"] != request_hash:
                raise ApiError(
                    422,
                    "Idempotency-Key was already used with a different request body; "
                    "use a new key for a different job",
                )
            return model_response(job_model(existing))
    look_up, keep = cache_flags(config)
    cycle_size = None
    if body.directory_id is not None:
        cycle_size = body.continue_as_new_threshold or body.page_size
    job = state.store.create_job(
        project_id=tenant.project_id,
        organization_id=tenant.organization_id,
        job_type=body.job_type.value,
        job_config=json.dumps(masked_config(config)),
        parameters_hash=parameters_hash(config),
        cache_lookup=look_up,
        cache_store=keep,
        directory_id=body.directory_id,
        item_ids=body.item_ids,
        cycle_size=cycle_size,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    state.scheduler.wake()
    return model_response(job_model(job))


@router.get(_BATCH, name="list_jobs")
async def list_jobs(request: Request) -> Response:
    """List the project's batch jobs (in ``list_order``) with offset pagination."""
    state, tenant = _tenant(request)
    query = _query(request, ListJobsQuery, enums=("job_type", "status"))
    offset = query.offset or 0
    rows, total = state.store.list_jobs(
        tenant.project_id,
        directory_id=query.directory_id,
        job_type=query.job_type.value if query.job_type else None,
        status=query.status.value if query.status else None,
        limit=_limit(request, query.limit),
        offset=offset,
        newest_first=_newest_first(request),
    )
    page = BatchJobList(
        items=[job_model(r) for r in rows], **_offset_page(request, offset, len(rows), total)
    )
    return model_response(page)


def _job(state: EmulatorState, tenant: Tenant, job_id: str) -> dict[str, Any]:
    job = state.store.get_job(tenant.project_id, job_id)
    if job is None:
        raise ApiError(404, f"Batch job {job_id} not found")
    return job


@router.get(_BATCH + "/{job_id}", name="get_job")
async def get_job(request: Request, job_id: str) -> Response:
    """A job's status, counters and progress."""
    state, tenant = _tenant(request)
    return model_response(job_status_model(_job(state, tenant, job_id)))


@router.post(_BATCH + "/{job_id}/cancel", name="cancel_job")
async def cancel_job(request: Request, job_id: str) -> Response:
    """Cancel a job: pending items are cancelled, items in flight finish.

    A job that already finished is left as it is and answered with 200, its final status and a
    message saying so.
    """
    state, tenant = _tenant(request)
    body = await _body(request, BatchCancelRequest, optional=True)
    job = _job(state, tenant, job_id)
    job, changed = state.store.cancel_job(job, body.reason)
    processed = int(job["n_completed"]) + int(job["n_failed"]) + int(job["n_skipped"])
    if changed:
        message = "Batch job cancelled" + (f": {body.reason}" if body.reason else "")
        state.scheduler.wake()
    else:
        message = f"Batch job already {job['status']}; nothing to cancel"
    response = BatchCancelResponse(
        job_id=job["id"], message=message, processed_items=processed, status=job["status"]
    )
    return model_response(response)


@router.get(_BATCH + "/{job_id}/items", name="list_items")
async def list_items(request: Request, job_id: str) -> Response:
    """A job's items (job order, or reversed), with offset pagination and a status filter."""
    state, tenant = _tenant(request)
    query = _query(request, ListItemsQuery, enums=("status",))
    job = _job(state, tenant, job_id)
    offset = query.offset or 0
    rows, total = state.store.list_items(
        job,
        status=query.status.value if query.status else None,
        limit=_limit(request, query.limit),
        offset=offset,
        newest_first=_newest_first(request),
    )
    page = JobItemList(
        items=[item_model(r) for r in rows], **_offset_page(request, offset, len(rows), total)
    )
    return model_response(page)


@router.get(_BATCH + "/items/{item_id}/processing-results", name="get_item_results")
async def get_item_results(request: Request, item_id: str) -> Response:
    """Every processing result of an item (a directory file), across jobs, oldest first."""
    state, tenant = _tenant(request)
    query = _query(request, _ResultsQuery, enums=("job_type",))
    job_type = query.job_type.value if query.job_type else None
    item, results = state.store.item_results(tenant.project_id, item_id, job_type=job_type)
    if item is None:
        raise ApiError(404, f"Item {item_id} not found")
    return model_response(results_model(item, results))


# ------------------------------------------------------------------ directories


@router.post(_DIRS, name="create_directory")
async def create_directory(request: Request) -> Response:
    """Create a directory."""
    state, tenant = _tenant(request)
    body = await _body(request, DirectoryCreate)
    row = state.store.create_directory(
        tenant.project_id,
        name=body.name,
        description=body.description,
        type=body.type,
        system_metadata=body.system_metadata,
    )
    return model_response(directory_model(row))


@router.get(_DIRS, name="list_directories")
async def list_directories(request: Request) -> Response:
    """The project's directories (in ``list_order``), with cursor pagination."""
    state, tenant = _tenant(request)
    query = _query(request, _DirectoryListQuery)
    types = request.query_params.getlist("types")
    if query.type:
        types.append(query.type)
    rows, token = state.store.list_directories(
        tenant.project_id,
        name=query.name,
        types=types,
        include_deleted=query.include_deleted,
        page_size=_limit(request, query.page_size, "page_size"),
        newest_first=_newest_first(request),
        page_token=query.page_token,
    )
    return model_response(
        DirectoryList(items=[directory_model(r) for r in rows], next_page_token=token)
    )


def _directory(state: EmulatorState, tenant: Tenant, directory_id: str) -> dict[str, Any]:
    row = state.store.get_directory(tenant.project_id, directory_id)
    if row is None:
        raise ApiError(404, f"Directory {directory_id} not found")
    return row


@router.get(_DIRS + "/{directory_id}", name="get_directory")
async def get_directory(request: Request, directory_id: str) -> Response:
    """One directory."""
    state, tenant = _tenant(request)
    return model_response(directory_model(_directory(state, tenant, directory_id)))


@router.patch(_DIRS + "/{directory_id}", name="update_directory")
async def update_directory(request: Request, directory_id: str) -> Response:
    """Rename a directory or change its description."""
    state, tenant = _tenant(request)
    body = await _body(request, DirectoryUpdate, optional=True)
    changes = body.model_dump(exclude_unset=True, include={"name", "description"})
    # A directory always has a name: an explicit null means "leave it" (description may be cleared).
    if changes.get("name", "") is None:
        del changes["name"]
    row = state.store.update_directory(tenant.project_id, directory_id, changes)
    return model_response(directory_model(row))


@router.delete(_DIRS + "/{directory_id}", name="delete_directory")
async def delete_directory(request: Request, directory_id: str) -> Response:
    """Delete a directory and its files (jobs already created keep running)."""
    state, tenant = _tenant(request)
    state.store.delete_directory(tenant.project_id, directory_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ files in a directory


def _form_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(
            422, [{"type": "string_type", "loc": ["body", field], "msg": "must be text"}]
        )
    return value or None


async def _upload_bytes(upload: Any, field: str) -> tuple[bytes, str]:
    if not isinstance(upload, UploadFile):
        raise ApiError(
            422, [{"type": "missing", "loc": ["body", field], "msg": "Field required (a file)"}]
        )
    data = await upload.read()
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"File is larger than the platform limit of {MAX_UPLOAD_BYTES} bytes")
    return data, upload.filename or "upload"


@router.post(_DIRS + "/{directory_id}/files/upload", name="upload_file")
async def upload_file(request: Request, directory_id: str) -> Response:
    """Upload a file (multipart) and add it to the directory in one call."""
    state, tenant = _tenant(request)
    _directory(state, tenant, directory_id)
    async with request.form() as form:
        data, filename = await _upload_bytes(form.get("upload_file"), "upload_file")
        display_name = _form_text(form.get("display_name"), "display_name")
        external_file_id = _form_text(form.get("external_file_id"), "external_file_id")
        unique_id = _form_text(form.get("unique_id"), "unique_id")
        raw_metadata = _form_text(form.get("metadata"), "metadata")
    metadata = None
    if raw_metadata is not None:
        try:
            metadata = _METADATA.validate_json(raw_metadata)
        except ValidationError as exc:
            raise ApiError(422, _validation_detail(exc, "body")) from None
    blob = state.save_blob(
        tenant.project_id, name=filename, data=data, external_file_id=external_file_id
    )
    row = state.store.add_file(
        tenant.project_id,
        directory_id,
        file_id=blob["id"],
        display_name=display_name or filename,
        unique_id=unique_id,
        metadata=metadata,
    )
    return model_response(file_model(row))


@router.post(_DIRS + "/{directory_id}/files", name="add_file")
async def add_file(request: Request, directory_id: str) -> Response:
    """Add an already uploaded file (``file_id``) to the directory."""
    state, tenant = _tenant(request)
    body = await _body(request, DirectoryFileAdd)
    row = state.store.add_file(
        tenant.project_id,
        directory_id,
        file_id=body.file_id,
        display_name=body.display_name,
        unique_id=body.unique_id,
        metadata=body.metadata,
    )
    return model_response(file_model(row))


@router.get(_DIRS + "/{directory_id}/files", name="list_files")
async def list_files(request: Request, directory_id: str) -> Response:
    """A directory's files (upload order, or reversed), with cursor pagination and filters."""
    state, tenant = _tenant(request)
    query = _query(request, _FileListQuery)
    rows, token = state.store.list_files(
        tenant.project_id,
        directory_id,
        display_name=query.display_name,
        display_name_contains=query.display_name_contains,
        file_id=query.file_id,
        unique_id=query.unique_id,
        include_deleted=query.include_deleted,
        page_size=_limit(request, query.page_size, "page_size"),
        newest_first=_newest_first(request),
        page_token=query.page_token,
    )
    expand = _expand_download(request)
    items = [file_model(r, _download_url(state, r["file_id"]) if expand else None) for r in rows]
    return model_response(DirectoryFileList(items=items, next_page_token=token))


@router.get(_DIRS + "/{directory_id}/files/{directory_file_id}", name="get_file")
async def get_file(request: Request, directory_id: str, directory_file_id: str) -> Response:
    """One file of a directory."""
    state, tenant = _tenant(request)
    row = state.store.get_file(tenant.project_id, directory_id, directory_file_id)
    if row is None:
        raise ApiError(404, f"Directory file {directory_file_id} not found")
    download = _download_url(state, row["file_id"]) if _expand_download(request) else None
    return model_response(file_model(row, download))


@router.patch(_DIRS + "/{directory_id}/files/{directory_file_id}", name="update_file")
async def update_file(request: Request, directory_id: str, directory_file_id: str) -> Response:
    """Change a file's display name, unique id or metadata, or move it to another directory."""
    state, tenant = _tenant(request)
    body = await _body(request, _FileUpdate, optional=True)
    row = state.store.update_file(
        tenant.project_id, directory_id, directory_file_id, body.model_dump(exclude_unset=True)
    )
    return model_response(file_model(row))


@router.delete(_DIRS + "/{directory_id}/files/{directory_file_id}", name="delete_file")
async def delete_file(request: Request, directory_id: str, directory_file_id: str) -> Response:
    """Remove a file from a directory."""
    state, tenant = _tenant(request)
    state.store.delete_file(tenant.project_id, directory_id, directory_file_id)
    return Response(status_code=204)


@router.post("/api/v1/beta/files", name="create_file")
async def create_file(request: Request) -> Response:
    """Upload a file without a directory (the SDK's ``files.create``); add it with ``add_file``."""
    state, tenant = _tenant(request)
    async with request.form() as form:
        data, filename = await _upload_bytes(form.get("file"), "file")
        purpose = _form_text(form.get("purpose"), "purpose")
        external_file_id = _form_text(form.get("external_file_id"), "external_file_id")
    if purpose is None:
        raise ApiError(
            422, [{"type": "missing", "loc": ["body", "purpose"], "msg": "Field required"}]
        )
    blob = state.save_blob(
        tenant.project_id,
        name=filename,
        data=data,
        external_file_id=external_file_id,
        purpose=purpose,
    )
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else None
    body = {
        "id": blob["id"],
        "name": blob["name"],
        "project_id": blob["project_id"],
        "external_file_id": blob["external_file_id"],
        "file_type": suffix,
        "purpose": purpose,
        "last_modified_at": blob["created_at"],
        "expires_at": None,
    }
    return Response(json.dumps(body), media_type="application/json")
