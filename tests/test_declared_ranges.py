"""The declared dependency ranges are the tested ones: the lowest-versions run pins each lower bound.

``make test`` runs the suite twice: in ``.venv`` (newest versions) and in ``.venv-lowest``, built
with ``pip install -e '.[dev]' -c constraints/lowest.txt`` on Python 3.10. That second run only
tests the declared lower bounds while the constraints pin exactly those.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def lowest_pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in (ROOT / "constraints" / "lowest.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"constraints/lowest.txt pins exact versions only: {raw!r}"
            pins[name.strip().lower()] = Version(pinned.strip())
    return pins


def lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def test_every_runtime_dependency_is_pinned_at_its_lower_bound_for_the_lowest_run() -> None:
    pins = lowest_pins()
    for requirement in runtime_requirements():
        bound = lower_bound(requirement)
        assert bound is not None, f"{requirement}: declare a (tested) lower bound"
        pinned = pins.get(requirement.name.lower())
        assert pinned == bound, (
            f"{requirement}: constraints/lowest.txt pins {pinned}, so the lowest run does not "
            f"test the declared lower bound {bound}"
        )
        assert requirement.specifier.contains(pinned)


def test_the_installed_versions_are_inside_the_declared_ranges() -> None:
    for requirement in runtime_requirements():
        installed = version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{requirement.name} {installed} is outside the declared {requirement.specifier}"
        )


def test_the_lowest_run_uses_the_lowest_python_the_package_declares() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "requires-python"
    ]
    floor = lower_bound(Requirement(f"python{requires}"))
    assert floor == Version("3.10")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "sys.version_info[:2] != (3, 10)" in makefile, "Makefile's PYTHON_LOWEST must be 3.10"
    assert SpecifierSet(requires).contains(f"{sys.version_info.major}.{sys.version_info.minor}")


def test_the_readme_states_the_tested_lower_bounds() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme[readme.index("## Install") : readme.index("## Configuration")]
    pins = lowest_pins()
    for requirement in runtime_requirements():
        row = f"| `{requirement.name}` | {pins[requirement.name.lower()]} |"
        assert row in install, f"README Install table lacks {row!r}"
    assert "| Python | 3.10 |" in install
