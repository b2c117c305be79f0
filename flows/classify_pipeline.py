"""Deployment entrypoint: classify a directory's documents by rules.

Composes :func:`~prefect_llamabatch.classify_directory`; the labels are each item's processing
results (the ``index-batch-outputs`` deployment collects them when the job completes).

Example:
    ```python
    from flows.classify_pipeline import classify_pipeline

    classify_pipeline("llamacloud", "dir-123", {"invoice": "bills with a total due"})
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
    classify_directory,
)
from prefect_llamabatch.models import ClassifyMode


# The runner of a deployment runs only this flow's hooks: they cancel its subflows' jobs too.
@flow(
    name="classify-pipeline",
    flow_run_name="classify-pipeline/{directory_id}",
    on_cancellation=[cancel_remote_jobs],
    on_crashed=[cancel_remote_jobs],
    on_failure=[cancel_remote_jobs],
)
def classify_pipeline(
    credentials_block: str,
    directory_id: str,
    rules: dict[str, str],
    mode: ClassifyMode | None = None,
    max_failed_fraction: float | None = 0.0,
    wait: WaitSettings | None = None,
) -> BatchRunResult:
    """Classify every document of a directory into one of the rules' types.

    Args:
        credentials_block: Name of a saved LlamaCloudCredentials block.
        directory_id: The LlamaCloud directory (``dir-…``).
        rules: Document type → description of what such documents look like.
        mode: ``FAST`` or ``MULTIMODAL``.
        max_failed_fraction: Failed fraction accepted.
        wait: Polling, deadline and outage settings.

    Returns:
        The classify job's result.
    """
    # `_sync=True`: a plain block, never a coroutine, whatever the caller's context.
    credentials = cast(
        LlamaCloudCredentials,
        LlamaCloudCredentials.load(credentials_block, _sync=True),  # type: ignore[call-arg]
    )
    return classify_directory(
        credentials,
        directory_id,
        rules,
        mode=mode,
        max_failed_fraction=max_failed_fraction,
        wait=wait,
    )
