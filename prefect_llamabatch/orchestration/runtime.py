"""What a task or flow reads from the run it is in: its logger, its flow run id.

Example:
    ```python
    from prefect_llamabatch.orchestration.runtime import current_flow_run_id, run_logger

    run_logger().info("outside a run this is the package logger")
    assert current_flow_run_id() is None
    ```
"""

from __future__ import annotations

import logging
from typing import Union

from prefect.logging.loggers import LoggingAdapter, get_logger, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run

__all__ = ["Logger", "current_flow_run_id", "require_text", "run_logger"]

Logger = Union[logging.Logger, LoggingAdapter]


def run_logger() -> Logger:
    """The run's logger inside a flow or task run, else the package's logger."""
    try:
        return get_run_logger()
    except Exception:
        return get_logger("prefect_llamabatch")


def current_flow_run_id() -> str | None:
    """The id of the flow run this code runs in, if any."""
    value = runtime_flow_run.id
    return str(value) if value else None


def require_text(name: str, value: str) -> str:
    """``value``, checked to be a non-empty string (the error names the parameter)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string (got {value!r})")
    return value
