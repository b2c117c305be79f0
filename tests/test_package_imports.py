"""The package's public names, and what a plain ``import prefect_llamabatch`` loads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import prefect_llamabatch


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
        print(sorted(m for m in ("prefect_llamabatch.flows", "prefect_llamabatch.reporting")
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
