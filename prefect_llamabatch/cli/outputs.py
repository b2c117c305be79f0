"""``outputs``: every completed document's parsed output of a v1 job or a v2 batch, written to
a folder or an fsspec URL, named after the documents, with a JSONL manifest.

The work is the ``download_outputs`` task's own steps
(:func:`~prefect_llamabatch.orchestration.outputs.write_outputs`, driven by this command's
client): batched status lookups, streamed downloads, resumable (a rerun writes only what
changed). No Prefect API is needed.

Example:
    ```python
    from prefect_llamabatch.cli import ExitCode, run

    assert run(["outputs", "bjb-1", "--to", ""]) == ExitCode.USAGE  # --to is named
    ```
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

from cyclopts import Parameter

from prefect_llamabatch.cli.connection import ApiChoice, Connection, connect, target_api
from prefect_llamabatch.cli.console import new_table, print_json, print_table, say, stdout
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.cli.inert import cell

if TYPE_CHECKING:
    from prefect_llamabatch.client import BatchClient
    from prefect_llamabatch.orchestration.outputs import OutputsResult

__all__ = ["outputs"]

FormatChoice = Literal["markdown", "text", "items", "json"]
# The CLI's --format names and the library's output formats ("json": an extract job's result).
_FORMATS = {"markdown": "markdown", "text": "text", "items": "items", "json": "extract"}


def _check_destination(to: str) -> None:
    """``--to`` resolved before any request: a known fsspec protocol, not an existing file."""
    if not to.strip():
        raise CliError(ExitCode.USAGE, "--to: must not be empty")
    from prefect_llamabatch.orchestration.outputs import open_destination

    # Shown without the user:password@ a URL may carry (fsspec's errors never quote the URL).
    scheme, sep, rest = to.partition("://")
    shown = f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else to
    try:
        target = open_destination(to)
    except (ValueError, ImportError, TypeError, OSError) as exc:
        # fsspec: "Protocol not known: …", or the protocol's package is not installed.
        raise CliError(ExitCode.USAGE, f"--to: cannot write to {shown!r}: {exc}") from None
    if target.local and os.path.exists(target.root) and not os.path.isdir(target.root):
        raise CliError(ExitCode.USAGE, f"--to: {target.shown} exists and is not a folder")


def _write(
    client: BatchClient, job_id: str, api: str, to: str, output_format: str, concurrency: int
) -> OutputsResult:
    from prefect_llamabatch.orchestration.outputs import write_outputs

    options: dict[str, Any] = {"output_format": output_format, "max_concurrency": concurrency}
    if api == "v1":
        return write_outputs(client, to, None, job_id=job_id, **options)
    batch = client.get_batch(job_id, expand_results=True)
    if batch.results is None:
        raise CliError(
            ExitCode.FAILED,
            f"v2 batch {job_id} has no results yet (status {batch.status}): "
            f"`llamabatch wait {job_id}` first",
        )
    return write_outputs(client, to, None, batch=batch, **options)


def _print_result(result: OutputsResult) -> None:
    console = stdout()
    say(
        console,
        f"{result.written} written ({result.bytes_written} bytes), {result.unchanged} unchanged, "
        f"{len(result.not_completed)} not completed, {len(result.failed)} failed "
        f"(of {result.documents} documents)",
    )
    left = [*result.failed, *result.not_completed]
    if left:
        table = new_table(
            f"{len(left)} documents not written",
            ("document", "job id", "status", "reason"),
            ids=("job id",),
        )
        for doc in left:
            table.add_row(
                cell(doc.document), cell(doc.job_id), cell(doc.status or ""), cell(doc.reason)
            )
        print_table(table)
    say(console, f"manifest: {result.manifest_path}")


def outputs(
    job_id: str,
    *,
    to: Annotated[str, Parameter(name="--to")],
    output_format: Annotated[FormatChoice, Parameter(name="--format")] = "markdown",
    max_concurrency: int = 16,
    api: ApiChoice = "auto",
    conn: Connection | None = None,
) -> int:
    """Write every completed document's parsed output to a folder or an fsspec URL.

    Outputs are named after the documents (reports/q1.pdf -> DEST/reports/q1.md) and listed in
    DEST/manifest.jsonl. A rerun writes only what changed. Exit 1 when some outputs could not
    be written; documents whose job did not complete are listed, not an error.

    Parameters
    ----------
    job_id
        The batch job id (bjb-...) or v2 batch id (bat-...).
    to
        Destination: a local folder or an fsspec URL (s3://bucket/prefix, memory://x, ...).
    output_format
        markdown (.md), text (.txt), items (structured JSON) or json (an extract job's result).
    max_concurrency
        Documents fetched and written at once.
    api
        v1 or v2; auto: v2 for a bat- id, else v1.
    """
    conn = conn or Connection()
    which = target_api(job_id, api)
    if max_concurrency < 1:
        raise CliError(
            ExitCode.USAGE, f"--max-concurrency: must be at least 1 (got {max_concurrency})"
        )
    _check_destination(to)
    with connect(conn) as client:
        result = _write(client, job_id, which, to, _FORMATS[output_format], max_concurrency)
    if conn.json:
        print_json(result)
    else:
        _print_result(result)
    if result.failed:
        raise CliError(
            ExitCode.FAILED,
            f"{len(result.failed)} of {result.documents} outputs could not be written "
            "(listed above); a rerun retries them",
        )
    return ExitCode.OK
