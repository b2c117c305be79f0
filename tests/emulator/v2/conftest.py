"""Fixtures of the v2 emulator tests: the official SDK 2.19 in its own interpreter.

SDK 2.19 cannot share the main environment with SDK 2.13 (the v1 suite's test client), so a
session fixture creates ``.venv-sdk219`` at the repository root (or ``$LLAMABATCH_SDK219_VENV``)
with ``llama-cloud==2.19.0`` the first time, and keeps it: a stamp file names what was installed,
and a venv whose stamp matches is used as it is. Tests drive ``sdk219_driver.py`` in that
interpreter against the emulator's URL and assert on the JSON it prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_llamabatch.emulator import Emulator

SDK_REQUIREMENT = "llama-cloud==2.19.0"
ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("sdk219_driver.py")
STAMP = ".llamabatch-stamp"

SdkRunner = Callable[..., dict[str, Any]]


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_sdk_venv(venv: Path) -> Path:
    """The venv's interpreter, after creating the venv and installing the SDK if its stamp is
    missing or names another requirement."""
    stamp = venv / STAMP
    python = _venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # One creator at a time (pytest-xdist workers share the venv); the others wait, then reuse it.
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text().strip() == SDK_REQUIREMENT:
            return python
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = ["install", "--quiet", "--disable-pip-version-check", SDK_REQUIREMENT, "httpx"]
        subprocess.run([str(python), "-m", "pip", *install], check=True)
        stamp.write_text(SDK_REQUIREMENT + "\n")
    return python


@pytest.fixture(scope="session")
def sdk219_python() -> Path:
    """The interpreter of the SDK-2.19 venv (created and cached on first use)."""
    venv = Path(os.environ.get("LLAMABATCH_SDK219_VENV", ROOT / ".venv-sdk219"))
    return ensure_sdk_venv(venv)


@pytest.fixture
def run_sdk(sdk219_python: Path, llamacloud_emulator: Emulator) -> SdkRunner:
    """Run one scenario of the driver against the emulator; returns what it printed (JSON)."""

    def run(scenario: str, **args: Any) -> dict[str, Any]:
        emu = llamacloud_emulator
        payload = {
            "base_url": emu.base_url,
            "api_key": emu.api_key,
            "admin_token": emu.admin_token,
            **args,
        }
        # No proxies, no inherited SDK settings: the child talks to 127.0.0.1 only.
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("LLAMA_", "HTTP"))}
        env["NO_PROXY"] = "127.0.0.1,localhost"
        done = subprocess.run(
            [str(sdk219_python), str(DRIVER), scenario, json.dumps(payload)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    return run
