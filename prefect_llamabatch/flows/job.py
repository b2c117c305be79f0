"""The ``run_llama_batch_job`` flow: run a saved ``LlamaBatchJob`` block."""

from typing import Union

from prefect_llamabatch.flows.base import RunOptions, batch_flow, run_either, run_parameter
from prefect_llamabatch.orchestration.jobs import LlamaBatchJob
from prefect_llamabatch.orchestration.results import BatchRunResult

__all__ = ["run_llama_batch_job"]


def _block_run_name() -> str:
    value = run_parameter("block_name_or_block")
    name = value if isinstance(value, str) else getattr(value, "_block_document_name", None)
    return f"run-llama-batch-job/{name or 'block'}"


@batch_flow(name="run-llama-batch-job", flow_run_name=_block_run_name)
def run_llama_batch_job(
    block_name_or_block: Union[str, LlamaBatchJob],
    cancel_on_stop: bool = True,
    export_path: str | None = None,
) -> BatchRunResult:
    """Run a saved :class:`~prefect_llamabatch.orchestration.jobs.LlamaBatchJob`: submit, wait, report, judge.

    The block holds the whole definition (credentials block, directory or items, job config with
    any secrets, wait settings, failure threshold), so only its name is a flow parameter. A
    definition with ``configuration_id``, ``parse_v2`` or ``extract_v2`` runs as v2 batches
    (sharded past 1,000 files), with the same result type.

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
    options = RunOptions(
        settings=block.wait,
        max_failed_fraction=block.max_failed_fraction,
        export_path=export_path,
        organization_id=block.organization_id,
        project_id=block.project_id,
    )
    target = block.v2_target()
    if target is not None:
        # The block's validator requires a directory for v2.
        return run_either(
            block.credentials,
            options,
            v2=target,
            directory_id=block.directory_id,
            item_ids=block.item_ids,
        )
    return run_either(block.credentials, options, v1=block.job_request())
