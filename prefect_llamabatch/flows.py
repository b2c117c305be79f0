"""Ready-made flows: process a directory (or a local folder), items, retries, classification.

Each flow validates every input before any HTTP call, submits one batch job (idempotently: a retried
or resumed flow run reattaches to it), waits in one task run, reports on failed items, and ends:

* **Completed** with a :class:`~prefect_llamabatch.results.BatchRunResult` when no item failed,
  or when the failed fraction is within ``max_failed_fraction`` (logged as a warning, and the
  summary artifact says so);
* **Failed** with ``BatchItemsFailed`` (too many failed items), ``BatchJobFailed``,
  ``BatchJobTimeout`` or ``BatchApiUnavailable``;
* **Cancelled** when the job was cancelled remotely.

When the flow run itself stops (cancelled from the UI/API, its own ``timeout_seconds``, a crash or
SIGTERM), its hooks cancel the remote job, unless ``cancel_on_stop=False`` (``docs/cancellation.md``).

The flows are synchronous; call them from sync code, from a sync flow, or as a subflow of an async
flow. Their signatures are stable: deployments pass these parameters by name.

Secrets never travel as flow parameters: Prefect stores parameters in its database. A ``job_config``
carrying a secret (``azure_openai_key``, webhook headers …) is refused; save the job definition in a
:class:`~prefect_llamabatch.jobs.LlamaBatchJob` block and run ``run_llama_batch_job``.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, cast

from prefect import Flow, task
from prefect.cache_policies import NO_CACHE
from prefect.flows import FlowStateHook
from prefect.logging.loggers import get_logger, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run
from prefect.states import Cancelled
from pydantic import TypeAdapter
from typing_extensions import ParamSpec

from prefect_llamabatch._secrets import find_secrets, masked
from prefect_llamabatch._tracking import cancel_remote_jobs
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.jobs import LlamaBatchJob
from prefect_llamabatch.models import (
    MASK,
    BatchJobCreate,
    BatchParseJobRecordCreate,
    ClassifierRule,
    ClassifyJobConfig,
    ClassifyMode,
    ClassifyParsingConfiguration,
    JobConfig,
    JobStatus,
)
from prefect_llamabatch.reporting import collect_report, publish_retry_report
from prefect_llamabatch.results import (
    BatchJobCancelled,
    BatchRunResult,
    JobCounts,
    RetryRound,
    check_max_failed_fraction,
    check_outcome,
    verdict,
)
from prefect_llamabatch.tasks import (
    default_idempotency_key,
    local_files,
    submit_batch_job,
    upload_directory,
    wait_for_batch_job,
)
from prefect_llamabatch.waiting import Logger, WaitSettings

__all__ = [
    "cancel_remote_jobs",
    "classify_directory",
    "find_secrets",
    "process_directory",
    "process_items",
    "retry_failed_items",
    "run_llama_batch_job",
]

_CONFIG = TypeAdapter(JobConfig)
JobConfigParam = Union[BatchParseJobRecordCreate, ClassifyJobConfig, dict[str, Any]]
P = ParamSpec("P")
R = TypeVar("R")


# --------------------------------------------------------------------------------------------
# Flow parameters never hold a secret in clear
# --------------------------------------------------------------------------------------------


class LlamaBatchFlow(Flow[P, R]):
    """A Prefect flow whose stored parameters never carry a job config's secrets in clear.

    Prefect stores a flow run's parameters when it creates the run, before the flow's code
    runs; this masks ``job_config`` secrets at that point, so even a refused config never
    reaches the database in clear.

    Example:
        ```python
        from prefect_llamabatch.flows import LlamaBatchFlow, process_directory

        assert isinstance(process_directory.with_options(timeout_seconds=60), LlamaBatchFlow)
        ```
    """

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        serialized = super().serialize_parameters(parameters)
        if parameters.get("job_config") is not None:
            serialized["job_config"] = masked(parameters["job_config"])
        return serialized

    def with_options(self, *args: Any, **kwargs: Any) -> "LlamaBatchFlow[P, R]":
        new = super().with_options(*args, **kwargs)
        new.__class__ = type(self)  # Flow.with_options always builds a plain Flow
        return cast(LlamaBatchFlow[P, R], new)


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


# --------------------------------------------------------------------------------------------
# Validation (before any HTTP call)
# --------------------------------------------------------------------------------------------


def _refuse_secrets(config: BatchParseJobRecordCreate | ClassifyJobConfig) -> None:
    secrets = find_secrets(config)
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
        _refuse_secrets(config)
    return config


def _settings(wait: WaitSettings | Mapping[str, Any] | None) -> WaitSettings:
    return wait if isinstance(wait, WaitSettings) else WaitSettings.model_validate(wait or {})


def _check_credentials(credentials: Any) -> LlamaCloudCredentials:
    if not isinstance(credentials, LlamaCloudCredentials):
        raise TypeError(
            "credentials must be a LlamaCloudCredentials block (e.g. "
            f"LlamaCloudCredentials.load('name')), not {type(credentials).__name__}"
        )
    return credentials


# --------------------------------------------------------------------------------------------
# Run names
# --------------------------------------------------------------------------------------------


def _param(name: str) -> Any:
    return (runtime_flow_run.parameters or {}).get(name)


def _process_directory_name() -> str:
    target = _param("directory_id")
    if not target and _param("local_path"):
        target = Path(str(_param("local_path"))).name
    return f"process-directory/{target or 'directory'}"


def _process_items_name() -> str:
    items = _param("item_ids")
    return f"process-items/{len(items) if isinstance(items, list) else '?'}-items"


def _classify_name() -> str:
    return f"classify-directory/{_param('directory_id') or 'directory'}"


def _retry_name() -> str:
    return f"retry-failed-items/{_param('job_id') or 'job'}"


def _block_run_name() -> str:
    value = _param("block_name_or_block")
    name = value if isinstance(value, str) else getattr(value, "_block_document_name", None)
    return f"run-llama-batch-job/{name or 'block'}"


# --------------------------------------------------------------------------------------------
# The shared pipeline: submit, wait, report, judge
# --------------------------------------------------------------------------------------------


def _logger() -> Logger:
    try:
        return get_run_logger()
    except Exception:
        return get_logger("prefect_llamabatch")


def _finish(result: BatchRunResult, max_failed_fraction: float | None, logger: Logger) -> Any:
    try:
        judged = check_outcome(result, max_failed_fraction=max_failed_fraction, logger=logger)
    except BatchJobCancelled as exc:
        logger.warning("%s", exc)
        # Prefect makes a returned state the run's final state: the flow run ends Cancelled.
        return Cancelled(message=str(exc))
    if not judged.accepted_failures:
        logger.info("%s", judged.summary())
    return judged


def run_batch(
    credentials: LlamaCloudCredentials,
    body: BatchJobCreate,
    *,
    settings: WaitSettings,
    max_failed_fraction: float | None,
    report: bool,
    include_results: bool,
    export_path: str | None,
    idempotency_key: str | None,
    organization_id: str | None,
    project_id: str | None,
    started: float,
    prior_api_calls: int = 0,
) -> Any:
    """Submit, wait, report, judge: the steps every flow here shares (inside a flow run)."""
    logger = get_run_logger()
    tenant: dict[str, Any] = {"organization_id": organization_id, "project_id": project_id}
    created = submit_batch_job.sync(credentials, body, idempotency_key=idempotency_key, **tenant)
    result: BatchRunResult = wait_for_batch_job.sync(
        credentials,
        created.job.id,
        settings,
        raise_on_failure=False,
        fetch_items=not report,
        **tenant,
    )
    api_calls = prior_api_calls + created.api_calls + result.api_calls
    if report:
        job = result.job
        findings = collect_report(
            credentials,
            job.id,
            include_results=include_results,
            export_path=export_path,
            max_failed_fraction=max_failed_fraction,
            verdict=verdict(
                job.status_value,
                result.counts,
                max_failed_fraction,
                error_message=job.error_message,
            ),
            **tenant,
        )
        api_calls += findings.api_calls
        result = result.model_copy(
            update={
                "failed_items": findings.failed,
                "skipped_items": findings.skipped,
                "export_path": findings.export_path,
            }
        )
    result = result.model_copy(
        update={"api_calls": api_calls, "duration_seconds": time.monotonic() - started}
    )
    return _finish(result, max_failed_fraction, logger)


# --------------------------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------------------------


@batch_flow(name="process-directory", flow_run_name=_process_directory_name)
def process_directory(
    credentials: LlamaCloudCredentials,
    directory_id: str | None = None,
    local_path: str | None = None,
    job_config: JobConfigParam | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    include_results: bool = False,
    export_path: str | None = None,
    page_size: int | None = None,
    idempotency_key: str | None = None,
    directory_name: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> BatchRunResult:
    """Parse (or classify) every file of a directory, or of a local folder uploaded first.

    Args:
        credentials: LlamaCloud credentials block.
        directory_id: An existing LlamaCloud directory (with local_path: the folder is synced
            into it first).
        local_path: A local folder, uploaded first: into directory_id, else into the newest
            directory called directory_name, else into a new ephemeral directory. Files already
            in the target with the same content are not uploaded again, so give directory_id or
            directory_name to upload only what changed since the last run; files deleted
            locally stay in the directory.
        job_config: Parse config (default: ``{}``, LlamaParse's defaults) or classify config,
            as a model or a dict. Must not carry secrets (see the module docs).
        wait: Polling, deadline and outage settings.
        max_failed_fraction: Failed/total fraction accepted (default 0: any failed item fails the
            flow); None accepts any number.
        cancel_on_stop: Cancel the remote job when this flow run is cancelled, times out,
            crashes or is terminated.
        report: List failed/skipped items and create the table and summary artifacts.
        include_results: Also fetch each failed item's processing results.
        export_path: File or folder to write every failed item to (CSV or JSONL).
        page_size: Files per processing cycle (directory mode).
        idempotency_key: Overrides the default (flow run id + job definition).
        directory_name: The directory local_path is synced into, found by name (created
            on the first run).
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The run's result (the flow ends Cancelled instead if the job was cancelled remotely).

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_directory

        result = process_directory(
            LlamaCloudCredentials.load("llamacloud"),
            local_path="./invoices",
            job_config={"parameters": {"parse_mode": "parse_page_with_llm"}},
            max_failed_fraction=0.05,
        )
        print(result.summary())
        ```
    """
    credentials = _check_credentials(credentials)
    if directory_id is None and local_path is None:
        raise ValueError(
            "give directory_id (an existing LlamaCloud directory), local_path (a folder to "
            "upload), or both (to sync the folder into that directory); got neither"
        )
    if directory_name is not None and (local_path is None or directory_id is not None):
        raise ValueError(
            "directory_name names the directory local_path is synced into; give it with "
            "local_path and without directory_id"
        )
    config = validated_config(job_config)
    settings = _settings(wait)
    check_max_failed_fraction(max_failed_fraction)
    if local_path is not None:
        local_files(local_path)  # exists, is a folder, has files
    # Validates page_size and the rest of the body before anything is uploaded.
    BatchJobCreate(
        directory_id=directory_id or "pending-upload", job_config=config, page_size=page_size
    )
    started = time.monotonic()
    prior = 0
    if local_path is not None:
        uploaded = upload_directory.sync(
            credentials,
            local_path,
            directory_id=directory_id,
            directory_name=directory_name,
            organization_id=organization_id,
            project_id=project_id,
        )
        directory_id, prior = uploaded.directory_id, uploaded.api_calls
    assert directory_id is not None
    body = BatchJobCreate(directory_id=directory_id, job_config=config, page_size=page_size)
    return cast(
        BatchRunResult,
        run_batch(
            credentials,
            body,
            settings=settings,
            max_failed_fraction=max_failed_fraction,
            report=report,
            include_results=include_results,
            export_path=export_path,
            idempotency_key=idempotency_key,
            organization_id=organization_id,
            project_id=project_id,
            started=started,
            prior_api_calls=prior,
        ),
    )


@batch_flow(name="process-items", flow_run_name=_process_items_name)
def process_items(
    credentials: LlamaCloudCredentials,
    item_ids: list[str],
    job_config: JobConfigParam | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    include_results: bool = False,
    export_path: str | None = None,
    idempotency_key: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> BatchRunResult:
    """Process specific items (directory-file ids, ``dfl-…``) with one batch job.

    Args:
        credentials: LlamaCloud credentials block.
        item_ids: The items; non-empty, without duplicates.
        job_config: Parse or classify config, as a model or a dict (no secrets).
        wait: Polling, deadline and outage settings.
        max_failed_fraction: Failed/total fraction accepted (default 0); None accepts any.
        cancel_on_stop: Cancel the remote job when this flow run stops.
        report: List failed/skipped items and create the artifacts.
        include_results: Also fetch each failed item's processing results.
        export_path: File or folder to write every failed item to.
        idempotency_key: Overrides the default (flow run id + job definition).
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The run's result.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, process_items

        result = process_items(LlamaCloudCredentials.load("llamacloud"), ["dfl-1", "dfl-2"])
        ```
    """
    credentials = _check_credentials(credentials)
    config = validated_config(job_config)
    settings = _settings(wait)
    check_max_failed_fraction(max_failed_fraction)
    body = BatchJobCreate(item_ids=item_ids, job_config=config)
    return cast(
        BatchRunResult,
        run_batch(
            credentials,
            body,
            settings=settings,
            max_failed_fraction=max_failed_fraction,
            report=report,
            include_results=include_results,
            export_path=export_path,
            idempotency_key=idempotency_key,
            organization_id=organization_id,
            project_id=project_id,
            started=time.monotonic(),
        ),
    )


@batch_flow(name="classify-directory", flow_run_name=_classify_name)
def classify_directory(
    credentials: LlamaCloudCredentials,
    directory_id: str,
    rules: list[ClassifierRule] | dict[str, str],
    mode: ClassifyMode | None = None,
    parsing_configuration: ClassifyParsingConfiguration | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    export_path: str | None = None,
    idempotency_key: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> BatchRunResult:
    """Classify every file of a directory by rules (document type → description).

    Args:
        credentials: LlamaCloud credentials block.
        directory_id: The directory.
        rules: ``[{"type": ..., "description": ...}]`` or ``{type: description}``.
        mode: ``FAST`` or ``MULTIMODAL``.
        parsing_configuration: How documents are parsed before classification.
        wait: Polling, deadline and outage settings.
        max_failed_fraction: Failed/total fraction accepted (default 0); None accepts any.
        cancel_on_stop: Cancel the remote job when this flow run stops.
        report: List failed/skipped items and create the artifacts.
        export_path: File or folder to write every failed item to.
        idempotency_key: Overrides the default (flow run id + job definition).
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        The run's result; each item's label is in its processing results' output.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, classify_directory

        classify_directory(
            LlamaCloudCredentials.load("llamacloud"),
            "dir-123",
            {"invoice": "bills with a total due", "contract": "agreements with signatures"},
        )
        ```
    """
    credentials = _check_credentials(credentials)
    rule_list: Iterable[Any] = (
        [{"type": k, "description": v} for k, v in rules.items()]
        if isinstance(rules, Mapping)
        else rules
    )
    config = ClassifyJobConfig.model_validate(
        {
            "rules": list(rule_list),
            **({"mode": mode} if mode is not None else {}),
            **(
                {"parsing_configuration": parsing_configuration}
                if parsing_configuration is not None
                else {}
            ),
        }
    )
    settings = _settings(wait)
    check_max_failed_fraction(max_failed_fraction)
    body = BatchJobCreate(directory_id=directory_id, job_config=config)
    return cast(
        BatchRunResult,
        run_batch(
            credentials,
            body,
            settings=settings,
            max_failed_fraction=max_failed_fraction,
            report=report,
            include_results=False,
            export_path=export_path,
            idempotency_key=idempotency_key,
            organization_id=organization_id,
            project_id=project_id,
            started=time.monotonic(),
        ),
    )


@task(name="read-job-config", cache_policy=NO_CACHE, task_run_name="read-job-config/{job_id}")
def read_job_config(
    credentials: LlamaCloudCredentials, job_id: str, job_type: str, tenant: dict[str, Any]
) -> tuple[BatchParseJobRecordCreate | ClassifyJobConfig | None, int]:
    """The config a job ran with, as echoed in a completed item's processing results.

    Returns the config (None when no completed item has results) and the requests made.
    """
    with credentials.get_client() as client:
        done = client.list_items(job_id, status="completed", limit=1, **tenant).items
        candidates = []
        if done:
            results = client.get_item_results(done[0].item_id, job_type=job_type, **tenant)
            candidates = sorted(
                results.processing_results or [], key=lambda r: r.processed_at, reverse=True
            )
        requests = client.stats.requests
    if not candidates:
        return None, requests
    echoed = candidates[0].job_config
    if isinstance(echoed, ClassifyJobConfig):
        # Only the definition: the record fields (id, status …) belong to the old job.
        echoed = ClassifyJobConfig.model_validate(
            echoed.model_dump(include={"rules", "mode", "parsing_configuration"}, exclude_none=True)
        )
    return echoed, requests


@batch_flow(name="retry-failed-items", flow_run_name=_retry_name)
def retry_failed_items(
    credentials: LlamaCloudCredentials,
    job_id: str,
    max_rounds: int = 3,
    job_config: JobConfigParam | None = None,
    wait: WaitSettings | None = None,
    max_failed_fraction: float | None = 0.0,
    cancel_on_stop: bool = True,
    report: bool = True,
    export_path: str | None = None,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> BatchRunResult:
    """Resubmit only the failed items of a job, round after round, until none fail.

    Each round is a new batch job over the items that failed in the previous one (by
    ``item_ids``), with the same config: ``job_config`` if given, else the config the original
    job ran with (read from a completed item's processing results). It stops when no item fails
    or after ``max_rounds``, and reports once: the still-failing items and every round.

    Args:
        credentials: LlamaCloud credentials block.
        job_id: The original batch job.
        max_rounds: Most retry rounds (>= 1).
        job_config: The config to resubmit with (default: the original job's).
        wait: Polling, deadline and outage settings of each round.
        max_failed_fraction: Fraction of the original job's items that may still fail at the
            end (default 0); None accepts any.
        cancel_on_stop: Cancel the current round's job when this flow run stops.
        report: Create the table and summary artifacts of the still-failing items.
        export_path: File or folder to write the still-failing items to.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        A merged result: ``job`` is the original job with its ``failed_items`` counter set to the
        items still failing (so ``counts`` are the original totals after the retries),
        ``failed_items`` lists them, and ``rounds`` has every round's job and counts.

    Example:
        ```python
        from prefect_llamabatch import LlamaCloudCredentials, retry_failed_items

        result = retry_failed_items(LlamaCloudCredentials.load("llamacloud"), "bjb-123", max_rounds=2)
        print(result.counts.failed, "still failing after", len(result.rounds), "rounds")
        ```
    """
    credentials = _check_credentials(credentials)
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValueError(f"job_id must be a non-empty string (got {job_id!r})")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1 (got {max_rounds})")
    settings = _settings(wait)
    check_max_failed_fraction(max_failed_fraction)
    given = validated_config(job_config) if job_config is not None else None
    return cast(
        BatchRunResult,
        retry_rounds(
            credentials,
            job_id,
            config=given,
            settings=settings,
            max_rounds=max_rounds,
            max_failed_fraction=max_failed_fraction,
            report=report,
            export_path=export_path,
            organization_id=organization_id,
            project_id=project_id,
        ),
    )


def _items_only(result: BatchRunResult) -> bool:
    """Whether a finished round's outcome is about its items only: completed, or ``failed``
    because every one of its items failed (the service fails such a job as a whole)."""
    if result.status == JobStatus.COMPLETED.value:
        return True
    c = result.counts
    return result.status == JobStatus.FAILED.value and c.total > 0 and c.failed == c.total


def _round_key(body: BatchJobCreate, number: int, tenant: dict[str, Any]) -> str | None:
    """The idempotency key of retry round ``number``: the flow run, the round and its body.

    Rounds over the same still-failing items have equal bodies; without the round number they
    would share one key and reattach to the previous round's job instead of retrying. A retry
    of the flow run gets the same key per round, so it reattaches. None outside a flow run
    (the task then draws a random key).
    """
    flow_run_id = runtime_flow_run.id
    if not flow_run_id:
        return None
    return default_idempotency_key(f"{flow_run_id}/retry-round-{number}", body, **tenant)


def retry_rounds(
    credentials: LlamaCloudCredentials,
    job_id: str,
    *,
    config: BatchParseJobRecordCreate | ClassifyJobConfig | None,
    settings: WaitSettings,
    max_rounds: int,
    max_failed_fraction: float | None,
    report: bool,
    export_path: str | None,
    organization_id: str | None,
    project_id: str | None,
) -> Any:
    """The rounds of ``retry_failed_items`` (also used by ``LlamaBatchJobRun``, whose config may
    hold secrets that must not become flow parameters). Returns the result or a Cancelled state.
    """
    logger = _logger()
    started = time.monotonic()
    tenant: dict[str, Any] = {"organization_id": organization_id, "project_id": project_id}
    # Waiting on a finished job is one poll, and it lists the failed items; a job still
    # running is waited for first.
    base = wait_for_batch_job.sync(
        credentials, job_id, settings, raise_on_failure=False, fetch_items=True, **tenant
    )
    original = base.job
    api_calls = base.api_calls
    if not base.failed_items:
        logger.info("Batch job %s has no failed item: nothing to retry", job_id)
        return cast(BatchRunResult, _finish(base, max_failed_fraction, logger))
    if config is None:
        config, n = read_job_config(credentials, job_id, original.job_type, tenant)
        api_calls += n
        if config is None:
            raise ValueError(
                f"job_config is required: the config of batch job {job_id} could not be found "
                "(no completed item with processing results to read it from); pass the "
                "job_config the job was created with"
            )
        # A server echoes secrets masked: resubmitting the echo would send the mask as the key.
        hidden = find_secrets(config, where=lambda clear: MASK in clear)
        if hidden:
            raise ValueError(
                f"the config of batch job {job_id} was echoed with {', '.join(hidden)} masked "
                f"({MASK}), so it cannot be resubmitted as is (the mask would be sent as the "
                "secret): save the definition with its secrets in a LlamaBatchJob block and "
                "retry inside a flow with LlamaBatchJobRun.retry_failed_items(), or pass a "
                "job_config without secrets"
            )
    rounds: list[RetryRound] = []
    last: BatchRunResult | None = None
    pending = [item.item_id for item in base.failed_items]
    for number in range(1, max_rounds + 1):
        logger.info(
            "Retry round %d of %d: resubmitting %d failed item(s)", number, max_rounds, len(pending)
        )
        body = BatchJobCreate(item_ids=pending, job_config=config)
        created = submit_batch_job.sync(
            credentials, body, idempotency_key=_round_key(body, number, tenant), **tenant
        )
        last = wait_for_batch_job.sync(
            credentials,
            created.job.id,
            settings,
            raise_on_failure=False,
            fetch_items=True,
            **tenant,
        )
        api_calls += created.api_calls + last.api_calls
        rounds.append(
            RetryRound(
                round=number,
                job_id=last.job_id,
                submitted=len(pending),
                counts=last.counts,
                status=last.status,
            )
        )
        if not _items_only(last):
            break
        pending = [item.item_id for item in last.failed_items]
        if not pending:
            break
    assert last is not None
    if not _items_only(last):
        # The round's job itself failed or was cancelled: judge that job, not the merge.
        return _finish(last, max_failed_fraction, logger)
    still = len(last.failed_items)
    # The original job, its counters updated with what the rounds fixed; rounds list the jobs.
    job = original.model_copy(
        update={"status": JobStatus.COMPLETED, "failed_items": still, "error_message": None}
    )
    merged = BatchRunResult(
        job=job,
        counts=JobCounts.from_job(job),
        progress_percentage=100.0,
        failed_items=last.failed_items,
        skipped_items=[*base.skipped_items, *last.skipped_items],
        rounds=rounds,
    )
    if report:
        merged = merged.model_copy(
            update={
                "export_path": publish_retry_report(
                    merged,
                    original_job=original,
                    originally_failed=len(base.failed_items),
                    max_failed_fraction=max_failed_fraction,
                    export_path=export_path,
                )
            }
        )
    merged = merged.model_copy(
        update={"api_calls": api_calls, "duration_seconds": time.monotonic() - started}
    )
    return cast(BatchRunResult, _finish(merged, max_failed_fraction, logger))


@batch_flow(name="run-llama-batch-job", flow_run_name=_block_run_name)
def run_llama_batch_job(
    block_name_or_block: Union[str, LlamaBatchJob],
    cancel_on_stop: bool = True,
    export_path: str | None = None,
) -> BatchRunResult:
    """Run a saved :class:`~prefect_llamabatch.jobs.LlamaBatchJob`: submit, wait, report, judge.

    The block holds the whole definition (credentials block, directory or items, job config with
    any secrets, wait settings, failure threshold), so only its name is a flow parameter.

    Args:
        block_name_or_block: The block's name, or the block itself.
        cancel_on_stop: Cancel the remote job when this flow run stops.
        export_path: File or folder to write every failed item to.

    Returns:
        The run's result.

    Example:
        ```python
        from prefect_llamabatch import run_llama_batch_job

        result = run_llama_batch_job("nightly-invoices")
        ```
    """
    block = (
        LlamaBatchJob.load(block_name_or_block, _sync=True)  # type: ignore[call-arg]
        if isinstance(block_name_or_block, str)
        else block_name_or_block
    )
    if not isinstance(block, LlamaBatchJob):
        raise TypeError(
            f"block_name_or_block must name a LlamaBatchJob block (got {type(block).__name__})"
        )
    return cast(
        BatchRunResult,
        run_batch(
            block.credentials,
            block.job_request(),
            settings=block.wait,
            max_failed_fraction=block.max_failed_fraction,
            report=True,
            include_results=False,
            export_path=export_path,
            idempotency_key=None,
            organization_id=block.organization_id,
            project_id=block.project_id,
            started=time.monotonic(),
        ),
    )
