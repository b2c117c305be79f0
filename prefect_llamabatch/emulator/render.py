"""From store rows to the shared response models of ``prefect_llamabatch.models``.

Responses are built by validating exactly the wire fields into the shared models and dumping them
to JSON once (no FastAPI ``response_model`` round trip).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from prefect_llamabatch.models import (
    BatchJob,
    BatchJobStatus,
    Directory,
    DirectoryFile,
    ItemProcessingResults,
    JobItem,
    ProcessingResult,
)

__all__ = [
    "directory_model",
    "error_response",
    "file_model",
    "item_model",
    "job_model",
    "job_status_model",
    "model_response",
    "progress_percentage",
    "results_model",
]

_TERMINAL = frozenset({"completed", "failed", "cancelled"})
EMULATOR_USER_ID = "usr-emulator"


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """A JSON response from one shared model (fields never given, e.g. echo defaults, left out)."""
    return Response(
        model.model_dump_json(exclude_unset=True),
        status_code=status_code,
        media_type="application/json",
    )


def error_response(
    status_code: int, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    """The API's error shape: ``{"detail": …}``."""
    return Response(
        json.dumps({"detail": detail}),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def progress_percentage(job: dict[str, Any]) -> float:
    """Finished (completed, failed or skipped) items as a percentage of all items."""
    total = int(job["total_items"])
    if total == 0:
        return 100.0 if job["status"] in _TERMINAL else 0.0
    done = int(job["n_completed"]) + int(job["n_failed"]) + int(job["n_skipped"])
    return round(100.0 * done / total, 2)


def job_wire(job: dict[str, Any]) -> dict[str, Any]:
    """The wire fields of a job row; ``processed_items`` counts completed + failed + skipped."""
    return {
        "id": job["id"],
        "job_type": job["job_type"],
        "project_id": job["project_id"],
        "status": job["status"],
        "total_items": job["total_items"],
        "completed_at": job["completed_at"],
        "created_at": job["created_at"],
        "directory_id": job["directory_id"],
        "effective_at": job["created_at"],
        "error_message": job["error_message"],
        "failed_items": job["n_failed"],
        "job_record_id": None,
        "processed_items": int(job["n_completed"]) + int(job["n_failed"]) + int(job["n_skipped"]),
        "skipped_items": job["n_skipped"],
        "started_at": job["started_at"],
        "updated_at": job["updated_at"],
        "workflow_id": job["workflow_id"],
    }


def job_model(job: dict[str, Any]) -> BatchJob:
    """A job row as the shared ``BatchJob`` model."""
    return BatchJob.model_validate(job_wire(job))


def job_status_model(job: dict[str, Any]) -> BatchJobStatus:
    """A job row as the status endpoint's response."""
    return BatchJobStatus.model_validate(
        {"job": job_wire(job), "progress_percentage": progress_percentage(job)}
    )


def item_model(item: dict[str, Any]) -> JobItem:
    """An item row as the shared ``JobItem`` model."""
    return JobItem.model_validate(
        {
            "item_id": item["item_id"],
            "item_name": item["item_name"],
            "status": item["status"],
            "completed_at": item["completed_at"],
            "effective_at": item["started_at"],
            "error_message": item["error_message"],
            "job_id": item["job_id"],
            "job_record_id": None,
            "skip_reason": item["skip_reason"],
            "started_at": item["started_at"],
        }
    )


def directory_model(row: dict[str, Any]) -> Directory:
    """A directory row as the shared ``Directory`` model."""
    return Directory.model_validate(
        {
            "id": row["id"],
            "name": row["name"],
            "project_id": row["project_id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "deleted_at": row["deleted_at"],
            "description": row["description"],
            "expires_at": row["expires_at"],
            "system_metadata": json.loads(row["system_metadata"])
            if row["system_metadata"]
            else None,
            "type": row["type"],
        }
    )


def file_model(row: dict[str, Any], download_url: dict[str, Any] | None = None) -> DirectoryFile:
    """A directory-file row as the shared ``DirectoryFile`` model."""
    return DirectoryFile.model_validate(
        {
            "id": row["id"],
            "directory_id": row["directory_id"],
            "display_name": row["display_name"],
            "project_id": row["project_id"],
            "unique_id": row["unique_id"],
            "file_id": row["file_id"],
            "metadata": json.loads(row["metadata"]) if row["metadata"] else {},
            "download_url": download_url,
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "deleted_at": row["deleted_at"],
        }
    )


def _config_echo(raw: str, result: dict[str, Any]) -> dict[str, Any]:
    """The stored (masked) config; a classify config is echoed as a full ``ClassifyJob`` record."""
    config: dict[str, Any] = json.loads(raw)
    if "rules" in config:
        config = {
            **config,
            "id": config.get("id") or result["result_id"],
            "project_id": result["project_id"],
            "user_id": config.get("user_id") or EMULATOR_USER_ID,
            "status": "SUCCESS",
            "created_at": config.get("created_at") or result["processed_at"],
            "updated_at": result["processed_at"],
        }
    return config


def results_model(item: dict[str, Any], results: list[dict[str, Any]]) -> ItemProcessingResults:
    """An item and its result rows as the processing-results response."""
    return ItemProcessingResults.model_validate(
        {
            "item_id": item["id"],
            "item_name": item["display_name"],
            "processing_results": [
                ProcessingResult.model_validate(
                    {
                        "item_id": r["item_id"],
                        "job_config": _config_echo(r["job_config"], r),
                        "job_type": r["job_type"],
                        "output_s3_path": r["output_s3_path"],
                        "parameters_hash": r["parameters_hash"],
                        "processed_at": r["processed_at"],
                        "result_id": r["result_id"],
                        "output_metadata": json.loads(r["output_metadata"])
                        if r["output_metadata"]
                        else {},
                    }
                )
                for r in results
            ],
        }
    )
