"""What the tasks and flows accept as ``credentials``: a block, or a saved block's name.

Never a key, never a dict of the block's fields: Prefect stores a flow run's parameters in its
database (in clear) before it validates them, and a task's arguments can end up in logs and
results. Refusals name what was given by its type and size only (``describe``), never its value.

Example:
    ```python
    from prefect_llamabatch.orchestration.credential_checks import refuse_unsafe_credentials

    try:
        refuse_unsafe_credentials({"api_key": "llx-do-not-store"})
    except TypeError as exc:
        assert "llx-do-not-store" not in str(exc)
    ```
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from prefect_llamabatch.client.redaction import describe

__all__ = [
    "is_block_reference",
    "looks_like_key",
    "refuse_unsafe_credentials",
    "resolve_credentials",
    "unawaited_load_error",
]

# Prefect's rule for block document names (prefect.types.names): lowercase letters, digits, dashes.
_BLOCK_NAME = re.compile(r"[a-z0-9-]+")
_KEY_PREFIX = "llx-"

_HOW = (
    "pass a LlamaCloudCredentials block (LlamaCloudCredentials.load('name'), "
    "LlamaCloudCredentials.from_env()) or the name of a saved one"
)


def unawaited_load_error() -> TypeError:
    """The error for a coroutine given as credentials: an async flow's unawaited ``load``."""
    return TypeError(
        "credentials is a coroutine, not a LlamaCloudCredentials block: in an async flow, "
        "LlamaCloudCredentials.load(...) returns a coroutine; write "
        "`await LlamaCloudCredentials.aload('name')` (or `await LlamaCloudCredentials.load(...)`)"
    )


def looks_like_key(value: str) -> bool:
    """Whether a string cannot be a block name, so may be a key (``llx-…``, or any other shape)."""
    return value.startswith(_KEY_PREFIX) or _BLOCK_NAME.fullmatch(value) is None


def is_block_reference(value: Any) -> bool:
    """A deployment run's block parameter: ``{"$ref": {"block_document_id": ...}}`` only."""
    return (
        isinstance(value, dict)
        and set(value) == {"$ref"}
        and isinstance(value["$ref"], dict)
        and set(value["$ref"]) <= {"block_document_id", "block_document_slug"}
    )


def refuse_unsafe_credentials(value: Any, *, parameter: str = "credentials") -> None:
    """Raise ``TypeError`` unless ``value`` is a credentials block, a block name or a block reference.

    Runs before Prefect stores a flow run's parameters, so nothing refused reaches its database.
    """
    from prefect_llamabatch.credentials import LlamaCloudCredentials

    if isinstance(value, LlamaCloudCredentials) or is_block_reference(value):
        return
    if inspect.iscoroutine(value):
        value.close()  # never awaited: no "coroutine was never awaited" warning on top
        raise unawaited_load_error()
    if isinstance(value, str):
        if looks_like_key(value):
            raise TypeError(
                f"{parameter} looks like an API key ({describe(value)}): keys are never flow or "
                f"task parameters, which Prefect stores in clear; {_HOW} (save one with "
                "LlamaCloudCredentials(api_key=...).save('name'))"
            )
        return
    raise TypeError(
        f"{parameter} must be a LlamaCloudCredentials block, not {describe(value)}: a "
        f"{type(value).__name__} would be stored in clear with the run's parameters; {_HOW}"
    )


def resolve_credentials(value: Any, *, parameter: str = "credentials") -> Any:
    """The block for ``value``: a block as is, a block name loaded, a block reference loaded.

    Raises:
        TypeError: ``value`` is refused (see :func:`refuse_unsafe_credentials`), or no saved
            ``LlamaCloudCredentials`` block has that name (the name is not repeated: it might
            be a key).
    """
    from prefect.blocks.core import Block

    from prefect_llamabatch.credentials import LlamaCloudCredentials

    refuse_unsafe_credentials(value, parameter=parameter)
    if isinstance(value, LlamaCloudCredentials):
        return value
    try:
        if is_block_reference(value):
            loaded = Block.load_from_ref(value["$ref"], _sync=True)  # type: ignore[call-arg]
        else:
            loaded = LlamaCloudCredentials.load(value, _sync=True)  # type: ignore[call-arg]
    except ValueError:
        raise TypeError(
            f"{parameter} ({describe(value)}) is not the name of a saved LlamaCloudCredentials "
            f"block; {_HOW}"
        ) from None
    if not isinstance(loaded, LlamaCloudCredentials):
        raise TypeError(
            f"{parameter} names a {type(loaded).__name__} block, not LlamaCloudCredentials"
        )
    return loaded
