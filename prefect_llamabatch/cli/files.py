"""The directory commands: ``upload`` (a local folder into a directory) and ``directories``.

Example:
    ```python
    from pathlib import Path

    from prefect_llamabatch.cli import ExitCode, run

    assert run(["upload", str(Path("no-such-folder")), "--concurrency", "0"]) == ExitCode.USAGE
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from prefect_llamabatch.cli.connection import Connection, connect, non_empty
from prefect_llamabatch.cli.console import (
    enum_text,
    instant,
    new_table,
    newest_first,
    print_json,
    print_table,
    say,
    stdout,
    when,
)
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode
from prefect_llamabatch.cli.inert import cell
from prefect_llamabatch.orchestration.drivers import SyncDriver, drive
from prefect_llamabatch.orchestration.uploads import (
    UPLOAD_CONCURRENCY,
    UPLOAD_RATE_LIMIT,
    upload_steps,
)

if TYPE_CHECKING:
    from prefect_llamabatch.orchestration.tasks import UploadedDirectory

__all__ = ["directories", "upload"]

DirectoryTypeChoice = Literal["ephemeral", "user"]


def upload(
    folder: Path,
    *,
    directory_id: str | None = None,
    directory_name: str | None = None,
    directory_type: DirectoryTypeChoice = "ephemeral",
    concurrency: int = UPLOAD_CONCURRENCY,
    rate_limit: int = UPLOAD_RATE_LIMIT,
    conn: Connection | None = None,
) -> int:
    """Upload a local folder into a LlamaCloud directory; unchanged files are not sent again.

    The target is --directory-id, else the newest directory called --directory-name (created if
    there is none), else a new directory named after the folder. Hidden files are left out. The
    directory id is printed last (with --json: the whole result), ready for `submit`.

    Parameters
    ----------
    folder
        The local folder of documents.
    directory_id
        Upload into this existing directory (dir-...).
    directory_name
        Upload into the newest directory of this name, or create it.
    directory_type
        Type of a created directory (ephemeral ones expire on LlamaCloud).
    concurrency
        Uploads in flight at once.
    rate_limit
        Uploads started per 5 s (default 50: LlamaCloud's published per-project limit, past
        which uploads are refused with 429); 0 for no pacing.
    """
    conn = conn or Connection()
    if directory_id is not None:
        non_empty("--directory-id", directory_id)
    if directory_name is not None:
        non_empty("--directory-name", directory_name)
    if directory_id is not None and directory_name is not None:
        raise CliError(ExitCode.USAGE, "give --directory-id or --directory-name, not both")
    if concurrency < 1:
        raise CliError(ExitCode.USAGE, f"--concurrency: must be at least 1 (got {concurrency})")
    if rate_limit < 0:
        raise CliError(ExitCode.USAGE, f"--rate-limit: must be 0 (none) or more (got {rate_limit})")
    # The upload task's own steps (a plain function), driven by this client: no Prefect API.
    with connect(conn) as client:
        result: UploadedDirectory = drive(
            upload_steps(
                folder,
                directory_id=directory_id,
                directory_name=directory_name,
                directory_type=directory_type,
                max_concurrency=concurrency,
                organization_id=None,
                project_id=None,
                rate_limit=rate_limit or None,
            ),
            SyncDriver(client),
        )
    if conn.json:
        print_json(result)
        return ExitCode.OK
    uploaded = set(result.uploaded)
    table = new_table(
        f"{len(result.uploaded)} uploaded, {len(result.unchanged)} unchanged",
        ("file", "item id", "upload"),
        ids=("item id",),
    )
    for relative, item_id in sorted(result.files.items()):
        table.add_row(
            cell(relative), cell(item_id), "uploaded" if relative in uploaded else "unchanged"
        )
    print_table(table)
    say(stdout(), f"directory: {result.directory_id}")
    return ExitCode.OK


def directories(
    *,
    name: str | None = None,
    directory_type: DirectoryTypeChoice | None = None,
    limit: int = 20,
    conn: Connection | None = None,
) -> int:
    """List directories, newest first (by creation time).

    Every matching directory is read (page by page) and sorted here: the API documents no
    order.

    Parameters
    ----------
    name
        Only directories of exactly this name.
    directory_type
        Only directories of this type.
    limit
        Show at most this many directories.
    """
    conn = conn or Connection()
    if name is not None:
        non_empty("--name", name)
    if limit < 1:
        raise CliError(ExitCode.USAGE, f"--limit: must be at least 1 (got {limit})")
    with connect(conn) as client:
        found = client.iter_directories(name=name, type=directory_type)
        every = newest_first(found, lambda d: instant(d.created_at))
    shown = every[:limit]
    if conn.json:
        print_json(shown)
        return ExitCode.OK
    table = new_table(
        f"{len(shown)} of {len(every)} directories, newest first",
        ("directory id", "name", "type", "created", "expires"),
        ids=("directory id",),
    )
    for d in shown:
        table.add_row(
            cell(d.id),
            cell(d.name),
            cell(enum_text(d.type) if d.type is not None else ""),
            when(d.created_at),
            when(d.expires_at),
        )
    print_table(table)
    return ExitCode.OK
