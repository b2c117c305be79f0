"""Exit codes of ``llamabatch`` and the one-line error the CLI reports (shared by app and demo)."""

from __future__ import annotations

from enum import IntEnum

from cyclopts.exceptions import CycloptsError
from pydantic import ValidationError

from prefect_llamabatch.client.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from prefect_llamabatch.orchestration.results import (
    BatchApiUnavailable,
    BatchJobTimeout,
    BatchRunError,
)

__all__ = ["CliError", "ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    """Process exit codes of ``llamabatch``; part of its public interface."""

    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    UNAVAILABLE = 5
    TIMEOUT = 6
    INTERRUPTED = 130
    CLOSED_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


class CliError(Exception):
    """An error the CLI reports as one line on stderr, with a chosen exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an exception escaping a command.

    Example:
        ```python
        from prefect_llamabatch.cli import ExitCode, exit_code_for
        from prefect_llamabatch.client.errors import error_for_status

        assert exit_code_for(error_for_status(404, method="GET", path="/x")) is ExitCode.NOT_FOUND
        assert exit_code_for(KeyboardInterrupt()) is ExitCode.INTERRUPTED
        ```
    """
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, BatchJobTimeout):
        return ExitCode.TIMEOUT
    if isinstance(exc, BatchApiUnavailable):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, BatchRunError):
        return ExitCode.FAILED
    if isinstance(exc, (CycloptsError, ValidationError, ValueError)):
        return ExitCode.USAGE
    if isinstance(exc, (BadRequestError, UnprocessableEntityError)):
        return ExitCode.USAGE
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return ExitCode.AUTH
    if isinstance(exc, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, (APIConnectionError, ServerError, RateLimitError)):
        return ExitCode.UNAVAILABLE
    return ExitCode.FAILED
