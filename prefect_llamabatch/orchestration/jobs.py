"""``LlamaBatchJob``: a saved batch-job definition (a Prefect ``JobBlock``) and its runs.

The block holds everything a run needs: the credentials block, the directory or the items, the job
config (secrets included: block fields are stored encrypted), the wait settings and the failure
threshold. ``trigger()`` submits the job and returns a :class:`LlamaBatchJobRun`, which can wait,
fetch the result, cancel, and retry the failed items. Each method works from sync code (returns
the value) and from async code (returns an awaitable); ``a``-prefixed twins are the async ones.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, cast

from prefect.blocks.abstract import JobBlock, JobRun
from prefect.blocks.core import Block
from prefect.blocks.core import schema_extra as prefect_schema_extra
from pydantic import ConfigDict, Field, model_validator

from prefect_llamabatch.credentials import BLOCK_TYPE_KEY, LlamaCloudCredentials
from prefect_llamabatch.models import (
    BatchCancelResponse,
    BatchJob,
    BatchJobCreate,
    BatchParseJobRecordCreate,
    JobConfig,
    check_known_fields,
)
from prefect_llamabatch.orchestration.cancelling import cancel_steps
from prefect_llamabatch.orchestration.dispatch import async_dispatch
from prefect_llamabatch.orchestration.drivers import arun_steps, run_steps
from prefect_llamabatch.orchestration.effects import Steps
from prefect_llamabatch.orchestration.results import BatchRunResult, check_outcome
from prefect_llamabatch.orchestration.rounds import retry_rounds
from prefect_llamabatch.orchestration.secrets import block_secret_paths
from prefect_llamabatch.orchestration.tasks import create_batch_job
from prefect_llamabatch.orchestration.v2_pipeline import V2Target, v2_target
from prefect_llamabatch.orchestration.waiting import (
    WaitSettings,
    wait_credentials,
    wait_result_steps,
)

__all__ = ["LlamaBatchJob", "LlamaBatchJobRun"]


class LlamaBatchJobRun(JobRun[BatchRunResult]):
    """One run of a :class:`LlamaBatchJob`: the remote job it created.

    Example:
        ```python
        from prefect_llamabatch import LlamaBatchJob

        run = LlamaBatchJob.load("BLOCK_NAME").trigger()
        result = run.wait_for_completion()
        print(run.job_id, result.summary())
        ```
    """

    def __init__(self, block: LlamaBatchJob, job: BatchJob) -> None:
        self.block = block
        self.job = job
        self.result: BatchRunResult | None = None

    @property
    def job_id(self) -> str:
        """The remote batch job id."""
        return self.job.id

    def __repr__(self) -> str:
        return f"LlamaBatchJobRun(job_id={self.job_id!r})"

    def _wait(self) -> Steps[BatchRunResult]:
        result = yield from wait_result_steps(
            self.block.credentials,
            self.job_id,
            self.block.wait,
            fetch_items=True,
            organization_id=self.block.organization_id,
            project_id=self.block.project_id,
        )
        self.result = result
        return check_outcome(
            result, max_failed_fraction=self.block.max_failed_fraction, logger=self.logger
        )

    async def wait_for_completion_async(self) -> BatchRunResult:
        """Async :meth:`wait_for_completion` (Prefect's ``JobRun`` abstract method)."""
        return await arun_steps(wait_credentials(self.block.credentials), self._wait())

    async def await_for_completion(self) -> BatchRunResult:
        """Deprecated: :meth:`wait_for_completion_async` (or ``await run.wait_for_completion()``)."""
        warnings.warn(
            "LlamaBatchJobRun.await_for_completion is deprecated; use wait_for_completion_async "
            "or await wait_for_completion() in async code",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self.wait_for_completion_async()

    @async_dispatch(wait_for_completion_async)
    def wait_for_completion(self) -> BatchRunResult:  # type: ignore[override]
        """Wait until the job finishes; the judged result (raises like the flows do).

        Prefect's ``JobRun.wait_for_completion``: the value from sync code, an awaitable from
        async code.
        """
        return run_steps(wait_credentials(self.block.credentials), self._wait())

    async def afetch_result(self) -> BatchRunResult:
        """Async :meth:`fetch_result`."""
        if self.result is not None:
            return self.result
        return await self.wait_for_completion_async()

    @async_dispatch(afetch_result)
    def fetch_result(self) -> BatchRunResult:  # type: ignore[override]
        """The result, waiting for the job first if that was not done yet.

        Unlike :meth:`wait_for_completion` it does not raise for failed items once the run was
        waited on: it returns what was found.
        """
        if self.result is not None:
            return self.result
        return cast(BatchRunResult, self.wait_for_completion(_sync=True))  # type: ignore[call-arg]

    def _cancel(self, reason: str | None) -> Steps[BatchCancelResponse]:
        return cancel_steps(
            self.job_id,
            reason,
            organization_id=self.block.organization_id,
            project_id=self.block.project_id,
        )

    async def acancel(self, reason: str | None = None) -> BatchCancelResponse:
        """Async :meth:`cancel`."""
        return await arun_steps(self.block.credentials, self._cancel(reason))

    @async_dispatch(acancel)
    def cancel(self, reason: str | None = None) -> BatchCancelResponse:
        """Cancel the remote job (a finished job is not an error)."""
        return run_steps(self.block.credentials, self._cancel(reason))

    async def aretry_failed_items(self, max_rounds: int = 3) -> BatchRunResult:
        """Async :meth:`retry_failed_items`.

        The rounds are the sync flow steps (tasks run one after another); they run in a worker
        thread, with this context (the flow run) copied, so the event loop stays free.
        """
        return await asyncio.to_thread(self._retry_failed_items, max_rounds)

    @async_dispatch(aretry_failed_items)
    def retry_failed_items(self, max_rounds: int = 3) -> BatchRunResult:
        """Resubmit the failed items with the block's config, round after round.

        Call it inside a flow (its steps are tasks); in an async flow, await it. The config is
        passed in memory, never as a flow parameter, so a config with secrets works here.
        """
        return self._retry_failed_items(max_rounds)

    def _retry_failed_items(self, max_rounds: int) -> BatchRunResult:
        from prefect.client.schemas.objects import State

        outcome = retry_rounds(
            self.block.credentials,
            self.job_id,
            config=self.block.job_config,
            settings=self.block.wait,
            max_rounds=max_rounds,
            max_failed_fraction=self.block.max_failed_fraction,
            report=True,
            export_path=None,
            organization_id=self.block.organization_id,
            project_id=self.block.project_id,
        )
        if isinstance(outcome, State):
            outcome.result()  # raises what the rounds ended with (CancelledRun, BatchItemsFailed …)
        return cast(BatchRunResult, outcome)


def _schema_extra(schema: dict[str, Any], model: type[Block]) -> None:
    prefect_schema_extra(schema, model)
    # Prefect does not see secrets inside the job_config union or the v2 parameter dicts; name
    # them, so reading the block without include_secrets shows them obfuscated.
    schema["secret_fields"] = [
        *schema.get("secret_fields", []),
        *block_secret_paths("job_config"),
        "parse_v2.webhook_configurations",
        "extract_v2.webhook_configurations",
    ]


class LlamaBatchJob(JobBlock[BatchRunResult]):
    """A saved LlamaCloud batch job definition: what to process, how, and how to wait.

    Secrets in the job config (``azure_openai_key``, webhook headers …) belong here rather than
    in flow parameters: the block stores them as secret fields.

    Example:
        Save a definition, then trigger it from any flow:
        ```python
        from prefect_llamabatch import LlamaBatchJob, LlamaCloudCredentials

        LlamaBatchJob(
            credentials=LlamaCloudCredentials.load("llamacloud"),
            directory_id="dir-123",
            job_config={"parameters": {"fast_mode": True}},
        ).save("BLOCK_NAME", overwrite=True)

        run = LlamaBatchJob.load("BLOCK_NAME").trigger()
        print(run.wait_for_completion().summary())
        ```
    """

    # hide_input_in_errors: a ValidationError's text would otherwise echo the input, secrets included.
    model_config = ConfigDict(json_schema_extra=_schema_extra, hide_input_in_errors=True)

    _block_type_name = "LlamaCloud Batch Job"
    _block_type_slug = "llamacloud-batch-job"
    _logo_url = "https://avatars.githubusercontent.com/u/130722866?s=200&v=4"  # type: ignore[assignment]
    _documentation_url = "https://docs.cloud.llamaindex.ai/"  # type: ignore[assignment]
    _description = "A LlamaCloud batch job definition: directory or items, config, wait settings."

    credentials: LlamaCloudCredentials = Field(
        default=..., description="The LlamaCloud credentials block to run the job with."
    )
    directory_id: str | None = Field(
        default=None, description="Process every file of this directory (or give item_ids)."
    )
    item_ids: list[str] | None = Field(
        default=None, description="Process these directory-file ids (or give directory_id)."
    )
    job_config: JobConfig = Field(
        default_factory=BatchParseJobRecordCreate,
        description="Parse config (empty for defaults) or classify config (with rules).",
    )
    page_size: int | None = Field(
        default=None, gt=0, description="Files per processing cycle in directory mode."
    )
    wait: WaitSettings = Field(
        default_factory=WaitSettings,
        description="Polling interval, backoff, timeout and outage budget of the wait.",
    )
    max_failed_fraction: float | None = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Largest failed/total fraction accepted; empty accepts any number of failures.",
    )
    organization_id: str | None = Field(
        default=None, description="Overrides the credentials' organization."
    )
    project_id: str | None = Field(default=None, description="Overrides the credentials' project.")
    configuration_id: str | None = Field(
        default=None,
        description="v2: run a v2 batch with this saved or preset configuration (cfg-...).",
    )
    parse_v2: dict[str, Any] | None = Field(
        default=None,
        description="v2: parse_v2 parameters, saved once as a named configuration.",
    )
    extract_v2: dict[str, Any] | None = Field(
        default=None,
        description="v2: extract_v2 parameters, saved once as a named configuration.",
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        # Blocks accept any key by default: a misspelt field would silently keep its default.
        if isinstance(data, dict):
            check_known_fields(data, [*cls.model_fields, BLOCK_TYPE_KEY], cls.__name__)
        return data

    @model_validator(mode="after")
    def _one_source(self) -> LlamaBatchJob:
        # Same rules as the API request (or the v2 flow's), checked when the block is built.
        if self.v2_target() is None:
            self.job_request()
        elif self.directory_id is None:
            raise ValueError(
                "a v2 definition (configuration_id, parse_v2 or extract_v2) needs directory_id: "
                "a v2 batch runs over a directory (item_ids may narrow it)"
            )
        return self

    def v2_target(self) -> V2Target | None:
        """The v2 configuration this definition runs with, or None for a v1 job.

        ``job_config`` (v1) and the v2 fields exclude each other; a ``job_config`` equal to the
        default (``{}``) does not count as given (a saved block stores it, set or not).
        """
        given = self.job_config != BatchParseJobRecordCreate()
        return v2_target(
            job_config=self.job_config if given else None,
            configuration_id=self.configuration_id,
            parse_v2=self.parse_v2,
            extract_v2=self.extract_v2,
        )

    def job_request(self) -> BatchJobCreate:
        """The create request this definition sends (validated)."""
        fields: dict[str, Any] = {"job_config": self.job_config}
        for name in ("directory_id", "item_ids", "page_size"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return BatchJobCreate.model_validate(fields)

    def _create_arguments(self) -> dict[str, Any]:
        request = self.job_request()
        return {
            "job_config": request.job_config,
            "directory_id": request.directory_id,
            "item_ids": request.item_ids,
            "page_size": request.page_size,
            "organization_id": self.organization_id,
            "project_id": self.project_id,
        }

    def _refuse_v2(self) -> None:
        if self.v2_target() is not None:
            raise ValueError(
                "trigger() submits a v1 batch job; this definition is a v2 batch "
                "(configuration_id/parse_v2/extract_v2): run it with run_llama_batch_job(block)"
            )

    async def atrigger(self) -> LlamaBatchJobRun:
        """Async :meth:`trigger`."""
        self._refuse_v2()
        job = await cast(Any, create_batch_job(self.credentials, **self._create_arguments()))
        return LlamaBatchJobRun(self, job)

    @async_dispatch(atrigger)
    def trigger(self) -> LlamaBatchJobRun:  # type: ignore[override]
        """Submit the job; returns its run. Idempotent within a flow run (same key, same job).

        It runs the ``create_batch_job`` task, whose result is persisted under a key of the flow
        run and the definition: triggering again in the same flow run (or a retry of it) returns
        the job already created, without relying on the server honouring an idempotency key
        (LlamaCloud documents none). v1 definitions only: run a v2 one with
        ``run_llama_batch_job``.
        """
        self._refuse_v2()
        job = create_batch_job(self.credentials, **self._create_arguments())
        return LlamaBatchJobRun(self, cast(BatchJob, job))
