"""Deployment entrypoint run by an automation when a batch job completes: index its outputs.

The ``index-batch-outputs`` deployment in ``deployments/prefect.yaml`` has a trigger on
``llamacloud.batch.completed`` (emitted by the package's wait task); the event's payload carries
the job id. The flow lists the job's completed items, fetches their processing results in chunks
(one task per chunk, never one per item), and publishes a table artifact: document, output
location and, for classify jobs, the label. That is the hand-off point to whatever comes next
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

from prefect import flow, task, unmapped
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from prefect_llamabatch import LlamaCloudCredentials, list_job_items
from prefect_llamabatch.models import ItemStatus

CHUNK = 100
MAX_ARTIFACT_ROWS = 500


@task(name="fetch-outputs", cache_policy=NO_CACHE)
def fetch_outputs(credentials: LlamaCloudCredentials, item_ids: list[str]) -> list[dict[str, Any]]:
    """The latest processing result of each item: name, output location, label if classified."""
    rows = []
    with credentials.get_client() as client:
        for item_id in item_ids:
            found = client.get_item_results(item_id)
            results = found.processing_results or []
            if not results:
                continue
            latest = max(results, key=lambda r: r.processed_at)
            metadata = latest.output_metadata or {}
            rows.append(
                {
                    "item_id": item_id,
                    "document": found.item_name,
                    "job_type": str(getattr(latest.job_type, "value", latest.job_type)),
                    "output": latest.output_s3_path,
                    "label": metadata.get("type"),
                    "confidence": metadata.get("confidence"),
                }
            )
    return rows


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
    ids = [item.item_id for item in items]
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    futures = fetch_outputs.map(unmapped(credentials), chunks) if chunks else []
    rows = [row for future in futures for row in future.result()]
    slug = "".join(c if c.isalnum() else "-" for c in job_id.lower()).strip("-")
    create_table_artifact(
        rows[:MAX_ARTIFACT_ROWS],
        key=f"llamabatch-outputs-{slug}",
        description=(
            f"Outputs of the {len(rows)} completed documents of batch job {job_id}"
            + (f" (first {MAX_ARTIFACT_ROWS} shown)" if len(rows) > MAX_ARTIFACT_ROWS else "")
        ),
    )
    return rows
