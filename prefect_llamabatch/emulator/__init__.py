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

from prefect_llamabatch.emulator.admin import (
    EmulatorAdmin,
    GroundTruth,
    ItemTruth,
    JobTruth,
    RequestRecord,
    SeededDirectory,
)
from prefect_llamabatch.emulator.config import (
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
from prefect_llamabatch.emulator.server import Emulator, run_emulator

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
