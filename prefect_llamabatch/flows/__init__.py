"""Ready-made flows: process a directory (or a local folder), items, retries, classification.

Each flow validates every input before any HTTP call, submits one batch job (idempotently: a retried
or resumed flow run reattaches to it), waits in one task run, reports on failed items, and ends:

* **Completed** with a :class:`~prefect_llamabatch.orchestration.results.BatchRunResult` when no item failed,
  or when the failed fraction is within ``max_failed_fraction`` (logged as a warning, and the
  summary artifact says so);
* **Failed** because of the job: ``BatchItemsFailed`` (too many failed items) or ``BatchJobFailed``,
  returned as a Failed state (a one-line reason in the log, no traceback; calling the flow
  raises the error, which carries the result; ``return_state=True`` gives the state);
* **Failed** with ``BatchJobTimeout``, ``BatchApiUnavailable`` or any unexpected error, raised
  (with its traceback);
* **Cancelled** when the job was cancelled remotely.

When the flow run itself stops (cancelled from the UI/API, its own ``timeout_seconds``, a crash or
SIGTERM), its hooks cancel the remote job, unless ``cancel_on_stop=False`` (``docs/cancellation.md``).

The flows are synchronous; call them from sync code, from a sync flow, or as a subflow of an async
flow. Their signatures are stable: deployments pass these parameters by name.

Secrets never travel as flow parameters: Prefect stores parameters in its database. A ``job_config``
carrying a secret (``azure_openai_key``, webhook headers …), or ``parse_v2``/``extract_v2``
parameters carrying a webhook's signing secret or headers, is refused (and masked in what Prefect
stores); save the job definition in a :class:`~prefect_llamabatch.orchestration.jobs.LlamaBatchJob`
block and run ``run_llama_batch_job``.
"""

import warnings
from importlib import import_module
from typing import Any

from prefect_llamabatch.flows.base import LlamaBatchFlow
from prefect_llamabatch.flows.classify import classify_directory
from prefect_llamabatch.flows.directory import process_directory
from prefect_llamabatch.flows.items import process_items
from prefect_llamabatch.flows.job import run_llama_batch_job
from prefect_llamabatch.flows.retry import retry_failed_items

__all__ = [
    "LlamaBatchFlow",
    "classify_directory",
    "process_directory",
    "process_items",
    "retry_failed_items",
    "run_llama_batch_job",
]

_MOVED = {
    "JobConfigParam": "prefect_llamabatch.flows.base",
    "batch_flow": "prefect_llamabatch.flows.base",
    "validated_config": "prefect_llamabatch.flows.base",
    "cancel_remote_jobs": "prefect_llamabatch.orchestration.tracking",
    "find_secrets": "prefect_llamabatch.orchestration.secrets",
    "masked": "prefect_llamabatch.orchestration.secrets",
    "read_job_config": "prefect_llamabatch.orchestration.rounds",
    "retry_rounds": "prefect_llamabatch.orchestration.rounds",
    "run_batch": "prefect_llamabatch.orchestration.pipeline",
}
"""Names this module exported before the split: still importable, with a DeprecationWarning."""


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"prefect_llamabatch.flows.{name} moved to {home}.{name}", DeprecationWarning, stacklevel=2
    )
    return getattr(import_module(home), name)
