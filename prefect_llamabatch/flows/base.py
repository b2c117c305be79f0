"""What the package's flows share: their flow class (secrets masked in stored parameters), the
cancel-on-stop hooks, and the input checks run before any HTTP call.
"""

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union, cast

from prefect import Flow
from prefect.flows import FlowStateHook
from prefect.runtime import flow_run as runtime_flow_run
from prefect.types.entrypoint import EntrypointType
from pydantic import TypeAdapter
from typing_extensions import ParamSpec

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import (
    BatchJobCreate,
    BatchParseJobRecordCreate,
    ClassifyJobConfig,
    JobConfig,
)
from prefect_llamabatch.orchestration.credential_checks import (
    refuse_unsafe_credentials,
    resolve_credentials,
)
from prefect_llamabatch.orchestration.outputs import download_outputs
from prefect_llamabatch.orchestration.pipeline import run_batch
from prefect_llamabatch.orchestration.results import BatchRunResult
from prefect_llamabatch.orchestration.secrets import find_secret_keys, find_secrets, masked
from prefect_llamabatch.orchestration.tracking import cancel_remote_jobs
from prefect_llamabatch.orchestration.v2_pipeline import (
    DEFAULT_SHARD_CONCURRENCY,
    MAX_FILES_PER_BATCH,
    V2Target,
)
from prefect_llamabatch.orchestration.v2_tasks import read_v2_batch, run_v2_batch
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = [
    "CredentialsParam",
    "JobConfigParam",
    "LlamaBatchFlow",
    "RunOptions",
    "batch_flow",
    "check_credentials",
    "run_either",
    "run_parameter",
    "validated_config",
    "wait_settings",
    "write_run_outputs",
]

_CONFIG = TypeAdapter(JobConfig)
# Flow parameters that may carry a job's secrets, masked in what Prefect stores.
_CONFIG_PARAMETERS = ("job_config", "parse_v2", "extract_v2")
JobConfigParam = Union[BatchParseJobRecordCreate, ClassifyJobConfig, dict[str, Any]]
CredentialsParam = Union[LlamaCloudCredentials, str]
"""A flow's ``credentials``: a block, or the name of a saved one (never a key or a dict)."""
P = ParamSpec("P")
R = TypeVar("R")


class LlamaBatchFlow(Flow[P, R]):
    """A Prefect flow whose stored parameters never carry a secret in clear.

    Prefect stores a flow run's parameters when it creates the run, before the flow's code
    runs (and before it validates them). At that point this flow masks ``job_config``
    secrets, and refuses ``credentials`` that are not a ``LlamaCloudCredentials`` block or a
    saved block's name (a dict of the block's fields, a key as a string): the call raises
    ``TypeError`` and no flow run is created. Validation then loads a block given by name.

    Example:
        ```python
        from prefect_llamabatch.flows import LlamaBatchFlow, process_directory

        assert isinstance(process_directory.with_options(timeout_seconds=60), LlamaBatchFlow)
        ```
    """

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The stored parameters, with secrets masked (``job_config``, ``parse_v2``, ``extract_v2``).

        Raises:
            TypeError: ``credentials`` is neither a block nor a block name (nothing is stored).
        """
        credentials = parameters.get("credentials")
        if isinstance(credentials, str):
            resolve_credentials(credentials)  # a string that names no saved block may be a key
        elif "credentials" in parameters:
            refuse_unsafe_credentials(credentials)
        serialized = super().serialize_parameters(parameters)
        for name in _CONFIG_PARAMETERS:
            if parameters.get(name) is not None:
                serialized[name] = masked(parameters[name])
        return serialized

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Prefect's validation, after loading ``credentials`` given as a block name.

        Deployment runs reach here with parameters the API already stored; a refused value is
        still refused here, before Prefect's own validation error could echo it.
        """
        if "credentials" in parameters:
            parameters = {
                **parameters,
                "credentials": resolve_credentials(parameters["credentials"]),
            }
        return super().validate_parameters(parameters)

    def to_deployment(self, *args: Any, **kwargs: Any) -> Any:
        """``Flow.to_deployment``; an installed flow's entrypoint is its module path."""
        return super().to_deployment(*args, **_entrypoint_options(self, kwargs))

    async def ato_deployment(self, *args: Any, **kwargs: Any) -> Any:
        """``Flow.ato_deployment`` (what ``serve`` calls); see :meth:`to_deployment`."""
        return await super().ato_deployment(*args, **_entrypoint_options(self, kwargs))

    def with_options(self, *args: Any, **kwargs: Any) -> "LlamaBatchFlow[P, R]":
        """``Flow.with_options``, keeping this class."""
        new = super().with_options(*args, **kwargs)
        new.__class__ = type(self)  # Flow.with_options always builds a plain Flow
        return cast(LlamaBatchFlow[P, R], new)


def _entrypoint_options(flow: Flow[Any, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with a module-path entrypoint for a flow whose file lies outside the cwd.

    ``process_directory.serve()`` from a project folder serves a flow installed in
    site-packages. Prefect before 3.6.25 builds a file entrypoint relative to the working
    directory and raises ``ValueError`` (newer ones write ``../../site-packages/...``); the
    module path is right on every version. (``serve`` always passes ``FILE_PATH``, Prefect's
    default, so only a file entrypoint that cannot be written relative to the cwd is replaced.)
    """
    if kwargs.get("entrypoint_type", EntrypointType.FILE_PATH) != EntrypointType.FILE_PATH:
        return kwargs
    module = getattr(flow.fn, "__module__", None)
    source = inspect.getsourcefile(flow.fn)
    if not module or module == "__main__" or source is None:
        return kwargs
    if Path(source).resolve().is_relative_to(Path.cwd().resolve()):
        return kwargs
    return {**kwargs, "entrypoint_type": EntrypointType.MODULE_PATH}


def batch_flow(
    *, name: str, flow_run_name: Callable[[], str]
) -> Callable[[Callable[P, R]], LlamaBatchFlow[P, R]]:
    """Decorator of the package's flows: masking parameters, cancel-on-stop hooks."""

    def decorate(fn: Callable[P, R]) -> LlamaBatchFlow[P, R]:
        hooks = [cast(FlowStateHook[P, R], cancel_remote_jobs)]
        return LlamaBatchFlow(
            fn=fn,
            name=name,
            flow_run_name=flow_run_name,
            on_cancellation=hooks,
            on_crashed=hooks,
            on_failure=hooks,
        )

    return decorate


def _refuse_secrets(secrets: Sequence[str]) -> None:
    if secrets:
        raise ValueError(
            f"{', '.join(secrets)} {'is a secret' if len(secrets) == 1 else 'are secrets'}: flow "
            "parameters are stored in the Prefect database (secrets masked, so a deployment run "
            "or a retry from the UI would send the mask), and secrets do not belong there. Save "
            "the job definition in a block instead, whose secret fields Prefect stores encrypted: "
            "LlamaBatchJob(credentials=..., directory_id=..., job_config=...).save('my-job'), "
            "then run run_llama_batch_job('my-job')."
        )


def validated_config(
    job_config: JobConfigParam | None, *, allow_secrets: bool = False
) -> BatchParseJobRecordCreate | ClassifyJobConfig:
    """A job config (model or dict; None is a default parse job) as a model, checked."""
    config = _CONFIG.validate_python({} if job_config is None else job_config)
    if not allow_secrets:
        _refuse_secrets(find_secrets(config))
    return config


def refuse_v2_secrets(
    parse_v2: Mapping[str, Any] | None, extract_v2: Mapping[str, Any] | None
) -> None:
    """Refuse v2 flow parameters that hold a secret (a webhook's signing secret or headers).

    Raises:
        ValueError: Naming each secret's path (never its value); a block is the place for them.
    """
    _refuse_secrets(
        [
            *find_secret_keys(parse_v2 or {}, "parse_v2"),
            *find_secret_keys(extract_v2 or {}, "extract_v2"),
        ]
    )


def wait_settings(wait: WaitSettings | Mapping[str, Any] | None) -> WaitSettings:
    """Wait settings from a model, a dict or None (the defaults)."""
    return wait if isinstance(wait, WaitSettings) else WaitSettings.model_validate(wait or {})


def check_credentials(credentials: Any) -> LlamaCloudCredentials:
    """The credentials as a ``LlamaCloudCredentials`` block (a block name is loaded).

    Raises:
        TypeError: Anything else (the value is never echoed).
    """
    return cast(LlamaCloudCredentials, resolve_credentials(credentials))


def run_parameter(name: str) -> Any:
    """A parameter of the current flow run (for run names)."""
    return (runtime_flow_run.parameters or {}).get(name)


def write_run_outputs(
    credentials: LlamaCloudCredentials,
    output_path: str,
    result: Any,
    *,
    organization_id: str | None,
    project_id: str | None,
) -> None:
    """``download_outputs`` of a finished run: its v1 job, or each batch of a v2 run (its shards).

    A run cancelled remotely (the body returned a Cancelled state) has nothing to deliver.
    """

    if not isinstance(result, BatchRunResult):
        return
    if not result.shards:
        download_outputs.sync(
            credentials,
            output_path,
            job_id=result.job.id,
            organization_id=organization_id,
            project_id=project_id,
        )
        return
    for shard in result.shards:  # one manifest: each batch's entries are added to it
        batch = read_v2_batch(credentials, shard.job_id, organization_id, project_id).batch
        download_outputs.sync(
            credentials,
            output_path,
            batch=batch,
            organization_id=organization_id,
            project_id=project_id,
        )


@dataclass(frozen=True)
class RunOptions:
    """What a run does around its job, whichever API runs it (the flows' shared parameters)."""

    settings: WaitSettings
    max_failed_fraction: float | None
    report: bool = True
    include_results: bool = False  # v1 only: v2 results are the referenced jobs
    export_path: str | None = None
    idempotency_key: str | None = None  # v1 only: a v2 create is reconciled instead
    output_path: str | None = None
    organization_id: str | None = None
    project_id: str | None = None
    max_files_per_batch: int = MAX_FILES_PER_BATCH
    shard_concurrency: int = DEFAULT_SHARD_CONCURRENCY
    prior_api_calls: int = 0  # calls made before the run (an upload)
    started: float = field(default_factory=time.monotonic)


def run_either(
    credentials: LlamaCloudCredentials,
    options: RunOptions,
    *,
    v1: BatchJobCreate | None = None,
    v2: V2Target | None = None,
    directory_id: str | None = None,
    item_ids: list[str] | None = None,
) -> BatchRunResult:
    """Run one v1 job (``v1``: its create body) or v2 batches (``v2`` over ``directory_id``,
    only ``item_ids`` if given), then deliver the outputs to ``options.output_path``.

    The result is the flow's return value: a ``BatchRunResult``, or the Cancelled state a run
    cancelled remotely ends with (typed as the result, as Prefect's flows return it).
    """
    if v2 is not None:
        assert directory_id is not None, "a v2 run needs its directory"
        result = run_v2_batch(
            credentials,
            v2,
            directory_id=directory_id,
            item_ids=item_ids,
            settings=options.settings,
            max_failed_fraction=options.max_failed_fraction,
            report=options.report,
            export_path=options.export_path,
            organization_id=options.organization_id,
            project_id=options.project_id,
            started=options.started,
            prior_api_calls=options.prior_api_calls,
            max_files_per_batch=options.max_files_per_batch,
            shard_concurrency=options.shard_concurrency,
        )
    else:
        assert v1 is not None, "a v1 run needs its create body"
        result = run_batch(
            credentials,
            v1,
            settings=options.settings,
            max_failed_fraction=options.max_failed_fraction,
            report=options.report,
            include_results=options.include_results,
            export_path=options.export_path,
            idempotency_key=options.idempotency_key,
            organization_id=options.organization_id,
            project_id=options.project_id,
            started=options.started,
            prior_api_calls=options.prior_api_calls,
        )
    if options.output_path is not None:
        write_run_outputs(
            credentials,
            options.output_path,
            result,
            organization_id=options.organization_id,
            project_id=options.project_id,
        )
    return cast(BatchRunResult, result)
