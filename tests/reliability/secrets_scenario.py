"""The workload of the secrets test, run as a separate process with every logger at DEBUG.

Usage: ``python secrets_scenario.py BASE_URL FOLDER``. The emulator at ``BASE_URL`` accepts only
the canary key. Everything the package can do with a secret is done here, with canary values
everywhere: saved blocks, a block-defined job with a secret in every secret parse option and
webhook header, a folder processed under faults, a secret refused as a flow parameter, errors
raised on purpose. Reprs and error texts are printed, so they land in the captured output the
test scans (with the Prefect home, its database and result storage).
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow

from prefect_llamabatch import (
    BatchClient,
    LlamaBatchJob,
    LlamaCloudCredentials,
    process_directory,
    run_llama_batch_job,
)
from prefect_llamabatch.emulator import EmulatorAdmin, FaultConfig, FaultRule
from prefect_llamabatch.models import BatchJobCreate, BatchParseJobConfig
from prefect_llamabatch.orchestration.secrets import SECRET_KEYS
from prefect_llamabatch.orchestration.tasks import create_batch_job, wait_for_batch_job
from prefect_llamabatch.orchestration.waiting import WaitSettings
from tests.reliability.helpers import CANARY, CANARY_KEY

WAIT = WaitSettings(poll_interval=0.05, max_poll_interval=0.2)


def secret_parameters() -> dict[str, Any]:
    """A canary in every secret-bearing parse option, webhook header and signing secret."""
    parameters: dict[str, Any] = {}
    for name in sorted(SECRET_KEYS & set(BatchParseJobConfig.model_fields)):
        parameters[name] = f"{CANARY}-{name}"
    parameters["http_proxy"] = f"http://proxyuser:{CANARY}-proxy@proxy.invalid:3128"
    parameters["webhook_configurations"] = [
        {
            "webhook_url": "https://hooks.invalid/batch",
            "webhook_headers": {"Authorization": f"Bearer {CANARY}-hook", "X-Api": f"{CANARY}-x"},
            "webhook_signing_secret": f"{CANARY}-signing",
        }
    ]
    return parameters


def show(label: str, value: object) -> None:
    print(f"{label}: str={value!s} repr={value!r}", flush=True)


def main(base_url: str, folder: str, admin_token: str) -> None:
    admin = EmulatorAdmin(base_url, admin_token)
    docs = admin.seed_directory(
        {"a.txt": b"alpha", "b.md": b"# beta", "bad-c.txt": b"fails", "empty.txt": b""},
        name="secrets",
    )
    fast = {"retry_initial_delay": 0.01, "retry_max_delay": 0.05, "max_retries": 8}
    credentials = LlamaCloudCredentials(api_key=CANARY_KEY, base_url=base_url, **fast)
    credentials.save("canary-credentials", overwrite=True)
    show("credentials", credentials)
    parameters = secret_parameters()
    job_config = {"parameters": parameters}
    show("body", BatchJobCreate(directory_id=docs.id, job_config=job_config))

    # 1. The supported way to run a job with secrets: a block, passed by name; for v1 and for a
    #    v2 definition (parse_v2 parameters with a webhook's secrets).
    hooks = secret_parameters()["webhook_configurations"]
    parse_v2 = {"tier": "fast", "version": "latest", "webhook_configurations": hooks}
    for name, definition in (
        ("canary-job", {"job_config": job_config}),
        ("canary-v2-job", {"parse_v2": parse_v2}),
    ):
        LlamaBatchJob(
            credentials=LlamaCloudCredentials.load("canary-credentials"),
            directory_id=docs.id,
            wait=WAIT,
            max_failed_fraction=1.0,
            **definition,
        ).save(name, overwrite=True)
        show(f"block run {name}", run_llama_batch_job(name))

    # 2. A local folder under faults on every route (a subset of the chaos suite).
    admin.set_faults(
        FaultConfig(
            seed=5,
            rules=[
                FaultRule(route="create_job", kind="commit_then_fail", rate=0.5),
                *[
                    FaultRule(route="*", kind=kind, rate=0.08, retry_after=0.02)
                    for kind in ("http_429", "http_500", "http_502", "http_503", "drop")
                ],
            ],
        )
    )
    state = process_directory(
        LlamaCloudCredentials.load("canary-credentials"),
        local_path=folder,
        wait=WAIT,
        max_failed_fraction=1.0,
        return_state=True,
    )
    show("folder run", state.result(raise_on_failure=False))
    admin.clear_faults()

    # 3. A secret as a plain flow parameter is refused (and stored masked).
    refused = process_directory(
        credentials, directory_id=docs.id, job_config=job_config, wait=WAIT, return_state=True
    )
    show("refused", refused.result(raise_on_failure=False))
    refused_v2 = process_directory(
        credentials, directory_id=docs.id, parse_v2=parse_v2, wait=WAIT, return_state=True
    )
    show("refused v2", refused_v2.result(raise_on_failure=False))

    # 4. The tasks in a user's own flow, failing on purpose (items fail, threshold 0).
    @flow
    def own_flow() -> None:
        job = create_batch_job(credentials, job_config, directory_id=docs.id)
        wait_for_batch_job(credentials, job.id, WAIT)

    show("own flow", own_flow(return_state=True).result(raise_on_failure=False))

    # 5. Errors and reprs around the secrets.
    with BatchClient(
        CANARY_KEY, base_url=base_url, retry=credentials.get_client().retry_policy
    ) as c:
        show("client", c)
        for call in (
            lambda: c.get_job("bjb-does-not-exist"),
            lambda: c.create_job(
                {
                    "directory_id": docs.id,
                    "job_config": {"parameters": {**parameters, "parse_mode": "x"}},
                }
            ),
            lambda: c.create_job(
                {"directory_id": docs.id, "job_config": {"parameters": parameters}, "nope": 1}
            ),
        ):
            try:
                call()
            except Exception as exc:
                show("error", exc)
    with BatchClient(f"{CANARY_KEY}-wrong", base_url=base_url) as wrong:
        try:
            wrong.list_jobs()
        except Exception as exc:
            show("wrong key", exc)
    try:
        BatchClient(CANARY_KEY, base_url="http://api.example.com")
    except Exception as exc:
        show("plain http", exc)
    show("job block", LlamaBatchJob.load("canary-job"))
    print("SCENARIO DONE", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
