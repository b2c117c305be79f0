"""Serve every deployment of ``deployments/prefect.yaml`` from this process (``prefect.serve``).

``prefect.yaml`` is the one definition: this script reads it, loads each entrypoint, and turns
each entry into a served deployment with the same parameters, schedules and triggers. No work pool
or worker is needed; stop it with Ctrl-C.

Served deployments are named ``<name>-served`` (``nightly-directory-parse/nightly-served``): a
deployment made by ``prefect deploy`` under the plain name belongs to the work pool, and serving
under the same name would overwrite it with one whose runs a worker cannot load (the worker then
fails with ``Downloading flow code from storage at None``). When the ``prefect deploy`` ones exist
on the same server, this script says so before serving: their schedules and triggers fire too.

Run it from anywhere (entrypoints resolve against the repository root)::

    python deployments/serve.py

Example:
    ```python
    from deployments.serve import build_deployments

    for deployment in build_deployments():
        print(deployment.name, deployment.entrypoint)   # nightly-served flows/nightly_parse.py:…
    ```
"""

from __future__ import annotations

import sys
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
SERVED_SUFFIX = "-served"

_TRIGGER = TypeAdapter(DeploymentTriggerTypes)


def load_definitions(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments:`` entries of a prefect.yaml."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    definitions: list[dict[str, Any]] = document["deployments"]
    return definitions


def load_flow(definition: dict[str, Any]) -> Flow[..., Any]:
    """The flow an entry's ``entrypoint`` (``path/to/file.py:function``) names."""
    return load_flow_from_entrypoint(str(ROOT / definition["entrypoint"]))


def served_name(definition: dict[str, Any]) -> str:
    """The name an entry is served under: never the one ``prefect deploy`` gives it."""
    return f"{definition['name']}{SERVED_SUFFIX}"


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
        name=served_name(definition),
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


def deployed_elsewhere(path: Path = PREFECT_YAML) -> list[str]:
    """``flow/deployment`` names of this file's entries that ``prefect deploy`` made on the server.

    Their schedules and triggers run on their work pool whether or not this script serves too.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    found = []
    with get_client(sync_client=True) as client:
        for definition in load_definitions(path):
            name = f"{load_flow(definition).name}/{definition['name']}"
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if deployment.work_pool_name:
                found.append(name)
    return found


def main() -> None:
    """Warn about ``prefect deploy`` twins, then serve until Ctrl-C."""
    deployments = build_deployments()
    twins = deployed_elsewhere()
    if twins:
        print(
            "note: `prefect deploy` deployments of the same flows exist on this server: "
            + ", ".join(twins)
            + ". Their schedules and triggers fire too (on their work pool), so scheduled "
            "runs would happen twice. Serve or deploy, not both: remove them with "
            "`prefect deployment delete NAME`, or stop this script and start a worker.",
            file=sys.stderr,
        )
    serve(*deployments)


if __name__ == "__main__":
    main()
