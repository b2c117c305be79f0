"""Deprecated module paths from before the layered layout (0.x), kept importable.

``import prefect_llamabatch.tasks`` (and the other old flat modules) still works: a meta path
finder maps the old name to the module's new home, with a ``DeprecationWarning``. Nothing is
imported until an old path is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

OLD_TO_NEW: dict[str, str] = {
    "prefect_llamabatch.errors": "prefect_llamabatch.client.errors",
    "prefect_llamabatch.retries": "prefect_llamabatch.client.retries",
    "prefect_llamabatch.tasks": "prefect_llamabatch.orchestration.tasks",
    "prefect_llamabatch.waiting": "prefect_llamabatch.orchestration.waiting",
    "prefect_llamabatch.reporting": "prefect_llamabatch.orchestration.reporting",
    "prefect_llamabatch.events": "prefect_llamabatch.orchestration.events",
    "prefect_llamabatch.results": "prefect_llamabatch.orchestration.results",
    "prefect_llamabatch.jobs": "prefect_llamabatch.orchestration.jobs",
    "prefect_llamabatch.demo": "prefect_llamabatch.cli.demo",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target
        self.target_spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; import the name from prefect_llamabatch "
            f"or from {self.target}",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.target)
        self.target_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The target module is already executed; importlib stamped the alias spec on it: undo.
        module.__spec__ = self.target_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        new = OLD_TO_NEW.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install_module_aliases() -> None:
    """Register the finder once (idempotent)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
