"""Deployment entrypoint: parse a LlamaCloud directory every night, then retry what failed.

Composes :func:`~prefect_llamabatch.process_directory` and, when items failed,
:func:`~prefect_llamabatch.retry_failed_items`. Credentials come from a saved
``LlamaCloudCredentials`` block, named by a parameter: no key is ever a flow parameter.

Example:
    ```python
    from flows.nightly_parse import nightly_directory_parse

    result = nightly_directory_parse("llamacloud", "dir-123", retry_rounds=1)
    print(result.summary())
    ```
"""

# No `from __future__ import annotations`: a served run gets the flow function pickled by
# value, and string annotations of names used nowhere else (WaitSettings) would not resolve.

from typing import cast

from prefect import flow
from prefect.logging import get_run_logger

from prefect_llamabatch import (
    BatchItemsFailed,
    BatchJobFailed,
    BatchRunResult,
    LlamaCloudCredentials,
    WaitSettings,
    cancel_remote_jobs,
    process_directory,
    retry_failed_items,
)
from prefect_llamabatch.models import BatchParseJobRecordCreate


# The runner of a deployment runs only this flow's hooks: they cancel its subflows' jobs too.
@flow(
    name="nightly-directory-parse",
    flow_run_name="nightly-parse/{directory_id}",
    on_cancellation=[cancel_remote_jobs],
    on_crashed=[cancel_remote_jobs],
    on_failure=[cancel_remote_jobs],
)
def nightly_directory_parse(
    credentials_block: str,
    directory_id: str,
    job_config: BatchParseJobRecordCreate | None = None,
    max_failed_fraction: float | None = 0.0,
    retry_rounds: int = 1,
    wait: WaitSettings | None = None,
    export_path: str | None = None,
) -> BatchRunResult:
    """Parse every file of a directory; resubmit the failed ones up to ``retry_rounds`` times.

    Args:
        credentials_block: Name of a saved LlamaCloudCredentials block.
        directory_id: The LlamaCloud directory to parse (``dir-…``).
        job_config: Parse config (default: LlamaParse's defaults); typed, so a misspelt option
            is refused when the run starts. No secrets: put those in a LlamaBatchJob block.
        max_failed_fraction: Failed fraction accepted at the end (after the retries).
        retry_rounds: Retry rounds over the failed items (0: no retry).
        wait: Polling, deadline and outage settings.
        export_path: Where to write the still-failing items. A folder (ending in ``/``, or one
            that exists) gets one file per run, ``failed-items-<job id>.csv``; a file path keeps
            its extension, which picks the format (``.csv`` or ``.jsonl``), and is overwritten
            by each run. ``~`` is expanded.

    Returns:
        The parse's result, or the merged result of the retries when there were any. Too many
        items still failing ends the run Failed (calling the flow raises ``BatchItemsFailed``).
    """
    if retry_rounds < 0:
        raise ValueError(f"retry_rounds must be >= 0 (got {retry_rounds})")
    # `_sync=True`: a plain block, never a coroutine, whatever the caller's context.
    credentials = cast(
        LlamaCloudCredentials,
        LlamaCloudCredentials.load(credentials_block, _sync=True),  # type: ignore[call-arg]
    )
    # Any failed item is retried first; the threshold judges what is left afterwards.
    threshold = max_failed_fraction if retry_rounds == 0 else 0.0
    config = job_config or BatchParseJobRecordCreate()
    try:
        return process_directory(
            credentials,
            directory_id=directory_id,
            job_config=config,
            wait=wait,
            max_failed_fraction=threshold,
            export_path=export_path if retry_rounds == 0 else None,
        )
    except BatchItemsFailed as exc:
        if retry_rounds == 0:
            return exc.as_state()  # an outcome, not a crash: no traceback in this run's log
        get_run_logger().info("%s; retrying the failed items", exc)
        failed_id = exc.result.job_id
    except BatchJobFailed as exc:
        return exc.as_state()
    try:
        return retry_failed_items(
            credentials,
            failed_id,
            # The config this run submitted: read back from the job, it is not always there (a
            # second night over the same files skips the unchanged ones, leaving no completed
            # item to read it from).
            job_config=config,
            max_rounds=retry_rounds,
            wait=wait,
            max_failed_fraction=max_failed_fraction,
            export_path=export_path,
        )
    except (BatchItemsFailed, BatchJobFailed) as exc:
        return exc.as_state()
