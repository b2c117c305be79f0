"""Every ```python example in the emulator's docstrings runs as written."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import textwrap
from types import ModuleType

import pytest

import prefect_llamabatch.emulator as package

_EXAMPLE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "__main__"]
    return [package, *(importlib.import_module(f"{package.__name__}.{n}") for n in names)]


def _examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for module in _modules():
        objects = [module] + [
            obj
            for _, obj in inspect.getmembers(module)
            if getattr(obj, "__module__", None) == module.__name__
        ]
        for obj in objects:
            for member in [obj, *vars(obj).values()] if inspect.isclass(obj) else [obj]:
                doc = inspect.getdoc(member) if callable(member) or member is obj else None
                for block in _EXAMPLE.findall(doc or ""):
                    name = f"{module.__name__}.{getattr(member, '__qualname__', module.__name__)}"
                    found.append((name, textwrap.dedent(block)))
    unique = dict(found)
    return sorted(unique.items())


EXAMPLES = _examples()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_runs(name: str, code: str) -> None:
    exec(compile(code, name, "exec"), {"__name__": "__example__"})
