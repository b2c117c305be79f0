"""The v2 Batches API and saved configurations, as I/O-free ops of a :class:`ClientCore`.

Every function here builds its requests with the core (tenant, auth, redaction), runs them under
its retry policy and returns an op (see :mod:`prefect_llamabatch.client.effects`) that the
clients execute. The guarantees are v1's:

* **Arguments checked before any request**: ids with
  :func:`~prefect_llamabatch.client.request.check_id`, bodies and queries with the strict v2
  wire models (:mod:`prefect_llamabatch.models.v2`).
* **Reads retried**; ``POST /api/v2/batches`` is reconciled, never blindly re-sent
  (:mod:`prefect_llamabatch.client.reconcile_v2`); a configuration create is an upsert by name,
  product type and project, so re-sending it is harmless.
* **Listings trusted** (:func:`~prefect_llamabatch.client.paging.cursor_pages`): every entry
  once, whatever the order or page size the server picks.
* **Errors name the full URL**, and never carry a webhook signing secret or header sent.

:func:`save_parameters` saves ``parse_v2`` / ``extract_v2`` parameters under a name derived from
their hash (:func:`configuration_name`), looking it up first, so saving the same parameters again
changes nothing on the service.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, Union, cast, get_args

import httpx
from pydantic import BaseModel, TypeAdapter

from prefect_llamabatch.client.effects import Op
from prefect_llamabatch.client.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
)
from prefect_llamabatch.client.paging import cursor_pages
from prefect_llamabatch.client.reconcile import collect, create
from prefect_llamabatch.client.reconcile_v2 import BATCHES_PATH, find_created_batch
from prefect_llamabatch.client.request import Request, check_id, check_name, path_segment
from prefect_llamabatch.client.response import invalid_response, parse_model
from prefect_llamabatch.client.retries import RetryLoop
from prefect_llamabatch.models import LENIENT
from prefect_llamabatch.models.v2 import (
    PARSE_PRESETS,
    TERMINAL_BATCH_STATUSES,
    Batch,
    BatchCreate,
    BatchJobType,
    BatchListQuery,
    BatchPage,
    Configuration,
    ConfigurationCreate,
    ConfigurationListQuery,
    ConfigurationPage,
    ConfigurationParameters,
    ConfigurationUpdate,
    ExtractV2Parameters,
    ParseV2Parameters,
    V2WebhookConfiguration,
)

if TYPE_CHECKING:
    from prefect_llamabatch.client.core import ClientCore

__all__ = [
    "BATCHES_PATH",
    "CONFIGURATIONS_PATH",
    "CONFIGURATION_NAME_PREFIX",
    "BatchParameters",
    "ParametersInput",
    "batch_parameters",
    "cancel_batch",
    "configuration_name",
    "create_batch",
    "create_configuration",
    "delete_configuration",
    "get_batch",
    "get_configuration",
    "iter_batches",
    "iter_configurations",
    "list_batches",
    "list_configurations",
    "save_parameters",
    "update_configuration",
]

P = TypeVar("P", bound=BaseModel)

CONFIGURATIONS_PATH = "/api/v1/beta/configurations"
CONFIGURATION_NAME_PREFIX = "llamabatch"
"""Start of the names :func:`configuration_name` derives (``llamabatch-parse_v2-<hash>``)."""

BatchParameters = Union[ParseV2Parameters, ExtractV2Parameters]
"""Parameters of the jobs a batch can run."""
ParametersInput = Union[ParseV2Parameters, ExtractV2Parameters, Mapping[str, Any]]
"""Parameters as a model or as their JSON form (with ``product_type``)."""

_JOB_TYPES: tuple[str, ...] = get_args(BatchJobType)
_ANY_PARAMETERS: TypeAdapter[Any] = TypeAdapter(ConfigurationParameters)
# A saved configuration echoes strict request models: an option the service adds later must parse.
_ECHO = {LENIENT: True}


# ---- helpers --------------------------------------------------------------------------------


def batch_parameters(parameters: ParametersInput) -> BatchParameters:
    """``parameters`` as ``ParseV2Parameters`` or ``ExtractV2Parameters`` (validated strictly).

    Raises:
        ValueError: not valid parameters of a ``parse_v2`` or ``extract_v2`` job.

    Example:
        ```python
        from prefect_llamabatch.client.core_v2 import batch_parameters

        params = batch_parameters({"product_type": "parse_v2", "tier": "fast", "version": "latest"})
        assert params.product_type == "parse_v2" and params.tier == "fast"
        ```
    """
    if isinstance(parameters, (ParseV2Parameters, ExtractV2Parameters)):
        return parameters
    if not isinstance(parameters, Mapping):
        raise TypeError(
            "parameters must be ParseV2Parameters, ExtractV2Parameters or a mapping, "
            f"not {type(parameters).__name__}"
        )
    product_type = parameters.get("product_type")
    if product_type not in _JOB_TYPES:
        raise ValueError(
            f"parameters.product_type: a batch runs 'parse_v2' or 'extract_v2' jobs, "
            f"got {product_type!r}"
        )
    model = _ANY_PARAMETERS.validate_python(dict(parameters))
    return cast(BatchParameters, model)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _canonical(parameters: BaseModel) -> str:
    # Unset and explicitly null options mean the same to the service: both are left out.
    wire = parameters.to_wire() if hasattr(parameters, "to_wire") else parameters.model_dump()
    return json.dumps(_without_none(wire), sort_keys=True, separators=(",", ":"))


def configuration_name(parameters: ParametersInput) -> str:
    """The name :func:`save_parameters` saves ``parameters`` under: their product type and hash.

    Equal parameters (in any key order, with or without explicit nulls) get the same name.

    Example:
        ```python
        from prefect_llamabatch.client.core_v2 import configuration_name

        a = configuration_name({"product_type": "parse_v2", "tier": "fast", "version": "latest"})
        b = configuration_name({"version": "latest", "tier": "fast", "product_type": "parse_v2"})
        assert a == b and a.startswith("llamabatch-parse_v2-")
        ```
    """
    params = batch_parameters(parameters)
    digest = hashlib.sha256(_canonical(params).encode()).hexdigest()[:16]
    return f"{CONFIGURATION_NAME_PREFIX}-{params.product_type}-{digest}"


def _webhook_secrets(value: Any) -> Iterator[str]:
    """Signing secrets and header values of webhook settings anywhere in a JSON body."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "webhook_signing_secret" and isinstance(item, str) and item:
                yield item
            elif key == "webhook_headers" and isinstance(item, dict):
                yield from (str(v) for v in item.values() if v)
            else:
                yield from _webhook_secrets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _webhook_secrets(item)


def _redacting_webhooks(request: Request) -> Request:
    # The v2 models carry webhook secrets as plain strings: redact them like SecretStr values.
    extra = tuple(_webhook_secrets(request.json))
    return dataclasses.replace(request, secrets=request.secrets + extra) if extra else request


def _parse_echo(request: Request, model: type[P]) -> Any:
    return lambda response: parse_model(request, response, model, context=_ECHO)


def _call_echo(core: ClientCore, request: Request, model: type[P]) -> Op[P]:
    """``core.call_model`` for responses that hold saved configurations (parsed leniently)."""
    return core.call(request, _parse_echo(request, model))


def _query(model: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """The query, validated by its strict model, as JSON values (``None`` left out)."""
    query = model.model_validate({k: v for k, v in fields.items() if v is not None})
    return query.model_dump(mode="json", exclude_unset=True)


# ---- batches ----------------------------------------------------------------------------------


def create_batch(
    core: ClientCore,
    source_directory_id: str,
    configuration_id: str | None,
    *,
    job_type: BatchJobType | None,
    parameters: ParametersInput | None,
    configuration_name: str | None,
    webhook_configurations: Sequence[V2WebhookConfiguration | Mapping[str, Any]] | None,
    webhook_configuration_ids: Sequence[str] | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Batch]:
    """``POST /api/v2/batches``, reconciled after an ambiguous failure (never a duplicate).

    Either ``configuration_id`` (a saved configuration or a preset such as
    ``cfg-PARSE_AGENTIC``) or ``parameters`` (saved first by :func:`save_parameters`). The
    created batch must run the job type asked for over the directory asked for.
    """
    check_id("source_directory_id", source_directory_id)
    if (configuration_id is None) == (parameters is None):
        raise ValueError("create_batch: pass either configuration_id or parameters (not both)")
    if job_type is not None and job_type not in _JOB_TYPES:
        raise ValueError(f"job_type: must be 'parse_v2' or 'extract_v2', got {job_type!r}")
    params = None if parameters is None else batch_parameters(parameters)
    if params is not None:
        if job_type is not None and job_type != params.product_type:
            raise ValueError(
                f"job_type {job_type!r} does not match parameters.product_type "
                f"{params.product_type!r}"
            )
        job_type = params.product_type
    if configuration_id is not None:
        check_id("configuration_id", configuration_id)
        if job_type is None and configuration_id in PARSE_PRESETS:
            job_type = "parse_v2"
    if isinstance(webhook_configuration_ids, str):
        raise ValueError("webhook_configuration_ids: pass a list of ids")
    ids = None if webhook_configuration_ids is None else list(webhook_configuration_ids)
    for webhook_id in ids or ():
        check_id("webhook_configuration_ids", webhook_id)
    hooks = None if webhook_configurations is None else list(webhook_configurations)
    # Everything the body holds is validated now, before any request (configuration id aside).
    BatchCreate.model_validate(
        {
            "config": {"job": {"type": job_type or "parse_v2", "configuration_id": "cfg-x"}},
            "source_directory_id": source_directory_id,
            "webhook_configurations": hooks,
            "webhook_configuration_ids": ids,
        }
    )
    tenant = core._tenant(organization_id, project_id)

    def run() -> Op[Batch]:
        config_id, kind = configuration_id, job_type
        if params is not None:
            saved = yield from _save(core, params, configuration_name, tenant)
            config_id = saved.id
        elif kind is None:
            assert config_id is not None
            found = yield from _get_configuration(core, config_id, tenant)
            if found.product_type not in _JOB_TYPES:
                raise ValueError(
                    f"configuration {config_id} is a {found.product_type} configuration; "
                    "a batch runs parse_v2 or extract_v2 jobs"
                )
            kind = cast(BatchJobType, found.product_type)
        body = BatchCreate.model_validate(
            {
                "config": {"job": {"type": kind, "configuration_id": config_id}},
                "source_directory_id": source_directory_id,
                "webhook_configurations": hooks,
                "webhook_configuration_ids": ids,
            }
        )
        request = _redacting_webhooks(core.request("POST", BATCHES_PATH, tenant=tenant, body=body))
        return (
            yield from create(
                core,
                request,
                lambda response: _created(request, response, body),
                lambda sent: find_created_batch(core, body, tenant, sent),
            )
        )

    return run()


def _created(request: Request, response: httpx.Response, body: BatchCreate) -> Batch:
    """The created batch, checked: the job type and directory asked for."""
    batch = parse_model(request, response, Batch)
    asked = (body.config.job.type, body.source_directory_id)
    got = (batch.config.job.type, batch.source_directory_id)
    if got != asked:
        raise invalid_response(
            request,
            response,
            f"the created batch {batch.id} runs {got[0]} jobs over {got[1]}, not the {asked[0]} "
            f"jobs over {asked[1]} that were asked for; cancel it if it is not wanted",
        )
    return batch


def get_batch(
    core: ClientCore,
    batch_id: str,
    *,
    expand_results: bool,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Batch]:
    """``GET /api/v2/batches/{id}``; ``expand_results`` fills ``results`` (once finished)."""
    request = core.request(
        "GET",
        f"{BATCHES_PATH}/{path_segment('batch_id', batch_id)}",
        tenant=core._tenant(organization_id, project_id),
        params={"expand": "results" if expand_results else None},
    )
    return core.call_model(request, Batch)


def _batches_request(
    core: ClientCore,
    tenant: Mapping[str, str | None],
    *,
    source_directory_id: str | None,
    status: str | None,
    created_at_on_or_after: datetime | None,
    created_at_on_or_before: datetime | None,
    page_size: int | None,
    page_token: str | None,
) -> Request:
    if source_directory_id is not None:
        check_id("source_directory_id", source_directory_id)
    params = _query(
        BatchListQuery,
        source_directory_id=source_directory_id,
        status=status,
        created_at_on_or_after=created_at_on_or_after,
        created_at_on_or_before=created_at_on_or_before,
        page_size=page_size,
        page_token=page_token,
    )
    return core.request("GET", BATCHES_PATH, tenant=tenant, params=params)


def list_batches(
    core: ClientCore,
    *,
    source_directory_id: str | None,
    status: str | None,
    created_at_on_or_after: datetime | None,
    created_at_on_or_before: datetime | None,
    page_size: int | None,
    page_token: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[BatchPage]:
    """One cursor page of ``GET /api/v2/batches``."""
    request = _batches_request(
        core,
        core._tenant(organization_id, project_id),
        source_directory_id=source_directory_id,
        status=status,
        created_at_on_or_after=created_at_on_or_after,
        created_at_on_or_before=created_at_on_or_before,
        page_size=page_size,
        page_token=page_token,
    )
    return core.call_model(request, BatchPage)


def iter_batches(
    core: ClientCore,
    *,
    source_directory_id: str | None,
    status: str | None,
    created_at_on_or_after: datetime | None,
    created_at_on_or_before: datetime | None,
    page_size: int,
    organization_id: str | None,
    project_id: str | None,
) -> Op[None]:
    """Every batch matching the filters, each once (trusted cursor paging)."""
    tenant = core._tenant(organization_id, project_id)

    def page(token: str | None) -> Request:
        return _batches_request(
            core,
            tenant,
            source_directory_id=source_directory_id,
            status=status,
            created_at_on_or_after=created_at_on_or_after,
            created_at_on_or_before=created_at_on_or_before,
            page_size=page_size,
            page_token=token,
        )

    page(None)  # arguments checked now, not at the first iteration
    return cursor_pages(core.call_model, page, BatchPage, lambda batch: batch.id)


def cancel_batch(
    core: ClientCore, batch_id: str, *, organization_id: str | None, project_id: str | None
) -> Op[Batch]:
    """``POST /api/v2/batches/{id}/cancel``; a batch already finished is returned as it is."""
    segment = path_segment("batch_id", batch_id)
    tenant = core._tenant(organization_id, project_id)
    request = core.request("POST", f"{BATCHES_PATH}/{segment}/cancel", tenant=tenant)
    status_request = core.request("GET", f"{BATCHES_PATH}/{segment}", tenant=tenant)

    def run() -> Op[Batch]:
        try:
            return (yield from core.call_model(request, Batch))
        except (BadRequestError, ConflictError):
            # A finished batch cannot be cancelled; for the caller that is its final state.
            batch = yield from core.call_model(status_request, Batch)
            if batch.status not in TERMINAL_BATCH_STATUSES:
                raise
            return batch

    return run()


# ---- configurations ---------------------------------------------------------------------------


def _any_parameters(parameters: BaseModel | Mapping[str, Any]) -> Any:
    if isinstance(parameters, BaseModel):
        return parameters
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a model or a mapping, not {type(parameters).__name__}")
    return _ANY_PARAMETERS.validate_python(dict(parameters))


def create_configuration(
    core: ClientCore,
    name: str,
    parameters: BaseModel | Mapping[str, Any],
    *,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Configuration]:
    """``POST /api/v1/beta/configurations``: create, or update the one with this name and type."""
    body = ConfigurationCreate(
        name=check_name("name", name), parameters=_any_parameters(parameters)
    )
    request = core.request(
        "POST", CONFIGURATIONS_PATH, tenant=core._tenant(organization_id, project_id), body=body
    )
    # An upsert by name, product type and project: re-sending after a lost answer is harmless.
    return _call_echo(core, _redacting_webhooks(request), Configuration)


def _get_configuration(
    core: ClientCore, configuration_id: str, tenant: Mapping[str, str | None]
) -> Op[Configuration]:
    request = core.request(
        "GET",
        f"{CONFIGURATIONS_PATH}/{path_segment('configuration_id', configuration_id)}",
        tenant=tenant,
    )
    return _call_echo(core, request, Configuration)


def get_configuration(
    core: ClientCore,
    configuration_id: str,
    *,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Configuration]:
    """``GET /api/v1/beta/configurations/{id}`` (a saved configuration or a preset)."""
    return _get_configuration(core, configuration_id, core._tenant(organization_id, project_id))


def _configurations_request(
    core: ClientCore,
    tenant: Mapping[str, str | None],
    *,
    name: str | None,
    product_type: str | Sequence[str] | None,
    latest_only: bool | None,
    page_size: int | None,
    page_token: str | None,
) -> Request:
    types = [product_type] if isinstance(product_type, str) else product_type
    params = _query(
        ConfigurationListQuery,
        name=name,
        product_type=None if types is None else list(types),
        latest_only=latest_only,
        page_size=page_size,
        page_token=page_token,
    )
    return core.request("GET", CONFIGURATIONS_PATH, tenant=tenant, params=params)


def list_configurations(
    core: ClientCore,
    *,
    name: str | None,
    product_type: str | Sequence[str] | None,
    latest_only: bool | None,
    page_size: int | None,
    page_token: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[ConfigurationPage]:
    """One cursor page of ``GET /api/v1/beta/configurations``."""
    request = _configurations_request(
        core,
        core._tenant(organization_id, project_id),
        name=name,
        product_type=product_type,
        latest_only=latest_only,
        page_size=page_size,
        page_token=page_token,
    )
    return _call_echo(core, request, ConfigurationPage)


def iter_configurations(
    core: ClientCore,
    *,
    name: str | None,
    product_type: str | Sequence[str] | None,
    latest_only: bool | None,
    page_size: int,
    organization_id: str | None,
    project_id: str | None,
) -> Op[None]:
    """Every saved configuration matching the filters, each once (trusted cursor paging)."""
    tenant = core._tenant(organization_id, project_id)

    def page(token: str | None) -> Request:
        return _configurations_request(
            core,
            tenant,
            name=name,
            product_type=product_type,
            latest_only=latest_only,
            page_size=page_size,
            page_token=token,
        )

    page(None)  # arguments checked now, not at the first iteration
    return cursor_pages(
        lambda request, model: _call_echo(core, request, model),
        page,
        ConfigurationPage,
        lambda configuration: configuration.id,
    )


def update_configuration(
    core: ClientCore,
    configuration_id: str,
    *,
    name: str | None,
    parameters: BaseModel | Mapping[str, Any] | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Configuration]:
    """``PUT /api/v1/beta/configurations/{id}``: omitted fields are left as they are."""
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = check_name("name", name)
    if parameters is not None:
        fields["parameters"] = _any_parameters(parameters)
    body = ConfigurationUpdate(**fields)
    request = core.request(
        "PUT",
        f"{CONFIGURATIONS_PATH}/{path_segment('configuration_id', configuration_id)}",
        tenant=core._tenant(organization_id, project_id),
        body=body,
    )
    # Setting the same name and parameters again leaves the same result: safe to retry.
    return _call_echo(core, _redacting_webhooks(request), Configuration)


def delete_configuration(
    core: ClientCore,
    configuration_id: str,
    *,
    organization_id: str | None,
    project_id: str | None,
) -> Op[None]:
    """``DELETE /api/v1/beta/configurations/{id}``."""
    request = core.request(
        "DELETE",
        f"{CONFIGURATIONS_PATH}/{path_segment('configuration_id', configuration_id)}",
        tenant=core._tenant(organization_id, project_id),
    )

    def attempt(loop: RetryLoop[None]) -> Op[None]:
        try:
            yield from core.attempt(request, lambda _response: None)
        except NotFoundError:
            # Gone on a retry: the earlier, failed-looking attempt did delete it.
            if loop.attempt_number == 1:
                raise

    return core.retrying(attempt)


def save_parameters(
    core: ClientCore,
    parameters: ParametersInput,
    *,
    name: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Op[Configuration]:
    """Save ``parse_v2``/``extract_v2`` parameters as a named configuration, idempotently.

    The name defaults to :func:`configuration_name` (a hash of the parameters). The service is
    asked first: a configuration of that name and product type with equal parameters is
    returned as it is (nothing saved, no new version); otherwise the parameters are upserted.
    """
    params = batch_parameters(parameters)
    if name is not None:
        check_name("name", name)
    return _save(core, params, name, core._tenant(organization_id, project_id))


def _save(
    core: ClientCore,
    params: BatchParameters,
    name: str | None,
    tenant: Mapping[str, str | None],
) -> Op[Configuration]:
    name = configuration_name(params) if name is None else name
    wanted = _canonical(params)

    def page(token: str | None) -> Request:
        return _configurations_request(
            core,
            tenant,
            name=name,
            product_type=params.product_type,
            latest_only=True,
            page_size=100,
            page_token=token,
        )

    saved: list[Configuration] = yield from collect(
        cursor_pages(
            lambda request, model: _call_echo(core, request, model),
            page,
            ConfigurationPage,
            lambda configuration: configuration.id,
        )
    )
    for configuration in saved:
        # The name filter's matching rules are undocumented: compare exactly here.
        if (
            configuration.name == name
            and configuration.product_type == params.product_type
            and _canonical(configuration.parameters) == wanted
        ):
            return configuration
    body = ConfigurationCreate(name=name, parameters=params)
    request = core.request("POST", CONFIGURATIONS_PATH, tenant=tenant, body=body)
    return (yield from _call_echo(core, _redacting_webhooks(request), Configuration))
