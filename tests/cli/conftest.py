"""Fixtures of the CLI tests: commands run in-process through ``prefect_llamabatch.cli.run``
(the function the console script calls) against the emulator over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from prefect_llamabatch.cli import run
from prefect_llamabatch.emulator import Emulator


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def invoke(*args: str) -> Result:
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def emu(llamacloud_env: Emulator) -> Iterator[Emulator]:
    yield llamacloud_env
