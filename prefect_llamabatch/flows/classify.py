"""The ``classify_directory`` flow: classify every file of a directory by rules."""

import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

from prefect_llamabatch.flows.base import (
    CredentialsParam,
    batch_flow,
    check_credentials,
    run_parameter,
    wait_settings,
)
from prefect_llamabatch.models import (
    BatchJobCreate,
    ClassifierRule,
    ClassifyJobConfig,
    ClassifyMode,
    ClassifyParsingConfiguration,
)
from prefect_llamabatch.orchestration.pipeline import run_batch
from prefect_llamabatch.orchestration.results import BatchRunResult, check_max_failed_fraction
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["classify_directory"]


def _classify_name() -> str:
    return f"classify-directory/{run_parameter('directory_id') or 'directory'}"


@batch_flow(name="classify-directory", flow_run_name=_classify_name)
def classify_directory(
    credentials: CredentialsParam,
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
    user_id: str | None = None,
) -> BatchRunResult:
    """Classify every file of a directory by rules (document type → description).

    Args:
        credentials: LlamaCloud credentials block, or the name of a saved one (never a key
            or a dict: refused before the run is created).
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
        user_id: The LlamaCloud user the classify job record names. The API's schema marks it
            required; give it where your server refuses a record without it (the client fills
            the record's other fields: id, status and the project).

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
    credentials = check_credentials(credentials)
    rule_list: Iterable[Any] = (
        [{"type": k, "description": v} for k, v in rules.items()]
        if isinstance(rules, Mapping)
        else rules
    )
    config = ClassifyJobConfig.model_validate(
        {
            "rules": list(rule_list),
            **({"mode": mode} if mode is not None else {}),
            **({"user_id": user_id} if user_id is not None else {}),
            **(
                {"parsing_configuration": parsing_configuration}
                if parsing_configuration is not None
                else {}
            ),
        }
    )
    settings = wait_settings(wait)
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
