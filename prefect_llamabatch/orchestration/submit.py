"""Submitting a batch job: request building, the idempotency key, the create's persisted result.

Nothing here does I/O but :func:`create_steps`, which yields its effects (``effects.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union
from uuid import uuid4

from prefect.runtime import task_run as runtime_task_run
from pydantic import BaseModel, ConfigDict

from prefect_llamabatch.models import (
    BatchJob,
    BatchJobCreate,
    BatchParseJobRecordCreate,
    ClassifyJobConfig,
    JobType,
)
from prefect_llamabatch.orchestration.effects import (
    CreateJob,
    RecordJob,
    RequestsMade,
    Steps,
    tenant,
)
from prefect_llamabatch.orchestration.events import emit_batch_event
from prefect_llamabatch.orchestration.runtime import current_flow_run_id, run_logger

if TYPE_CHECKING:
    from prefect.context import TaskRunContext

    from prefect_llamabatch.credentials import LlamaCloudCredentials

__all__ = [
    "CreatedJob",
    "JobConfigInput",
    "build_job_request",
    "create_cache_key",
    "create_run_name",
    "create_steps",
    "default_idempotency_key",
    "job_definition",
    "submit_cache_key",
]


JobConfigInput = Union[BatchParseJobRecordCreate, ClassifyJobConfig, Mapping[str, Any]]
"""A job config as a model or a dict (``{}`` is a default parse job; ``rules`` makes it classify)."""


def build_job_request(
    job_config: JobConfigInput | None,
    *,
    directory_id: str | None = None,
    item_ids: list[str] | None = None,
    page_size: int | None = None,
    continue_as_new_threshold: int | None = None,
) -> BatchJobCreate:
    """Validate a job definition into a request body (no I/O; errors name the field)."""
    fields: dict[str, Any] = {
        "job_config": {} if job_config is None else job_config,
        "directory_id": directory_id,
        "item_ids": item_ids,
        "page_size": page_size,
        "continue_as_new_threshold": continue_as_new_threshold,
    }
    return BatchJobCreate.model_validate(
        {k: v for k, v in fields.items() if v is not None or k == "job_config"}
    )


def job_definition(
    body: BatchJobCreate, *, organization_id: str | None, project_id: str | None
) -> str:
    """A canonical text of what a create would do (secrets masked), for hashing."""
    data = {
        "body": body.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "organization_id": organization_id,
        "project_id": project_id,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def default_idempotency_key(
    flow_run_id: str | None,
    body: BatchJobCreate,
    *,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> str:
    """The default ``Idempotency-Key``: a hash of the flow run id and the job definition.

    Outside a flow run there is nothing to be idempotent across, so the key is random.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJobCreate
        from prefect_llamabatch.orchestration.submit import default_idempotency_key

        body = BatchJobCreate(directory_id="dir-1", job_config={})
        assert default_idempotency_key("run-1", body) == default_idempotency_key("run-1", body)
        assert default_idempotency_key("run-1", body) != default_idempotency_key("run-2", body)
        ```
    """
    if flow_run_id is None:
        return f"llamabatch-{uuid4().hex}"
    definition = job_definition(body, organization_id=organization_id, project_id=project_id)
    digest = hashlib.sha256(f"{flow_run_id}\n{definition}".encode()).hexdigest()
    return f"llamabatch-{digest[:48]}"


class CreatedJob(BaseModel):
    """What ``submit_batch_job`` returns: the job, the key it was created under, requests made.

    Example:
        ```python
        from prefect_llamabatch.models import BatchJob
        from prefect_llamabatch.orchestration.submit import CreatedJob

        job = BatchJob(id="bjb-1", job_type="parse", project_id="p", status="pending", total_items=3)
        created = CreatedJob(job=job, idempotency_key="llamabatch-abc", api_calls=1)
        assert created.job.id == "bjb-1"
        ```
    """

    model_config = ConfigDict(frozen=True)

    job: BatchJob
    idempotency_key: str
    api_calls: int = 0


def create_steps(
    credentials: LlamaCloudCredentials,
    body: BatchJobCreate,
    idempotency_key: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Steps[CreatedJob]:
    """Create a job under its idempotency key, record it for the stop hooks, announce it.

    Shared by ``create_batch_job``, ``submit_batch_job`` and ``LlamaBatchJob.trigger``.
    """
    flow_run_id = current_flow_run_id()
    key = idempotency_key or default_idempotency_key(
        flow_run_id, body, organization_id=organization_id, project_id=project_id
    )
    job = yield from CreateJob(body, key, tenant(organization_id, project_id))
    run_logger().info(
        "Created LlamaCloud batch job %s (%s, %d items, %s)",
        job.id,
        job.job_type.value if isinstance(job.job_type, JobType) else job.job_type,
        job.total_items,
        f"directory {body.directory_id}"
        if body.directory_id
        else f"{len(body.item_ids or [])} item ids",
    )
    if flow_run_id is not None:
        yield from RecordJob(flow_run_id, job, credentials)
    emit_batch_event(job)  # the first remote state change: the job exists (normally pending)
    requests = yield from RequestsMade()
    return CreatedJob(job=job, idempotency_key=key, api_calls=requests)


def _create_key_from(
    context: TaskRunContext, body: BatchJobCreate, parameters: dict[str, Any]
) -> str | None:
    """The persisted-result key of a create: scoped to the flow run and the API it talks to.

    Only retries and resumes of the same flow run reattach through the persisted result; an
    explicit ``idempotency_key`` reused by another run relies on the server honouring it.
    """
    flow_run_id = context.task_run.flow_run_id
    if flow_run_id is None:
        return None  # nothing to reattach to: do not persist anything
    overrides = tenant(parameters.get("organization_id"), parameters.get("project_id"))
    key = parameters.get("idempotency_key") or default_idempotency_key(
        str(flow_run_id), body, **overrides
    )
    credentials = parameters.get("credentials")
    scope = json.dumps(
        [
            str(flow_run_id),
            str(key),
            getattr(credentials, "base_url", None),
            getattr(credentials, "project_id", None),
            overrides,
        ],
        default=str,
    )
    return "llamabatch-create-" + hashlib.sha256(scope.encode()).hexdigest()[:48]


def create_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """The persisted-result key of ``create_batch_job`` (None: not cached)."""
    try:
        body = build_job_request(
            parameters.get("job_config"),
            directory_id=parameters.get("directory_id"),
            item_ids=parameters.get("item_ids"),
            page_size=parameters.get("page_size"),
            continue_as_new_threshold=parameters.get("continue_as_new_threshold"),
        )
    except Exception:
        return None  # the task itself reports the bad input
    return _create_key_from(context, body, parameters)


def submit_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """The persisted-result key of ``submit_batch_job`` (None: not cached)."""
    body = parameters.get("body")
    if not isinstance(body, BatchJobCreate):
        return None
    key = _create_key_from(context, body, parameters)
    return None if key is None else key + "-submit"  # different return type than create's


def create_run_name() -> str:
    """The task run name of a create: its directory or its number of items."""
    params = runtime_task_run.parameters
    target = params.get("directory_id") or (
        f"{len(params['item_ids'])}-items" if params.get("item_ids") else None
    )
    body = params.get("body")
    if target is None and isinstance(body, BatchJobCreate):
        target = body.directory_id or f"{len(body.item_ids or [])}-items"
    return f"create-batch-job/{target or 'job'}"
