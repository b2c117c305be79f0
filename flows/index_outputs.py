"""Deployment entrypoint run by an automation when a batch job completes: index its outputs.

The ``index-batch-outputs`` deployment in ``deployments/prefect.yaml`` has a trigger on
``llamacloud.batch.completed`` (emitted by the package's wait task); the event's payload carries
the job id. The flow lists the job's completed items, fetches their processing results in one
task run (``fetch_item_results``: bounded concurrency, one log line, per-item errors collected),
and publishes a table artifact: document, output location and, for classify jobs, the label.
That is the hand-off point to whatever comes next
(loading outputs into a search index, a warehouse …).

Example:
    ```python
    from flows.index_outputs import index_batch_outputs

    rows = index_batch_outputs("llamacloud", "bjb-123")
    print(rows[0]["output"])
    ```
"""

# No `from __future__ import annotations`: a served run gets the flow function pickled by
# value, and string annotations of names used nowhere else (WaitSettings) would not resolve.

from typing import Any, cast

from prefect import flow
from prefect.artifacts import create_table_artifact

from prefect_llamabatch import LlamaCloudCredentials, fetch_item_results, list_job_items
from prefect_llamabatch.models import ItemStatus

MAX_ARTIFACT_ROWS = 500


@flow(name="index-batch-outputs", flow_run_name="index-batch-outputs/{job_id}")
def index_batch_outputs(credentials_block: str, job_id: str) -> list[dict[str, Any]]:
    """Collect where every completed document's output is, as a table artifact.

    Args:
        credentials_block: Name of a saved LlamaCloudCredentials block.
        job_id: The completed batch job (the trigger passes ``event.payload.job_id``).

    Returns:
        One row per completed document: item id, name, job type, output, label, confidence.
    """
    if not job_id.strip():
        raise ValueError("job_id must not be empty")
    # `_sync=True`: a plain block, never a coroutine, whatever the caller's context.
    credentials = cast(
        LlamaCloudCredentials,
        LlamaCloudCredentials.load(credentials_block, _sync=True),  # type: ignore[call-arg]
    )
    items = list_job_items(credentials, job_id, status=ItemStatus.COMPLETED.value)
    found = fetch_item_results(credentials, [item.item_id for item in items])
    rows = [
        {
            "item_id": item_id,
            "document": found[item_id].item_name,
            "job_type": str(latest.job_type),  # the API's string: `parse`, not JobType.PARSE
            "output": latest.output_s3_path,
            "label": (latest.output_metadata or {}).get("type"),
            "confidence": (latest.output_metadata or {}).get("confidence"),
        }
        for item_id, latest in found.latest().items()
    ]
    slug = "".join(c if c.isalnum() else "-" for c in job_id.lower()).strip("-")
    create_table_artifact(
        rows[:MAX_ARTIFACT_ROWS],
        key=f"llamabatch-outputs-{slug}",
        description=(
            f"Outputs of the {len(rows)} completed documents of batch job {job_id}"
            + (f" (first {MAX_ARTIFACT_ROWS} shown)" if len(rows) > MAX_ARTIFACT_ROWS else "")
            # The task logged why; the table says how many are missing.
            + (f"; {len(found.errors)} could not be fetched" if found.errors else "")
        ),
    )
    return rows
