"""``llamabatch``: the operator's command line for LlamaCloud batch jobs.

Commands: ``jobs``, ``submit``, ``status``, ``wait``, ``cancel``, ``items``, ``results``,
``outputs``, ``upload``, ``directories``, ``emulator`` and ``demo``; ``submit``, ``status``,
``wait``, ``cancel``, ``items`` and ``outputs`` take a v1 job id (``bjb-…``) or a v2 batch id
(``bat-…``; ``--api v1|v2`` to say which outright). Credentials come from the environment
(``LLAMA_CLOUD_API_KEY``, then ``LLAMA_PARSE_API_KEY``; ``LLAMA_CLOUD_BASE_URL``) or from a saved
``LlamaCloudCredentials`` block (``--block NAME``). There is deliberately no ``--api-key`` option: a key on the command line ends up
in shell history and in ``ps`` output.

Exit codes (see :class:`ExitCode`) are stable so scripts can rely on them::

    0   success
    1   the job or batch failed or was cancelled, or items failed beyond --max-failed-fraction;
        ``outputs``: some outputs could not be written
    2   usage error or bad input (nothing was sent to the API)
    3   authentication or permission problem (no key, or the API refused it)
    4   not found (job, batch, item or credentials block)
    5   the API is unreachable or unavailable (connection errors, timeouts, 5xx/429 after retries)
    6   gave up waiting (``wait --timeout``); the job is still running
    130 interrupted (Ctrl-C); a job being waited on keeps running
    141 stdout was closed early (``llamabatch ... | head``); nothing else is reported

Text the server sends (names, error messages) is printed inert: never read as Rich markup, and
control characters (terminal escape sequences) are shown as ``\\xNN``.

Example:
    ```bash
    export LLAMA_CLOUD_API_KEY=llx-...
    llamabatch submit --directory-id dir-123 --config '{"parameters": {"fast_mode": true}}' --wait
    llamabatch items bjb-456 --status failed --json | jq -r '.[].item_name'
    llamabatch submit --directory-id dir-123 --configuration-id cfg-PARSE_FAST --wait
    llamabatch outputs bat-789 --to ./parsed
    ```
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from cyclopts import App
from cyclopts.exceptions import CycloptsError
from pydantic import ValidationError

from prefect_llamabatch._version import __version__
from prefect_llamabatch.cli.console import describe_validation_error, say, stderr
from prefect_llamabatch.cli.exit_codes import CliError, ExitCode, exit_code_for
from prefect_llamabatch.cli.files import directories, upload
from prefect_llamabatch.cli.jobs import cancel, items, jobs, results, status, wait_command
from prefect_llamabatch.cli.local import demo, emulator
from prefect_llamabatch.cli.outputs import outputs
from prefect_llamabatch.cli.submit import submit
from prefect_llamabatch.cli.waiting import WaitDisplay
from prefect_llamabatch.client.errors import LlamaCloudError
from prefect_llamabatch.orchestration.results import BatchRunError

__all__ = ["ExitCode", "app", "exit_code_for", "main", "run"]

_WaitDisplay = WaitDisplay  # its name before the CLI was split into modules

app = App(
    name="llamabatch",
    help="Submit, watch and inspect LlamaCloud batch jobs (see exit codes in the README).",
    version=__version__,
    # run() maps Ctrl-C to exit 130 itself, after the command printed what it left running.
    suppress_keyboard_interrupt=False,
)
for _command in (
    jobs,
    submit,
    status,
    cancel,
    items,
    results,
    outputs,
    upload,
    directories,
    emulator,
    demo,
):
    app.command(_command)
app.command(wait_command, name="wait")


def run(argv: Sequence[str] | None = None) -> int:
    """Run one ``llamabatch`` command and return its exit code (never raises for user errors).

    Example:
        ```python
        from prefect_llamabatch.cli import ExitCode, run

        assert run(["jobs", "--limit", "0"]) == ExitCode.USAGE
        ```
    """
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(tokens, exit_on_error=False, result_action="return_value")
        sys.stdout.flush()  # a closed pipe shows here, not as noise at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.CLOSED_PIPE
    except CycloptsError:
        return ExitCode.USAGE  # cyclopts already printed the problem
    except ValidationError as exc:
        stderr().print(
            f"error: invalid {exc.title}\n{describe_validation_error(exc)}",
            markup=False,
            highlight=False,
        )
        return ExitCode.USAGE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except (CliError, LlamaCloudError, BatchRunError, ValueError) as exc:
        say(stderr(), f"error: {exc}")
        return exit_code_for(exc)
    return int(result) if isinstance(result, int) else ExitCode.OK


def _silence_stdout() -> None:
    """Points stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    # What the Python docs advise for SIGPIPE: the reader is gone, nothing more to say to it.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (an in-process test's capture)
        pass


def main() -> None:
    """Console-script entry point (``llamabatch``)."""
    sys.exit(run())
