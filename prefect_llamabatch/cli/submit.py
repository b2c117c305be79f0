"""``submit``: a v1 batch job over a directory or items, or a v2 batch over a directory.

The request is checked whole before anything is sent (an unknown or misspelt config field is
an error naming it); v2 is chosen by ``--configuration-id`` or ``--api v2`` (then ``--config``
holds ``parse_v2``/``extract_v2`` parameters, saved once as a named configuration).

Example:
    ```python
    from prefect_llamabatch.cli import ExitCode, run

    # v2 runs over a directory, never a list of items: refused before any request.
    code = run(["submit", "--configuration-id", "cfg-PARSE_FAST", "--item-id", "dfl-1"])
    assert code == ExitCode.USAGE
    ```
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter
from pydantic import ValidationError

from prefect_llamabatch.cli import batches
from prefect_llamabatch.cli.connection import (
    ApiChoice,
    Connection,
    check_fraction,
    checked_id,
    connect,
    non_empty,
)
from prefect_llamabatch.cli.console import (
    describe_validation_error,
    enum_text,
    print_json,
    say,
    stderr,
    stdout,
)
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.cli.waiting import wait_and_report, wait_settings
from prefect_llamabatch.models import BatchJobCreate
from prefect_llamabatch.orchestration.waiting import WaitSettings

__all__ = ["submit"]


def _read_job_config(config: str | None, config_file: Path | None) -> Any:
    if config is not None and config_file is not None:
        raise CliError(ExitCode.USAGE, "give --config or --config-file, not both")
    if config_file is not None:
        if str(config_file) == "-":
            text, source = sys.stdin.read(), "--config-file -"
        else:
            try:
                text = config_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise CliError(
                    ExitCode.USAGE, f"--config-file: cannot read {config_file}: {exc.strerror}"
                ) from None
            source = f"--config-file {config_file}"
    elif config is not None:
        text, source = config, "--config"
    else:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            ExitCode.USAGE,
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
        ) from None
    if not isinstance(value, dict):
        raise CliError(ExitCode.USAGE, f"{source}: the job config must be a JSON object")
    return value


_SUBMIT_FLAGS = {
    "job_config": "--config",
    "directory_id": "--directory-id",
    "item_ids": "--item-id",
}


def submit(
    *,
    directory_id: str | None = None,
    item_id: Annotated[list[str] | None, Parameter(consume_multiple=True)] = None,
    config: str | None = None,
    config_file: Annotated[Path | None, Parameter(allow_leading_hyphen=True)] = None,
    configuration_id: str | None = None,
    idempotency_key: str | None = None,
    wait: bool = False,
    timeout: float | None = None,
    poll_interval: float = 2.0,
    max_failed_fraction: float = 0.0,
    api: ApiChoice = "auto",
    conn: Connection | None = None,
) -> int:
    """Submit a batch job over a directory or a list of items, or a v2 batch over a directory.

    The body is validated before anything is sent: an unknown or misspelt config field is an
    error naming it. A v2 batch (--configuration-id, or --api v2 with --config holding
    parse_v2/extract_v2 parameters, saved once as a named configuration) runs over
    --directory-id; the client never creates it twice.

    Parameters
    ----------
    directory_id
        Process every file of this directory (dir-...).
    item_id
        Process these items (directory file ids, dfl-...); repeat or list several.
    config
        The job config as JSON: a parse config ('{"parameters": {...}}', '{}' for defaults) or
        a classify config ('{"rules": [{"type": ..., "description": ...}]}').
    config_file
        Read the job config from this JSON file ('-' for stdin).
    configuration_id
        v2: run a batch with this saved configuration or preset (cfg-..., e.g. cfg-PARSE_FAST).
    idempotency_key
        Key that makes re-submitting the same job safe (v1 only).
    wait
        Wait for the job to finish, with a progress bar; the exit code then reflects the outcome.
    timeout
        With --wait: give up waiting after this many seconds (exit 6).
    poll_interval
        With --wait: seconds between status polls at first.
    max_failed_fraction
        With --wait: fraction of failed items (0..1) still counted as success.
    api
        v1 (a batch job), v2 (a batch); auto: v2 when --configuration-id is given, else v1.
    """
    conn = conn or Connection()
    if api == "v2" or (api == "auto" and configuration_id is not None):
        return _submit_v2(
            directory_id=directory_id,
            item_id=item_id,
            config=config,
            config_file=config_file,
            configuration_id=configuration_id,
            idempotency_key=idempotency_key,
            settings=wait_settings(timeout, poll_interval) if wait else None,
            max_failed_fraction=check_fraction(max_failed_fraction),
            conn=conn,
        )
    if configuration_id is not None:
        raise CliError(ExitCode.USAGE, "--configuration-id: a v2 option, not for --api v1")
    job_config = _read_job_config(config, config_file)
    if idempotency_key is not None:
        non_empty("--idempotency-key", idempotency_key)
    settings = wait_settings(timeout, poll_interval) if wait else None
    check_fraction(max_failed_fraction)
    try:
        body = BatchJobCreate.model_validate(
            {
                "job_config": job_config,
                **({"directory_id": directory_id} if directory_id is not None else {}),
                **({"item_ids": item_id} if item_id is not None else {}),
            }
        )
    except ValidationError as exc:
        raise CliError(
            ExitCode.USAGE,
            describe_validation_error(exc, _SUBMIT_FLAGS, whole="--directory-id/--item-id"),
        ) from None
    with connect(conn) as client:
        job = client.create_job(body, idempotency_key=idempotency_key)
        if settings is None:
            if conn.json:
                print_json(job)
            else:
                say(
                    stdout(),
                    f"submitted {job.id} ({enum_text(job.job_type)}, "
                    f"{job.total_items} items, {enum_text(job.status)})",
                )
            return ExitCode.OK
        assert settings is not None
        say(stderr(), f"submitted {job.id}")
        return wait_and_report(client, job.id, conn, settings, max_failed_fraction)


def _submit_v2(
    *,
    directory_id: str | None,
    item_id: list[str] | None,
    config: str | None,
    config_file: Path | None,
    configuration_id: str | None,
    idempotency_key: str | None,
    settings: WaitSettings | None,
    max_failed_fraction: float,
    conn: Connection,
) -> int:
    """``submit`` of a v2 batch: every option checked before anything is sent."""
    if item_id is not None:
        raise CliError(ExitCode.USAGE, "--item-id: a v2 batch runs over --directory-id")
    if idempotency_key is not None:
        raise CliError(
            ExitCode.USAGE,
            "--idempotency-key: v2 batches take none (the client never creates one twice)",
        )
    if directory_id is None:
        raise CliError(ExitCode.USAGE, "--directory-id: a v2 batch needs its source directory")
    checked_id("--directory-id", directory_id)
    given_config = config is not None or config_file is not None
    if (configuration_id is not None) == given_config:
        raise CliError(
            ExitCode.USAGE,
            "--configuration-id: give a saved configuration or preset (e.g. cfg-PARSE_FAST), "
            "or --config/--config-file with parse_v2/extract_v2 parameters (one of them)",
        )
    parameters = None
    if configuration_id is not None:
        checked_id("--configuration-id", configuration_id)
    else:
        source = "--config" if config is not None else "--config-file"
        parameters = batches.v2_parameters(_read_job_config(config, config_file), source)
    with connect(conn) as client:
        return batches.submit_batch(
            client,
            conn,
            directory_id=directory_id,
            configuration_id=configuration_id,
            parameters=parameters,
            settings=settings,
            max_failed_fraction=max_failed_fraction,
        )
