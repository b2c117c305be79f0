"""Deployment entrypoint: resubmit the failed items of a finished batch job.

Composes :func:`~prefect_llamabatch.retry_failed_items`. Run it ad hoc with the job id::

    prefect deployment run 'retry-failed/retry-failed-items' -p job_id=bjb-123

Example:
    ```python
    from flows.retry_failed import retry_failed

    result = retry_failed("llamacloud", "bjb-123", max_rounds=2)
    print(result.counts.failed, "still failing")
    ```
"""

# No `from __future__ import annotations`: a served run gets the flow function pickled by
# value, and string annotations of names used nowhere else (WaitSettings) would not resolve.

from typing import cast

from prefect import flow

from prefect_llamabatch import (
    BatchRunResult,
    LlamaCloudCredentials,
    WaitSettings,
    cancel_remote_jobs,
    retry_failed_items,
)


# The runner of a deployment runs only this flow's hooks: they cancel its subflows' jobs too.
@flow(
    name="retry-failed",
    flow_run_name="retry-failed/{job_id}",
    on_cancellation=[cancel_remote_jobs],
    on_crashed=[cancel_remote_jobs],
    on_failure=[cancel_remote_jobs],
)
def retry_failed(
    credentials_block: str,
    job_id: str,
    max_rounds: int = 2,
    max_failed_fraction: float | None = 0.0,
    wait: WaitSettings | None = None,
    export_path: str | None = None,
) -> BatchRunResult:
    """Resubmit a job's failed items, round after round, with the job's own config.

    Args:
        credentials_block: Name of a saved LlamaCloudCredentials block.
        job_id: The batch job whose failed items to retry (``bjb-…``).
        max_rounds: Most retry rounds.
        max_failed_fraction: Fraction of the job's items that may still fail at the end.
        wait: Polling, deadline and outage settings.
        export_path: Where to write the still-failing items. A folder (ending in ``/``, or one
            that exists) gets one file per run, ``failed-items-<job id>.csv``; a file path keeps
            its extension, which picks the format (``.csv`` or ``.jsonl``), and is overwritten
            by each run. ``~`` is expanded.

    Returns:
        The merged result of every round.
    """
    # `_sync=True`: a plain block, never a coroutine, whatever the caller's context.
    credentials = cast(
        LlamaCloudCredentials,
        LlamaCloudCredentials.load(credentials_block, _sync=True),  # type: ignore[call-arg]
    )
    return retry_failed_items(
        credentials,
        job_id,
        max_rounds=max_rounds,
        max_failed_fraction=max_failed_fraction,
        wait=wait,
        export_path=export_path,
    )
