"""The emulated v2 API: batches, saved configurations, parse and extract jobs.

Thin routes: each parses its body and query with the v2 wire models (strict, as the SDK 2.19
types define them; a refusal is a 422 with a FastAPI-style ``detail``), asks the
:class:`~prefect_llamabatch.emulator.v2_store.V2Backend` and renders its rows. Route names
(``create_batch`` …) are what fault rules and the request log refer to.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from prefect_llamabatch.emulator.api import _body, _tenant, _validate
from prefect_llamabatch.emulator.auth import ApiError, Tenant
from prefect_llamabatch.emulator.outcomes import UnreadableDocument
from prefect_llamabatch.emulator.render import model_response
from prefect_llamabatch.emulator.state import EmulatorState
from prefect_llamabatch.emulator.v2_store import (
    V2Backend,
    extract_values,
    markdown_items,
    render_outputs,
    v2_time,
)
from prefect_llamabatch.models import LENIENT
from prefect_llamabatch.models.v2 import (
    Batch,
    BatchCreate,
    BatchListQuery,
    BatchPage,
    Configuration,
    ConfigurationCreate,
    ConfigurationListQuery,
    ConfigurationPage,
    ConfigurationUpdate,
    ExtractJob,
    ExtractJobListQuery,
    ExtractJobPage,
    ParseJob,
    ParseJobListQuery,
    ParseJobPage,
    ParseJobResult,
)

__all__ = ["DEFAULT_PAGE_SIZE", "PARSE_EXPAND", "router"]

M = TypeVar("M", bound=BaseModel)

DEFAULT_PAGE_SIZE = 50
_BATCHES = "/api/v2/batches"
_CONFIGS = "/api/v1/beta/configurations"
_PARSE = "/api/v2/parse"
_EXTRACT = "/api/v2/extract"
_OUTPUTS = "/_emulator/v2/outputs"
# Outputs that ``GET /api/v2/parse/{id}?expand=<name>_content_metadata`` can point to.
_SERVED_OUTPUTS = {
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "items": "application/json",
    "metadata": "application/json",
}
_UNSERVED_OUTPUTS = ("forms", "raw_words", "xlsx", "output_pdf")
PARSE_EXPAND = frozenset(
    {"text", "markdown", "items", "metadata", "forms", "job_metadata", "usage"}
    | {"markdown_full", "text_full", "raw_parameters", "images_content_metadata"}
    | {f"{name}_content_metadata" for name in (*_SERVED_OUTPUTS, *_UNSERVED_OUTPUTS)}
)
_PAGE = {"page_width": 612.0, "page_height": 792.0}

router = APIRouter()


def _backend(request: Request) -> V2Backend:
    backend: V2Backend = request.app.state.v2
    return backend


def _query(request: Request, model: type[M], *, lists: tuple[str, ...] = ()) -> M:
    """The query string as ``model``: repeated keys for the list fields, the last value otherwise."""
    data: dict[str, Any] = {}
    for key in model.model_fields:
        if key in lists:
            values = request.query_params.getlist(key)
            if values:
                data[key] = values
        elif key in request.query_params:
            data[key] = request.query_params[key]
    return _validate(model, data, "query")


def _stamp(value: datetime | None) -> str | None:
    return v2_time(value) if value is not None else None


def _page_size(value: int | None) -> int:
    return value or DEFAULT_PAGE_SIZE


# ------------------------------------------------------------------ batches


def _batch_model(backend: V2Backend, row: dict[str, Any], *, expand: bool = False) -> Batch:
    results = None
    if expand:
        mapped = backend.batch_results(row)
        if mapped is not None:
            results = [
                {
                    "source_directory_file_id": r["source_directory_file_id"],
                    "job_reference": {"type": r["job_type"], "id": r["job_id"]}
                    if r["job_id"]
                    else None,
                    "error_message": r["error_message"],
                }
                for r in mapped
            ]
    return Batch.model_validate(
        {
            "id": row["id"],
            "config": {
                "job": {"type": row["job_type"], "configuration_id": row["configuration_id"]}
            },
            "project_id": row["project_id"],
            "source_directory_id": row["source_directory_id"],
            "status": row["status"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "results": results,
        }
    )


def _batch(backend: V2Backend, tenant: Tenant, batch_id: str) -> dict[str, Any]:
    row = backend.get_batch(tenant.project_id, batch_id)
    if row is None:
        raise ApiError(404, f"Batch {batch_id} not found")
    return row


@router.post(_BATCHES, name="create_batch")
async def create_batch(request: Request) -> Response:
    """Create a batch over a source directory (at most ``v2_max_files_per_batch`` files)."""
    state, tenant = _tenant(request)
    backend = _backend(request)
    body = await _body(request, BatchCreate)
    spec = body.config.job
    configuration = backend.get_configuration(tenant.project_id, spec.configuration_id)
    if configuration is None:
        raise ApiError(404, f"Configuration {spec.configuration_id} not found")
    if configuration["product_type"] != spec.type:
        raise ApiError(
            400,
            f"Configuration {spec.configuration_id} is a {configuration['product_type']} "
            f"configuration; config.job.type is {spec.type}",
        )
    directory = state.store.get_directory(tenant.project_id, body.source_directory_id)
    if directory is None:
        raise ApiError(404, f"Directory {body.source_directory_id} not found")
    limit = state.config.v2_max_files_per_batch
    count = state.store.count_files(body.source_directory_id)
    if count > limit:
        raise ApiError(
            400,
            f"Source directory {body.source_directory_id} holds {count} files; "
            f"a batch processes at most {limit} files",
        )
    webhooks = body.model_dump(
        mode="json", include={"webhook_configurations", "webhook_configuration_ids"}
    )
    row = backend.create_batch(
        tenant.project_id,
        source_directory_id=body.source_directory_id,
        job_type=spec.type,
        configuration=configuration,
        webhooks={k: v for k, v in webhooks.items() if v is not None} or None,
    )
    return model_response(_batch_model(backend, row))


@router.get(_BATCHES, name="list_batches")
async def list_batches(request: Request) -> Response:
    """The project's batches, newest first, with cursor pagination and filters."""
    _, tenant = _tenant(request)
    backend = _backend(request)
    query = _query(request, BatchListQuery)
    rows, token = backend.list_batches(
        tenant.project_id,
        source_directory_id=query.source_directory_id,
        status=query.status,
        created_after=_stamp(query.created_at_on_or_after),
        created_before=_stamp(query.created_at_on_or_before),
        page_size=_page_size(query.page_size),
        page_token=query.page_token,
    )
    items = [_batch_model(backend, r) for r in rows]
    return model_response(BatchPage(items=items, next_page_token=token))


def _expand(request: Request, allowed: frozenset[str]) -> set[str]:
    values = {v for raw in request.query_params.getlist("expand") for v in raw.split(",") if v}
    unknown = sorted(values - allowed)
    if unknown:
        raise ApiError(
            422,
            [
                {
                    "type": "value_error",
                    "loc": ["query", "expand"],
                    "msg": f"Unsupported expand value(s) {unknown}; supported: {sorted(allowed)}",
                }
            ],
        )
    return values


@router.get(_BATCHES + "/{batch_id}", name="get_batch")
async def get_batch(request: Request, batch_id: str) -> Response:
    """One batch; ``expand=results`` adds its per-file mappings once it is finished."""
    _, tenant = _tenant(request)
    backend = _backend(request)
    expand = _expand(request, frozenset({"results"}))
    row = _batch(backend, tenant, batch_id)
    return model_response(_batch_model(backend, row, expand="results" in expand))


@router.post(_BATCHES + "/{batch_id}/cancel", name="cancel_batch")
async def cancel_batch(request: Request, batch_id: str) -> Response:
    """Cancel an unfinished batch (400 for one in a final status)."""
    _, tenant = _tenant(request)
    backend = _backend(request)
    row = backend.cancel_batch(_batch(backend, tenant, batch_id))
    return model_response(_batch_model(backend, row))


# ------------------------------------------------------------------ configurations


def _configuration_model(row: dict[str, Any]) -> Configuration:
    # Lenient: parameters keep the unknown options a create was sent (the server ignores them).
    return Configuration.model_validate(
        {
            "id": row["id"],
            "name": row["name"],
            "parameters": json.loads(row["parameters"]),
            "product_type": row["product_type"],
            "version": row["version"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        },
        context={LENIENT: True},
    )


@router.post(_CONFIGS, name="create_configuration")
async def create_configuration(request: Request) -> Response:
    """Create a configuration, or update the project's one with the same name and product type."""
    _, tenant = _tenant(request)
    body = await _body(request, ConfigurationCreate)
    parameters = body.parameters.model_dump(mode="json", exclude_unset=True)
    row = _backend(request).upsert_configuration(tenant.project_id, body.name, parameters)
    return model_response(_configuration_model(row))


@router.get(_CONFIGS, name="list_configurations")
async def list_configurations(request: Request) -> Response:
    """The project's saved configurations, newest first, with cursor pagination and filters."""
    _, tenant = _tenant(request)
    query = _query(request, ConfigurationListQuery, lists=("product_type",))
    rows, token = _backend(request).list_configurations(
        tenant.project_id,
        name=query.name,
        product_types=list(query.product_type or ()),
        page_size=_page_size(query.page_size),
        page_token=query.page_token,
    )
    items = [_configuration_model(r) for r in rows]
    return model_response(ConfigurationPage(items=items, next_page_token=token))


@router.get(_CONFIGS + "/{config_id}", name="get_configuration")
async def get_configuration(request: Request, config_id: str) -> Response:
    """A saved configuration or a built-in preset."""
    _, tenant = _tenant(request)
    row = _backend(request).require_configuration(tenant.project_id, config_id)
    return model_response(_configuration_model(row))


@router.put(_CONFIGS + "/{config_id}", name="update_configuration")
async def update_configuration(request: Request, config_id: str) -> Response:
    """Change a configuration's name and/or parameters (omitted ones are left as they are)."""
    _, tenant = _tenant(request)
    body = await _body(request, ConfigurationUpdate, optional=True)
    parameters = (
        body.parameters.model_dump(mode="json", exclude_unset=True) if body.parameters else None
    )
    row = _backend(request).update_configuration(
        tenant.project_id, config_id, name=body.name, parameters=parameters
    )
    return model_response(_configuration_model(row))


@router.delete(_CONFIGS + "/{config_id}", name="delete_configuration")
async def delete_configuration(request: Request, config_id: str) -> Response:
    """Delete a saved configuration."""
    _, tenant = _tenant(request)
    _backend(request).delete_configuration(tenant.project_id, config_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ parse jobs


def _parse_job_model(row: dict[str, Any]) -> ParseJob:
    return ParseJob.model_validate(
        {
            "id": row["id"],
            "project_id": row["project_id"],
            "status": row["status"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "error_message": row["error_message"],
            "name": row["name"],
            "tier": row["tier"],
        }
    )


def _job(backend: V2Backend, kind: str, tenant: Tenant, job_id: str) -> dict[str, Any]:
    row = backend.get_job(kind, tenant.project_id, job_id)
    if row is None:
        raise ApiError(404, f"{kind.capitalize()} job {job_id} not found")
    return row


def _list_jobs(
    request: Request, kind: str, query: ParseJobListQuery | ExtractJobListQuery
) -> tuple[list[dict[str, Any]], str | None]:
    _, tenant = _tenant(request)
    return _backend(request).list_jobs(
        kind,
        tenant.project_id,
        job_ids=list(query.job_ids or ()),
        status=query.status,
        created_after=_stamp(query.created_at_on_or_after),
        created_before=_stamp(query.created_at_on_or_before),
        configuration_id=getattr(query, "configuration_id", None),
        page_size=_page_size(query.page_size),
        page_token=query.page_token,
    )


@router.get(_PARSE, name="list_parse_jobs")
async def list_parse_jobs(request: Request) -> Response:
    """The project's parse jobs, newest first; filters ``job_ids`` (repeated), ``status``."""
    query = _query(request, ParseJobListQuery, lists=("job_ids",))
    rows, token = _list_jobs(request, "parse", query)
    items = [_parse_job_model(r) for r in rows]
    return model_response(ParseJobPage(items=items, next_page_token=token))


def _outputs(state: EmulatorState, markdown: str, text: str) -> dict[str, str]:
    items = {
        "pages": [{"page_number": 1, "success": True, **_PAGE, "items": markdown_items(markdown)}]
    }
    metadata = {"pages": [{"page_number": 1}]}
    return {
        "markdown": markdown,
        "text": text,
        "items": json.dumps(items),
        "metadata": json.dumps(metadata),
    }


@router.get(_PARSE + "/{job_id}", name="get_parse_job")
async def get_parse_job(request: Request, job_id: str) -> Response:
    """A parse job (v2, or the one behind a v1 item) and the outputs named by ``expand``."""
    state, tenant = _tenant(request)
    backend = _backend(request)
    expand = _expand(request, PARSE_EXPAND)
    row = _job(backend, "parse", tenant, job_id)
    body: dict[str, Any] = {
        "job": _parse_job_model(row).model_dump(mode="json", exclude_unset=True)
    }
    if "raw_parameters" in expand and row.get("batch_seq") is not None:
        body["raw_parameters"] = backend.job_parameters(row)
    if "job_metadata" in expand:
        body["job_metadata"] = {"source_directory_file_id": row["source_directory_file_id"]}
    if row["status"] == "COMPLETED" and expand - {"raw_parameters", "job_metadata"}:
        try:
            markdown, text = render_outputs(backend.document(row))
        except UnreadableDocument:
            markdown, text = "", ""
        outputs = _outputs(state, markdown, text)
        if "markdown" in expand:
            body["markdown"] = {
                "pages": [{"page_number": 1, "success": True, "markdown": markdown}]
            }
        if "markdown_full" in expand:
            body["markdown_full"] = markdown
        if "text" in expand:
            body["text"] = {"pages": [{"page_number": 1, "text": text}]}
        if "text_full" in expand:
            body["text_full"] = text
        if "items" in expand:
            body["items"] = json.loads(outputs["items"])
        if "metadata" in expand:
            body["metadata"] = json.loads(outputs["metadata"])
        content: dict[str, Any] = {}
        for name, value in outputs.items():
            if f"{name}_content_metadata" in expand:
                content[name] = {
                    "size_bytes": len(value.encode()),
                    "exists": True,
                    "presigned_url": backend.sign_output(job_id, name),
                }
        for name in _UNSERVED_OUTPUTS:
            if f"{name}_content_metadata" in expand:
                content[name] = {"size_bytes": 0, "exists": False, "presigned_url": None}
        if content:
            body["result_content_metadata"] = content
        if "images_content_metadata" in expand:
            body["images_content_metadata"] = {"images": [], "total_count": 0}
    return model_response(ParseJobResult.model_validate(body))


@router.get(_OUTPUTS + "/{job_id}/{output}", name="get_v2_output")
async def get_v2_output(
    request: Request, job_id: str, output: str, expires: int = 0, signature: str = ""
) -> Response:
    """The target of presigned output URLs (checked by signature and expiry, not by API key)."""
    backend = _backend(request)
    if output not in _SERVED_OUTPUTS or not backend.check_output(
        job_id, output, expires, signature
    ):
        raise ApiError(403, "Request has expired or its signature does not match")
    row = None
    for key in backend.state.config.api_keys:
        for project_id in key.project_ids:
            row = row or backend.get_job("parse", project_id, job_id)
    if row is None or row["status"] != "COMPLETED":
        raise ApiError(404, f"No {output} output for job {job_id}")
    markdown, text = render_outputs(backend.document(row))
    value = _outputs(backend.state, markdown, text)[output]
    return Response(value.encode(), media_type=_SERVED_OUTPUTS[output])


# ------------------------------------------------------------------ extract jobs


def _extract_job_model(backend: V2Backend, row: dict[str, Any]) -> ExtractJob:
    parameters = backend.job_parameters(row)
    configuration = {k: v for k, v in parameters.items() if k != "product_type"} or None
    result = None
    if row["status"] == "COMPLETED":
        schema = parameters.get("data_schema")
        try:
            _, text = render_outputs(backend.document(row))
        except UnreadableDocument:
            text = ""
        result = extract_values(schema if isinstance(schema, dict) else {}, text)
    return ExtractJob.model_validate(
        {
            "id": row["id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "file_input": row["file_id"],
            "project_id": row["project_id"],
            "status": row["status"],
            "configuration_id": row["configuration_id"],
            "configuration": configuration,
            "error_message": row["error_message"],
            "extract_result": result,
        }
    )


@router.get(_EXTRACT, name="list_extract_jobs")
async def list_extract_jobs(request: Request) -> Response:
    """The project's extract jobs, newest first; filters ``job_ids`` (repeated), ``status`` …"""
    query = _query(request, ExtractJobListQuery, lists=("job_ids", "expand"))
    backend = _backend(request)
    rows, token = _list_jobs(request, "extract", query)
    items = [_extract_job_model(backend, r) for r in rows]
    return model_response(ExtractJobPage(items=items, next_page_token=token))


@router.get(_EXTRACT + "/{job_id}", name="get_extract_job")
async def get_extract_job(request: Request, job_id: str) -> Response:
    """An extract job; a completed one carries its ``extract_result``."""
    _, tenant = _tenant(request)
    backend = _backend(request)
    row = _job(backend, "extract", tenant, job_id)
    return model_response(_extract_job_model(backend, row))
