"""Serve every deployment of ``deployments/prefect.yaml`` from this process (``prefect.serve``).

``prefect.yaml`` is the one definition: this script reads it, loads each entrypoint, and turns
each entry into a served deployment with the same name, parameters, schedules and triggers. No
work pool or worker is needed; stop it with Ctrl-C.

Run it from anywhere (entrypoints resolve against the repository root)::

    python deployments/serve.py

Example:
    ```python
    from deployments.serve import build_deployments

    for deployment in build_deployments():
        print(deployment.name, deployment.entrypoint)
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml  # type: ignore[import-untyped]  # PyYAML comes with Prefect, its stubs do not
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.automations import TriggerTypes
from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.schedules import Cron
from pydantic import TypeAdapter

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = Path(__file__).resolve().with_name("prefect.yaml")

_TRIGGER = TypeAdapter(DeploymentTriggerTypes)


def load_definitions(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments:`` entries of a prefect.yaml."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    definitions: list[dict[str, Any]] = document["deployments"]
    return definitions


def load_flow(definition: dict[str, Any]) -> Flow[..., Any]:
    """The flow an entry's ``entrypoint`` (``path/to/file.py:function``) names."""
    return load_flow_from_entrypoint(str(ROOT / definition["entrypoint"]))


def build_deployment(definition: dict[str, Any]) -> RunnerDeployment:
    """One prefect.yaml entry as a deployment ``prefect.serve`` can run."""
    schedules = [
        Cron(s["cron"], timezone=s.get("timezone") or "UTC")
        for s in definition.get("schedules") or []
    ]
    triggers: list[DeploymentTriggerTypes | TriggerTypes] = [
        _TRIGGER.validate_python(t) for t in definition.get("triggers") or []
    ]
    # A sync call from sync code: to_deployment returns the deployment itself, not a coroutine.
    deployment = load_flow(definition).to_deployment(
        name=definition["name"],
        description=definition.get("description"),
        tags=definition.get("tags"),
        parameters=definition.get("parameters") or {},
        schedules=schedules or None,
        triggers=triggers or None,
    )
    return cast(RunnerDeployment, deployment)


def build_deployments(path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """Every deployment of a prefect.yaml, ready to serve."""
    return [build_deployment(d) for d in load_definitions(path)]


if __name__ == "__main__":
    serve(*build_deployments())
