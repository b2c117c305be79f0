"""The layers: public names, what each import loads, and the import-linter contract that holds them.

Module sets and counts only; the import times are measured by ``bench/b5_startup.py``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import prefect_llamabatch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# What the client may load once httpx (whose own import pulls in its CLI's click/rich/pygments
# when they are installed) and pydantic are in: their lazily loaded parts, tenacity (on the first
# failure; allowed here too), and anyio
# (httpx's own dependency; the async driver bounds whole requests with its deadlines).
CLIENT_EXTRA = {
    "anyio",
    "httpx",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
    "tenacity",
}


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"},
    ).stdout.strip()


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    missing = [name for name in prefect_llamabatch.__all__ if not hasattr(prefect_llamabatch, name)]
    assert missing == []
    assert set(prefect_llamabatch.__all__) <= set(dir(prefect_llamabatch))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        prefect_llamabatch.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_plain_import_defers_the_flows_but_registers_the_block_types() -> None:
    out = _run(
        """
        import sys
        import prefect_llamabatch
        from prefect.blocks.core import Block
        print(sorted(m for m in ("prefect_llamabatch.flows", "prefect_llamabatch.orchestration.reporting")
                     if m in sys.modules))
        # Prefect finds block types of installed collections by importing them.
        print(Block.get_block_class_from_key("llamacloud-credentials").__name__)
        print(Block.get_block_class_from_key("llamacloud-batch-job").__name__)
        from prefect import Flow
        flow = prefect_llamabatch.process_directory
        print(isinstance(flow, Flow), "prefect_llamabatch.flows" in sys.modules)
        """
    )
    assert out.splitlines() == [
        "[]",
        "LlamaCloudCredentials",
        "LlamaBatchJob",
        "True True",
    ]


def test_from_import_of_a_flow_works() -> None:
    out = _run(
        """
        from prefect_llamabatch import FailedItemsReport, report_failed_items, run_llama_batch_job
        print(report_failed_items.name, run_llama_batch_job.name, FailedItemsReport.__name__)
        """
    )
    assert out.split()[0] == "report-failed-items"
    assert out.split()[-1] == "FailedItemsReport"


_LOADS = """
import importlib, json, sys
for name in {before!r}:
    importlib.import_module(name)
loaded = set(sys.modules)
importlib.import_module({module!r})
new = sorted(set(sys.modules) - loaded)
print(json.dumps(new))
"""


def _loads(module: str, before: tuple[str, ...] = ()) -> list[str]:
    """The modules ``import module`` adds to a fresh interpreter (after ``before``)."""
    return list(json.loads(_run(_LOADS.format(module=module, before=list(before)))))


def _third_party(modules: list[str]) -> set[str]:
    tops = {m.split(".")[0] for m in modules}
    return {t for t in tops - set(sys.stdlib_module_names) if not t.startswith("_")}


def _own(modules: list[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] == "prefect_llamabatch"}


FACADE = {"prefect_llamabatch", "prefect_llamabatch._aliases", "prefect_llamabatch._version"}


def test_the_client_loads_only_its_stack_and_the_models() -> None:
    new = _loads("prefect_llamabatch.client", before=("httpx", "pydantic"))
    assert _third_party(new) - {"prefect_llamabatch"} <= CLIENT_EXTRA
    assert "pydantic" in _third_party(new)  # the set is real: what the models build on shows
    assert "tenacity" not in _third_party(new)  # loaded on a request's first failure only
    own = _own(new) - FACADE
    assert own, "nothing of the package loaded?"
    outside = sorted(
        m
        for m in own
        if not m.startswith(("prefect_llamabatch.client", "prefect_llamabatch.models"))
    )
    assert outside == []  # no credentials, orchestration, flows, emulator


def test_the_models_load_pydantic_and_nothing_else_of_the_package() -> None:
    new = _loads("prefect_llamabatch.models")
    assert _third_party(new) - {"prefect_llamabatch"} <= {
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "typing_extensions",
        "typing_inspection",
    }
    assert all(m.startswith("prefect_llamabatch.models") for m in _own(new) - FACADE)


def test_the_emulator_package_is_a_lazy_facade() -> None:
    # Its names resolve on first use; importing the package loads no server, no models, no Prefect.
    new = _loads("prefect_llamabatch.emulator")
    assert _own(new) == FACADE | {"prefect_llamabatch.emulator"}
    assert _third_party(new) == {"prefect_llamabatch"}


@pytest.mark.parametrize(
    "module",
    [
        "prefect_llamabatch.client",
        "prefect_llamabatch.models",
        "prefect_llamabatch.emulator",
        "prefect_llamabatch.emulator.server",
        "prefect_llamabatch.emulator.pytest_plugin",
    ],
)
def test_no_prefect_module_is_loaded(module: str) -> None:
    new = _loads(module)
    assert [m for m in new if m == "prefect" or m.startswith("prefect.")] == []


def test_the_plugin_module_loads_no_server_stack() -> None:
    new = _loads("prefect_llamabatch.emulator.pytest_plugin", before=("pytest",))
    assert _own(new) == FACADE | {
        "prefect_llamabatch.emulator",
        "prefect_llamabatch.emulator.pytest_plugin",
    }
    assert _third_party(new) == {"prefect_llamabatch"}


def test_the_plugin_is_the_packages_pytest11_entry_point() -> None:
    points = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert points["llamabatch_emulator"] == "prefect_llamabatch.emulator.pytest_plugin"


PLUGIN = "prefect_llamabatch.emulator.pytest_plugin"


def test_a_pytest_session_loads_the_emulator_only_when_its_fixture_is_used(
    tmp_path: Path,
) -> None:
    # A user's suite, with only this plugin (autoload off, so other installed plugins add nothing).
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import sys

            HEAVY = {"fastapi", "starlette", "uvicorn", "prefect"}

            def heavy():
                return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)

            def test_1_collected_and_run_without_the_fixture():
                assert heavy() == []

            def test_2_the_fixture_starts_the_server(llamacloud_emulator):
                assert llamacloud_emulator.running
                assert heavy() == ["fastapi", "starlette", "uvicorn"]
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_prefect_block_register_registers_both_blocks(prefect_api: str) -> None:
    from prefect.client.orchestration import get_client

    from prefect_llamabatch.blocks import LlamaBatchJob, LlamaCloudCredentials

    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "prefect_llamabatch"],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": prefect_api, "COLUMNS": "200"},
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Prefect walks dir(module) with getattr (inspect.getmembers): the lazy names must resolve.
    assert "Successfully registered 2 blocks" in proc.stdout
    for block in (LlamaCloudCredentials, LlamaBatchJob):
        assert block.get_block_type_name() in proc.stdout
    with get_client(sync_client=True) as client:
        for block in (LlamaCloudCredentials, LlamaBatchJob):
            registered = client.read_block_type_by_slug(block.get_block_type_slug())
            assert registered.name == block.get_block_type_name()
            schema = client.get_most_recent_block_schema_for_block_type(registered.id)
            assert schema is not None
            assert schema.checksum == block._calculate_schema_checksum()


# ------------------------------------------------------------------------------------------------
# The import-linter contract ([tool.importlinter] in pyproject.toml), on a copy of the package
# ------------------------------------------------------------------------------------------------


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package and its pyproject.toml, copied, for the contract to be checked on an edit."""
    shutil.copytree(
        ROOT / "prefect_llamabatch",
        tmp_path / "prefect_llamabatch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_contract_holds(package_copy: Path) -> None:
    proc = _lint_imports(package_copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "complaint"),
    [
        (
            "client/stats.py",
            "from prefect_llamabatch.orchestration import results",
            "prefect_llamabatch.client is not allowed to import prefect_llamabatch.orchestration",
        ),
        (
            "emulator/layout.py",
            "from prefect_llamabatch.client import errors",
            "prefect_llamabatch.emulator is not allowed to import prefect_llamabatch.client",
        ),
        (
            "orchestration/events.py",
            "import prefect_llamabatch.flows",
            "prefect_llamabatch.orchestration is not allowed to import prefect_llamabatch.flows",
        ),
        (
            "models/enums.py",
            "import prefect",
            "prefect_llamabatch.models is not allowed to import prefect",
        ),
        (
            "models/enums.py",
            "import httpx",
            "prefect_llamabatch.models is not allowed to import httpx",
        ),
        ("client/paging.py", "from prefect_llamabatch.client import core", "- .paging -> .core"),
    ],
    ids=[
        "client-up",
        "emulator-to-client",
        "orchestration-up",
        "models-prefect",
        "models-httpx",
        "cycle",
    ],
)
def test_the_contract_fails_on_an_upward_import_or_a_cycle(
    package_copy: Path, module: str, line: str, complaint: str
) -> None:
    path = package_copy / "prefect_llamabatch" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    proc = _lint_imports(package_copy)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert complaint in " ".join(proc.stdout.split())
