"""Helpers of the reliability and security suite (see docs/reliability.md)."""

from __future__ import annotations

from prefect_llamabatch.emulator import Emulator

# Canary secrets: distinctive strings that must never show up anywhere observable.
CANARY_KEY = "llx-CANARYKEY-5f1b9c7e2d4a"
CANARY = "CANARYSECRET-8e2f4a6c"


def api_requests(emu: Emulator) -> list[str]:
    """The ``/api`` requests the emulator has received, as ``METHOD path`` lines."""
    return [f"{r.method} {r.path}" for r in emu.admin.request_log()]
