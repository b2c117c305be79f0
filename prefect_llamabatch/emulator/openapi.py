"""The emulator's OpenAPI document, with the request and response schemas of the wire models.

The routes read their bodies and queries by hand (leniently, like the real server), so FastAPI
cannot see what they accept or return. This fills the generated document in from
``prefect_llamabatch.models``: each route's query parameters, JSON or multipart body, success
response and error responses. Schema-driven fuzzers (schemathesis) and client generators then see
the same contract the package's client is written against.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute

from prefect_llamabatch.emulator.v2_api import PARSE_EXPAND
from prefect_llamabatch.models import (
    BatchCancelRequest,
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchJobList,
    BatchJobStatus,
    Directory,
    DirectoryCreate,
    DirectoryFile,
    DirectoryFileAdd,
    DirectoryFileList,
    DirectoryList,
    DirectoryUpdate,
    ItemProcessingResults,
    JobItemList,
    ListItemsQuery,
    ListJobsQuery,
)
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
    ParseJobListQuery,
    ParseJobPage,
    ParseJobResult,
)

__all__ = ["ROUTE_DOCS", "RouteDoc", "install_openapi"]

REF = "#/components/schemas/{model}"
_STRING: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_PAGE_SIZE: dict[str, Any] = {"type": "integer", "exclusiveMinimum": 0}


@dataclass(frozen=True)
class RouteDoc:
    """What one route accepts and returns."""

    response: type[BaseModel] | dict[str, Any] | None
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | dict[str, dict[str, Any]] | None = None
    multipart: dict[str, dict[str, Any]] = field(default_factory=dict)
    multipart_required: tuple[str, ...] = ()
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


_FILE_QUERY: dict[str, dict[str, Any]] = {
    "display_name": _STRING,
    "display_name_contains": _STRING,
    "file_id": _STRING,
    "unique_id": _STRING,
    "include_deleted": _BOOL,
    "page_size": _PAGE_SIZE,
    "page_token": _STRING,
    "expand": _STRING,
}
_FILE_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "display_name": {"type": "string", "minLength": 1},
        "metadata": {"type": "object"},
        "target_directory_id": _STRING,
        "unique_id": {"type": "string", "minLength": 1},
    },
}
_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


def _expand(*values: str) -> dict[str, Any]:
    """An ``expand`` query parameter: repeated, or comma-separated in one value."""
    return {"type": "array", "items": {"type": "string", "enum": sorted(values)}}


ROUTE_DOCS: dict[str, RouteDoc] = {
    "create_job": RouteDoc(
        BatchJob,
        body=BatchJobCreate,
        headers={"Idempotency-Key": _STRING, "temporal-namespace": _STRING},
    ),
    "list_jobs": RouteDoc(BatchJobList, query=ListJobsQuery),
    "get_job": RouteDoc(BatchJobStatus),
    "cancel_job": RouteDoc(
        BatchCancelResponse,
        body=BatchCancelRequest,
        body_required=False,
        headers={"temporal-namespace": _STRING},
    ),
    "list_items": RouteDoc(JobItemList, query=ListItemsQuery),
    "get_item_results": RouteDoc(
        ItemProcessingResults,
        query={"job_type": {"type": "string", "enum": ["parse", "extract", "classify"]}},
    ),
    "create_directory": RouteDoc(Directory, body=DirectoryCreate),
    "list_directories": RouteDoc(
        DirectoryList,
        query={
            "name": _STRING,
            "type": _STRING,
            "types": {"type": "array", "items": _STRING},
            "include_deleted": _BOOL,
            "page_size": _PAGE_SIZE,
            "page_token": _STRING,
        },
    ),
    "get_directory": RouteDoc(Directory),
    "update_directory": RouteDoc(Directory, body=DirectoryUpdate, body_required=False),
    "delete_directory": RouteDoc(None),
    "upload_file": RouteDoc(
        DirectoryFile,
        multipart={
            "upload_file": _BINARY,
            "display_name": _STRING,
            "external_file_id": _STRING,
            "unique_id": _STRING,
            "metadata": _STRING,
        },
        multipart_required=("upload_file",),
    ),
    "add_file": RouteDoc(DirectoryFile, body=DirectoryFileAdd),
    "list_files": RouteDoc(DirectoryFileList, query=_FILE_QUERY),
    "get_file": RouteDoc(DirectoryFile, query={"expand": _STRING}),
    "update_file": RouteDoc(DirectoryFile, body=None, body_required=False),
    "delete_file": RouteDoc(None),
    "create_file": RouteDoc(
        {
            "type": "object",
            "required": ["id", "name", "project_id"],
            "properties": {"id": _STRING, "name": _STRING, "project_id": _STRING},
        },
        multipart={"file": _BINARY, "purpose": _STRING, "external_file_id": _STRING},
        multipart_required=("file", "purpose"),
    ),
    # ---- v2: batches, saved configurations, per-file parse and extract jobs
    "create_batch": RouteDoc(Batch, body=BatchCreate),
    "list_batches": RouteDoc(BatchPage, query=BatchListQuery),
    "get_batch": RouteDoc(Batch, query={"expand": _expand("results")}),
    "cancel_batch": RouteDoc(Batch),
    "create_configuration": RouteDoc(Configuration, body=ConfigurationCreate),
    "list_configurations": RouteDoc(ConfigurationPage, query=ConfigurationListQuery),
    "get_configuration": RouteDoc(Configuration),
    "update_configuration": RouteDoc(Configuration, body=ConfigurationUpdate, body_required=False),
    "delete_configuration": RouteDoc(None),
    "list_parse_jobs": RouteDoc(ParseJobPage, query=ParseJobListQuery),
    "get_parse_job": RouteDoc(ParseJobResult, query={"expand": _expand(*PARSE_EXPAND)}),
    "list_extract_jobs": RouteDoc(ExtractJobPage, query=ExtractJobListQuery),
    "get_extract_job": RouteDoc(ExtractJob),
}
_BODY_SCHEMAS: dict[str, dict[str, Any]] = {"update_file": _FILE_UPDATE}

_TENANT = {"organization_id": _STRING, "project_id": _STRING}
_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {}},
    "description": "Every error answers {'detail': …}: a message, or a list of field errors.",
}


def _any_of(schema: Any) -> Any:
    # job_config's union is told apart by a function (``rules`` present or not), which JSON
    # Schema cannot say; with extra fields allowed a record can match both members, so oneOf
    # would reject valid bodies.
    if isinstance(schema, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_any_of(v) for v in schema]
    return schema


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without the ``null`` branch of an optional field."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default", "title")}
        return {**rest, **options[0]}
    return {k: v for k, v in schema.items() if k not in ("default", "title")}


def _query_parameters(
    query: type[BaseModel] | dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    fields: dict[str, dict[str, Any]] = dict(_TENANT)
    if isinstance(query, dict):
        fields.update(query)
    elif query is not None:
        properties = query.model_json_schema(ref_template=REF).get("properties", {})
        fields.update({name: _not_null(schema) for name, schema in properties.items()})
    parameters = []
    for name, schema in fields.items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        parameter["schema"] = schema
        if schema.get("type") == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return parameters


def _media(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation_doc(
    doc: RouteDoc, refs: Callable[[Any, JsonSchemaMode], dict[str, Any]]
) -> dict[str, Any]:
    operation: dict[str, Any] = {"security": [{"bearer": []}]}
    operation["parameters"] = _query_parameters(doc.query) + [
        {"name": name, "in": "header", "required": False, "schema": schema}
        for name, schema in doc.headers.items()
    ]
    if doc.body is not None:
        operation["requestBody"] = {
            "required": doc.body_required,
            "content": _media(refs(doc.body, "validation")),
        }
    if doc.multipart:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": doc.multipart,
                        "required": list(doc.multipart_required),
                    }
                }
            },
        }
    if doc.response is None:
        success: dict[str, Any] = {"204": {"description": "Done; no content."}}
    else:
        schema = (
            doc.response if isinstance(doc.response, dict) else refs(doc.response, "serialization")
        )
        success = {"200": {"description": "Success.", "content": _media(schema)}}
    error: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    operation["responses"] = {
        **success,
        "4XX": {"description": "The request was refused.", "content": _media(error)},
    }
    return operation


def build_openapi(app: FastAPI, api_routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """FastAPI's document for ``app`` with the emulated API routes (``api_routes``, the ones
    :data:`ROUTE_DOCS` names) described in full."""
    document = get_openapi(
        title=app.title, version=app.version, routes=app.routes, description=app.description
    )
    routes = {r.name: r for r in api_routes if isinstance(r, APIRoute)}
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for doc in ROUTE_DOCS.values():
        if doc.body is not None:
            wanted.append((doc.body, "validation"))
        if isinstance(doc.response, type):
            wanted.append((doc.response, "serialization"))
    mapping, definitions = models_json_schema(wanted, ref_template=REF)

    def refs(model: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        return copy.deepcopy(mapping[(model, mode)])

    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_any_of(definitions.get("$defs", {})))
    schemas["Error"] = _ERROR
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for name, doc in ROUTE_DOCS.items():
        route = routes.get(name)
        if route is None:
            continue
        path_item = document["paths"][route.path_format]
        for method in route.methods or ():
            operation = path_item[method.lower()]
            described = _operation_doc(doc, refs)
            if name in _BODY_SCHEMAS:
                described["requestBody"] = {
                    "required": False,
                    "content": _media(_BODY_SCHEMAS[name]),
                }
            path_parameters = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            operation.update(described)
            operation["parameters"] = path_parameters + described["parameters"]
    return document


def install_openapi(app: FastAPI, api_routes: Sequence[BaseRoute]) -> None:
    """Serve :func:`build_openapi`'s document (built once, on the first request for it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, api_routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
