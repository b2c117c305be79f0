"""Routes of the admin API under ``/_emulator/`` (token-guarded, never faulted or counted)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import FileResponse, Response

from prefect_llamabatch.emulator.admin import (
    ADMIN_TOKEN_HEADER,
    GroundTruth,
    ItemTruth,
    JobTruth,
    SeededDirectory,
)
from prefect_llamabatch.emulator.auth import ApiError
from prefect_llamabatch.emulator.layout import blob_path, output_path
from prefect_llamabatch.emulator.outcomes import OutcomeSettings
from prefect_llamabatch.emulator.render import item_model, job_wire, progress_percentage
from prefect_llamabatch.emulator.settings import FaultConfig
from prefect_llamabatch.emulator.state import EmulatorState
from prefect_llamabatch.models import DirectoryCreate

__all__ = ["router"]

router = APIRouter(prefix="/_emulator")


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _authorized(request: Request) -> EmulatorState:
    state = _state(request)
    token = request.headers.get(ADMIN_TOKEN_HEADER) or ""
    expected = state.config.admin_token.get_secret_value()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, f"Admin API: missing or wrong {ADMIN_TOKEN_HEADER} header")
    return state


Admin = Annotated[EmulatorState, Depends(_authorized)]


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _parse(model: type[Any], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        detail = [
            {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()
        ]
        raise ApiError(422, detail) from None


@router.get("/health", name="admin_health")
async def health() -> dict[str, str]:
    """Liveness (no token needed)."""
    return {"status": "ok"}


@router.get("/download/{file_id}", name="admin_download")
async def download(
    request: Request, file_id: str, expires: int = 0, signature: str = ""
) -> Response:
    """The target of presigned ``download_url``s (checked by signature, not by token)."""
    state = _state(request)
    blob = state.store.get_blob(file_id)
    if blob is None or not state.check_download(file_id, expires, signature):
        raise ApiError(403, "Download URL is invalid or expired")
    return FileResponse(blob_path(state.data_dir, file_id), filename=blob["name"])


@router.get("/info", name="admin_info")
async def info(state: Admin) -> dict[str, Any]:
    """Keys (without their secret), projects, settings and switches."""
    settings = state.scheduler.settings
    return {
        "base_url": state.base_url,
        "keys": [
            {"organization_id": k.organization_id, "project_ids": k.project_ids}
            for k in state.config.api_keys
        ],
        "data_dir": str(state.data_dir),
        "db_path": str(state.store.path) if state.store.path else None,
        "frozen": state.scheduler.frozen,
        "outage": state.outage.on(),
        "settings": _settings_dict(state),
        "item_seconds": settings.item_seconds,
    }


@router.post("/reset", name="admin_reset")
async def reset(state: Admin) -> dict[str, bool]:
    """Back to the start: all state forgotten; faults, settings, frozen state as configured."""
    await state.scheduler.forget_all()
    state.wipe()
    return {"reset": True}


@router.get("/ground-truth", name="admin_ground_truth")
async def ground_truth(
    state: Admin, job_id: str | None = None, max_items: int = 10_000
) -> Response:
    """Every job with its counters and items (one consistent snapshot) and request counts."""
    jobs = []
    for row in state.store.snapshot(job_id, max(0, max_items)):
        items = [
            ItemTruth.model_validate(
                {
                    **item_model(i).model_dump(),
                    "pos": i["pos"],
                    "output_s3_path": i["output_s3_path"],
                    "parameters_hash": i["parameters_hash"],
                    "result_id": i["result_id"],
                }
            )
            for i in row["items"]
        ]
        counts = {
            s: int(row[f"n_{s}"])
            for s in ("pending", "processing", "completed", "failed", "skipped", "cancelled")
        }
        jobs.append(
            JobTruth.model_validate(
                {
                    **job_wire(row),
                    "organization_id": row["organization_id"],
                    "progress_percentage": progress_percentage(row),
                    "counts": counts,
                    "cancel_reason": row["cancel_reason"],
                    "idempotency_key": row["idempotency_key"],
                    "job_config": json.loads(row["job_config"]) if row["job_config"] else None,
                    "cycle": row["cycle"],
                    "cycle_size": row["cycle_size"],
                    "items": items,
                }
            )
        )
    return _json(GroundTruth(jobs=jobs, request_counts=dict(state.log.counts)))


@router.get("/requests", name="admin_requests")
async def requests(state: Admin, limit: int | None = None) -> dict[str, Any]:
    """The request log (the most recent ``limit``, oldest first) and counts per route."""
    records = list(state.log.records)
    if limit is not None:
        records = records[-limit:] if limit > 0 else []
    return {"records": records, "counts": dict(state.log.counts)}


@router.get("/faults", name="admin_get_faults")
async def get_faults(state: Admin) -> dict[str, Any]:
    """The fault rules in force and how often each fired."""
    return {"faults": state.faults.config.model_dump(mode="json"), "stats": state.faults.stats()}


@router.put("/faults", name="admin_set_faults")
async def set_faults(request: Request, state: Admin) -> dict[str, Any]:
    """Replace the fault rules (a ``FaultConfig`` body)."""
    config: FaultConfig = _parse(FaultConfig, await request.json())
    state.faults.configure(config)
    return {"faults": config.model_dump(mode="json")}


@router.delete("/faults", name="admin_clear_faults")
async def clear_faults(state: Admin) -> dict[str, Any]:
    """Remove every fault rule."""
    state.faults.configure(FaultConfig())
    return {"faults": FaultConfig().model_dump(mode="json")}


class _OutageBody(BaseModel):
    seconds: float | None = Field(default=None, ge=0)
    mode: Literal["503", "drop"] = "503"


@router.post("/outage", name="admin_start_outage")
async def start_outage(request: Request, state: Admin) -> dict[str, Any]:
    """Switch on an outage: every /api request answers 503 or is dropped."""
    body: _OutageBody = _parse(_OutageBody, await request.json())
    state.outage.start(body.seconds, body.mode)
    return {"outage": True, "mode": body.mode, "seconds": body.seconds}


@router.delete("/outage", name="admin_end_outage")
async def end_outage(state: Admin) -> dict[str, bool]:
    """Switch the outage off."""
    state.outage.clear()
    return {"outage": False}


@router.post("/freeze", name="admin_freeze")
async def freeze(state: Admin) -> dict[str, bool]:
    """Pause processing."""
    state.scheduler.freeze()
    return {"frozen": True}


@router.post("/resume", name="admin_resume")
async def resume(state: Admin) -> dict[str, bool]:
    """Resume processing."""
    state.scheduler.resume()
    return {"frozen": False}


class _AdvanceBody(BaseModel):
    items: int = Field(default=1, ge=0)


@router.post("/advance", name="admin_advance")
async def advance(request: Request, state: Admin) -> dict[str, int]:
    """Finish N items now (in flight first, then pending), frozen or not."""
    body: _AdvanceBody = _parse(_AdvanceBody, await request.json())
    return {"advanced": state.scheduler.advance(body.items)}


class _SettingsBody(BaseModel):
    item_duration_seconds: float | None = Field(default=None, ge=0)
    time_scale: float | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=1)
    dispatched_status: bool | None = None
    failure_patterns: list[str] | None = None
    transient_failure_patterns: list[str] | None = None
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    max_file_size_bytes: int | None = Field(default=None, ge=0)
    response_latency: float | None = Field(default=None, ge=0)


def _settings_dict(state: EmulatorState) -> dict[str, Any]:
    settings = state.scheduler.settings
    outcome = settings.outcome
    return {
        "item_duration_seconds": settings.item_duration_seconds,
        "time_scale": settings.time_scale,
        "concurrency": settings.concurrency,
        "dispatched_status": settings.dispatched_status,
        "failure_patterns": list(outcome.failure_patterns),
        "transient_failure_patterns": list(outcome.transient_failure_patterns),
        "failure_rate": outcome.failure_rate,
        "seed": outcome.seed,
        "max_file_size_bytes": outcome.max_file_size_bytes,
        "response_latency": state.config.response_latency,
    }


@router.patch("/settings", name="admin_settings")
async def change_settings(request: Request, state: Admin) -> dict[str, Any]:
    """Change processing and outcome settings at run time; returns them all."""
    body: _SettingsBody = _parse(_SettingsBody, await request.json())
    changes = body.model_dump(exclude_unset=True)
    settings = state.scheduler.settings
    for key in ("item_duration_seconds", "time_scale", "concurrency", "dispatched_status"):
        if key in changes and changes[key] is not None:
            setattr(settings, key, changes[key])
    outcome_keys = {f.name for f in dataclasses.fields(OutcomeSettings)}
    outcome_changes = {k: v for k, v in changes.items() if k in outcome_keys}
    for key in ("failure_patterns", "transient_failure_patterns"):
        if key in outcome_changes:
            outcome_changes[key] = tuple(outcome_changes[key] or ())
    if outcome_changes:
        settings.outcome = dataclasses.replace(settings.outcome, **outcome_changes)
    if changes.get("response_latency") is not None:
        state.config = state.config.model_copy(
            update={"response_latency": changes["response_latency"]}
        )
    state.scheduler.wake()
    return _settings_dict(state)


class _SeedFile(BaseModel):
    name: str = Field(min_length=1)
    content_b64: str


class _SeedBody(BaseModel):
    directory_id: str | None = None
    name: str = Field(default="seeded", min_length=1)
    project_id: str | None = None
    description: str | None = None
    type: Literal["ephemeral", "user"] | None = None
    files: list[_SeedFile] = Field(default_factory=list)


@router.post("/directories", name="admin_seed_directory")
async def seed_directory(request: Request, state: Admin) -> Response:
    """Create a directory (or use ``directory_id``) and upload files into it in one call."""
    body: _SeedBody = _parse(_SeedBody, await request.json())
    project_id = body.project_id or state.config.default_key.default_project_id
    known = {p for k in state.config.api_keys for p in k.project_ids}
    if project_id not in known:
        raise ApiError(422, f"project_id {project_id!r} belongs to no configured API key")
    if body.directory_id is not None:
        existing = state.store.get_directory(project_id, body.directory_id)
        if existing is None:
            raise ApiError(404, f"Directory {body.directory_id} not found in {project_id}")
        directory = existing
    else:
        create = DirectoryCreate(name=body.name, description=body.description, type=body.type)
        directory = state.store.create_directory(
            project_id, name=create.name, description=create.description, type=create.type
        )
    files: dict[str, str] = {}
    for entry in body.files:
        try:
            data = base64.b64decode(entry.content_b64, validate=True)
        except binascii.Error:
            raise ApiError(422, f"files[{entry.name!r}].content_b64 is not base64") from None
        blob = state.save_blob(project_id, name=entry.name, data=data)
        row = state.store.add_file(
            project_id, directory["id"], file_id=blob["id"], display_name=entry.name
        )
        files[entry.name] = row["id"]
    seeded = SeededDirectory(
        id=directory["id"], name=directory["name"], project_id=project_id, files=files
    )
    return _json(seeded)


@router.get("/outputs", name="admin_output")
async def read_output(state: Admin, s3_path: str) -> dict[str, str]:
    """Resolve an ``output_s3_path`` to its local file and return its text."""
    try:
        path = output_path(state.data_dir, s3_path)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    if not path.is_file():
        raise ApiError(404, f"No output at {s3_path}")
    return {"path": str(path), "content": path.read_text(encoding="utf-8")}
