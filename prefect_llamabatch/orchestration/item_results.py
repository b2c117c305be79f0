"""``fetch_item_results``: the processing results of many items, in one task run.

Calling :func:`~prefect_llamabatch.orchestration.tasks.get_item_processing_results` once per
item from a flow makes one task run (and a few log lines) per item: thousands for a big job.
This task fetches them all inside one task run, at most ``max_concurrency`` requests at once,
logs one line, and returns a mapping item id → results. A per-item API error (an item deleted
since, a 5xx that outlived the client's retries …) is collected next to the results, not raised
one by one; a wrong API key (401) stops the task at once, since every other item would fail the
same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run as runtime_task_run
from pydantic import BaseModel, ConfigDict, Field

from prefect_llamabatch.client.errors import APIStatusError, AuthenticationError, LlamaCloudError
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.models import ItemProcessingResults, JobType, ProcessingResult
from prefect_llamabatch.orchestration.dispatch import dual_task
from prefect_llamabatch.orchestration.effects import (
    Gather,
    GetItemResults,
    Monotonic,
    RequestsMade,
    Steps,
    Tenant,
    tenant,
)
from prefect_llamabatch.orchestration.runtime import run_logger

__all__ = ["FetchedItemResults", "ItemResultError", "fetch_item_results", "fetch_steps"]

DEFAULT_CONCURRENCY = 8


class ItemResultError(BaseModel):
    """Why one item's processing results could not be fetched.

    Example:
        ```python
        from prefect_llamabatch.client.errors import NotFoundError
        from prefect_llamabatch.orchestration.item_results import ItemResultError

        exc = NotFoundError(404, method="GET", path="/items/dfl-9/processing-results")
        error = ItemResultError.from_exception("dfl-9", exc)
        assert (error.error, error.status_code) == ("NotFoundError", 404)
        ```
    """

    model_config = ConfigDict(frozen=True)

    item_id: str
    error: str = Field(description="The client error's class name, e.g. NotFoundError.")
    message: str = Field(description="The client error's message (no secrets: it is redacted).")
    status_code: int | None = Field(default=None, description="The HTTP status, if one came.")

    @classmethod
    def from_exception(cls, item_id: str, exc: LlamaCloudError) -> ItemResultError:
        """The error of one item, from the client error its request ended with."""
        return cls(
            item_id=item_id,
            error=type(exc).__name__,
            message=str(exc),
            status_code=exc.status_code if isinstance(exc, APIStatusError) else None,
        )


class FetchedItemResults(BaseModel):
    """What :func:`fetch_item_results` found: results by item id, and errors by item id.

    Every item asked for is in exactly one of ``results`` and ``errors``.

    Example:
        ```python
        from datetime import datetime, timezone
        from prefect_llamabatch.models import ItemProcessingResults
        from prefect_llamabatch.orchestration.item_results import FetchedItemResults

        def result(at: int) -> dict:
            return {"item_id": "dfl-1", "job_config": {}, "job_type": "parse",
                    "output_s3_path": f"s3://out/{at}.json", "parameters_hash": "h",
                    "processed_at": datetime(2026, 1, at, tzinfo=timezone.utc),
                    "result_id": f"r-{at}"}

        found = FetchedItemResults(results={"dfl-1": ItemProcessingResults(
            item_id="dfl-1", item_name="a.pdf", processing_results=[result(2), result(1)])})
        assert found["dfl-1"].item_name == "a.pdf" and "dfl-1" in found
        assert found.latest()["dfl-1"].output_s3_path == "s3://out/2.json"
        ```
    """

    results: dict[str, ItemProcessingResults] = Field(default_factory=dict)
    errors: dict[str, ItemResultError] = Field(default_factory=dict)
    api_calls: int = 0
    duration_seconds: float = 0.0

    def __getitem__(self, item_id: str) -> ItemProcessingResults:
        return self.results[item_id]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.results

    def latest(self, job_type: JobType | str | None = None) -> dict[str, ProcessingResult]:
        """Each item's most recent processing result (of ``job_type``, if given).

        Items without one (never processed, or not by that job type) are left out.
        """
        wanted = None if job_type is None else str(job_type)
        latest: dict[str, ProcessingResult] = {}
        for item_id, found in self.results.items():
            candidates = [
                r
                for r in found.processing_results or []
                if wanted is None or str(r.job_type) == wanted
            ]
            if candidates:
                latest[item_id] = max(candidates, key=lambda r: r.processed_at)
        return latest

    def summary(self) -> str:
        """One line for logs: how many were fetched, how many failed and why, how long it took."""
        line = (
            f"Fetched the processing results of {len(self.results)} of "
            f"{len(self.results) + len(self.errors)} item(s) in {self.duration_seconds:.1f}s "
            f"({self.api_calls} API calls)"
        )
        if self.errors:
            kinds = Counter(e.error for e in self.errors.values())
            line += "; failed: " + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        return line


def _one(item_id: str, job_type: JobType | str | None, overrides: Tenant) -> Steps[Any]:
    try:
        return (yield from GetItemResults(item_id, job_type, overrides))
    except AuthenticationError:
        raise  # the key is wrong: every other item would fail the same way
    except LlamaCloudError as exc:
        return ItemResultError.from_exception(item_id, exc)


def fetch_steps(
    item_ids: list[str],
    *,
    job_type: JobType | str | None = None,
    max_concurrency: int = DEFAULT_CONCURRENCY,
    overrides: Tenant | None = None,
) -> Steps[FetchedItemResults]:
    """The steps of :func:`fetch_item_results` (no Prefect, no I/O: a driver performs them).

    Example:
        ```python
        from prefect_llamabatch.orchestration.effects import Gather, Monotonic, RequestsMade
        from prefect_llamabatch.orchestration.item_results import fetch_steps

        steps = fetch_steps(["dfl-1", "dfl-2", "dfl-1"], max_concurrency=4)
        assert next(steps) == Monotonic()  # the driver's clock, answered with 0.0 below
        assert steps.send(0.0) == RequestsMade()  # requests so far, answered with 0
        gather = steps.send(0)
        assert isinstance(gather, Gather) and gather.limit == 4 and len(gather.ops) == 2
        ```
    """
    if isinstance(item_ids, str) or not all(isinstance(i, str) and i.strip() for i in item_ids):
        raise ValueError("item_ids must be a list of non-empty item ids (dfl-…)")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1 (got {max_concurrency})")
    unique = list(dict.fromkeys(item_ids))  # each item once, in the order given
    scope = overrides or tenant()
    started = yield from Monotonic()
    before = yield from RequestsMade()
    found = yield from Gather([_one(i, job_type, scope) for i in unique], max_concurrency)
    results: dict[str, ItemProcessingResults] = {}
    errors: dict[str, ItemResultError] = {}
    for item_id, outcome in zip(unique, found, strict=True):
        if isinstance(outcome, ItemResultError):
            errors[item_id] = outcome
        else:
            results[item_id] = outcome
    return FetchedItemResults(
        results=results,
        errors=errors,
        api_calls=(yield from RequestsMade()) - before,
        duration_seconds=(yield from Monotonic()) - started,
    )


def _run_name() -> str:
    items = runtime_task_run.parameters.get("item_ids")
    return f"fetch-item-results/{len(items) if isinstance(items, list) else '?'}-items"


@dual_task(name="fetch-item-results", cache_policy=NO_CACHE, task_run_name=_run_name)
def fetch_item_results(
    credentials: LlamaCloudCredentials,
    item_ids: list[str],
    *,
    job_type: JobType | str | None = None,
    max_concurrency: int = DEFAULT_CONCURRENCY,
    organization_id: str | None = None,
    project_id: str | None = None,
) -> Steps[FetchedItemResults]:
    """The processing results of many items (directory files), in one task run.

    At most ``max_concurrency`` requests are in flight at once; one log line sums up the run
    (a warning when some items failed). Errors are per item: an item whose request failed
    (404, a 5xx after the client's retries …) is in ``errors``, the others in ``results``. Only
    a 401 (wrong key) raises, at once. Works in sync and async flows (await it there).

    Args:
        credentials: LlamaCloud credentials block.
        item_ids: The items (``dfl-…``, e.g. from ``list_job_items``); duplicates are fetched once.
        job_type: Only results of this job type (``parse``, ``classify`` …).
        max_concurrency: Requests in flight at once.
        organization_id: Overrides the credentials' organization.
        project_id: Overrides the credentials' project.

    Returns:
        Results by item id (``found[item_id]``, ``found.results``, ``found.latest()`` for each
        item's most recent result) and errors by item id (``found.errors``).

    Example:
        ```python
        from prefect import flow
        from prefect_llamabatch import LlamaCloudCredentials, fetch_item_results, list_job_items

        @flow
        def outputs(job_id: str) -> dict[str, str]:
            credentials = LlamaCloudCredentials.load("llamacloud")
            items = list_job_items(credentials, job_id, status="completed")
            found = fetch_item_results(credentials, [item.item_id for item in items])
            for item_id, error in found.errors.items():
                print(item_id, "has no results:", error.message)
            return {item_id: r.output_s3_path for item_id, r in found.latest().items()}

        print(outputs("bjb-123"))
        ```
    """
    found = yield from fetch_steps(
        item_ids,
        job_type=job_type,
        max_concurrency=max_concurrency,
        overrides=tenant(organization_id, project_id),
    )
    logger = run_logger()
    if found.errors:
        logger.warning("%s", found.summary())
    else:
        logger.info("%s", found.summary())
    return found
