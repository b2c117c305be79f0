"""A local LlamaCloud emulator: the batch and directory APIs, over real HTTP, on your machine.

Example:
    ```python
    from prefect_llamabatch.emulator import EmulatorConfig, run_emulator

    with run_emulator(EmulatorConfig(time_scale=0.01)) as emu:
        docs = emu.admin.seed_directory({"a.txt": b"hello"}, name="docs")
        print(emu.base_url, emu.api_key, docs.id)
    ```

See docs/emulator.md for the behaviour it implements and the choices it makes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_llamabatch.emulator.admin import (
        EmulatorAdmin,
        GroundTruth,
        ItemTruth,
        JobTruth,
        RequestRecord,
        SeededDirectory,
    )
    from prefect_llamabatch.emulator.server import (
        Emulator,
        run_emulator,
    )
    from prefect_llamabatch.emulator.settings import (
        DEFAULT_API_KEY,
        DEFAULT_ORGANIZATION_ID,
        DEFAULT_PROJECT_ID,
        ROUTE_NAMES,
        ApiKeySpec,
        EmulatorConfig,
        FaultConfig,
        FaultKind,
        FaultRule,
    )

# Lazy (PEP 562): the pytest plugin lives in this package and must not pay for FastAPI/uvicorn.
_LAZY: dict[str, str] = {
    "EmulatorAdmin": "prefect_llamabatch.emulator.admin",
    "GroundTruth": "prefect_llamabatch.emulator.admin",
    "ItemTruth": "prefect_llamabatch.emulator.admin",
    "JobTruth": "prefect_llamabatch.emulator.admin",
    "RequestRecord": "prefect_llamabatch.emulator.admin",
    "SeededDirectory": "prefect_llamabatch.emulator.admin",
    "DEFAULT_API_KEY": "prefect_llamabatch.emulator.settings",
    "DEFAULT_ORGANIZATION_ID": "prefect_llamabatch.emulator.settings",
    "DEFAULT_PROJECT_ID": "prefect_llamabatch.emulator.settings",
    "ROUTE_NAMES": "prefect_llamabatch.emulator.settings",
    "ApiKeySpec": "prefect_llamabatch.emulator.settings",
    "EmulatorConfig": "prefect_llamabatch.emulator.settings",
    "FaultConfig": "prefect_llamabatch.emulator.settings",
    "FaultKind": "prefect_llamabatch.emulator.settings",
    "FaultRule": "prefect_llamabatch.emulator.settings",
    "Emulator": "prefect_llamabatch.emulator.server",
    "run_emulator": "prefect_llamabatch.emulator.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_ORGANIZATION_ID",
    "DEFAULT_PROJECT_ID",
    "ROUTE_NAMES",
    "ApiKeySpec",
    "Emulator",
    "EmulatorAdmin",
    "EmulatorConfig",
    "FaultConfig",
    "FaultKind",
    "FaultRule",
    "GroundTruth",
    "ItemTruth",
    "JobTruth",
    "RequestRecord",
    "SeededDirectory",
    "run_emulator",
]
