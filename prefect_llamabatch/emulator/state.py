"""Everything one running emulator holds, shared by the API, the admin API and the scheduler."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_llamabatch.emulator.auth import KeyRing
from prefect_llamabatch.emulator.faults import FaultInjector, Outage, RequestLog
from prefect_llamabatch.emulator.layout import blob_path
from prefect_llamabatch.emulator.outcomes import OutcomeSettings
from prefect_llamabatch.emulator.scheduler import ProcessingSettings, Scheduler
from prefect_llamabatch.emulator.settings import EmulatorConfig
from prefect_llamabatch.emulator.store import Store, new_id

__all__ = ["EmulatorState", "processing_settings"]

MAX_UPLOAD_BYTES = 512 * 1024 * 1024  # the platform's published maximum file size


def processing_settings(config: EmulatorConfig) -> ProcessingSettings:
    """The scheduler settings an emulator config implies."""
    return ProcessingSettings(
        item_duration_seconds=config.item_duration_seconds,
        time_scale=config.time_scale,
        concurrency=config.concurrency,
        dispatched_status=config.dispatched_status,
        outcome=OutcomeSettings(
            failure_patterns=tuple(config.failure_patterns),
            transient_failure_patterns=tuple(config.transient_failure_patterns),
            failure_rate=config.failure_rate,
            seed=config.seed,
            max_file_size_bytes=config.max_file_size_bytes,
        ),
    )


@dataclass
class EmulatorState:
    """The live parts of one emulator (attached to the app as ``app.state.emulator``)."""

    config: EmulatorConfig
    store: Store
    data_dir: Path
    keys: KeyRing
    scheduler: Scheduler
    faults: FaultInjector
    outage: Outage
    log: RequestLog
    initial_config: EmulatorConfig
    base_url: str = ""

    @classmethod
    def build(cls, config: EmulatorConfig, store: Store, data_dir: Path) -> EmulatorState:
        """Wire the parts together (the scheduler starts with the app's lifespan)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            config=config,
            store=store,
            data_dir=data_dir,
            keys=KeyRing(config.api_keys),
            scheduler=Scheduler(
                store, data_dir, processing_settings(config), frozen=config.start_frozen
            ),
            faults=FaultInjector(config.faults),
            outage=Outage(),
            log=RequestLog(size=config.request_log_size),
            initial_config=config,
        )

    def save_blob(
        self,
        project_id: str,
        *,
        name: str,
        data: bytes,
        external_file_id: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        """Store uploaded bytes on disk and record them; returns the blob row."""
        blob_id = new_id()
        target = blob_path(self.data_dir, blob_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return self.store.add_blob(
            project_id,
            name=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            external_file_id=external_file_id,
            purpose=purpose,
            blob_id=blob_id,
        )

    def wipe(self) -> None:
        """Back to how it started: no rows, files, outputs or logged requests, no outage, and the
        faults, settings and frozen state of the start configuration."""
        self.store.reset()
        for sub in ("files", "outputs"):
            shutil.rmtree(self.data_dir / sub, ignore_errors=True)
        self.log.clear()
        self.outage.clear()
        self.config = self.initial_config
        self.faults.configure(self.config.faults)
        self.scheduler.settings = processing_settings(self.config)
        if self.config.start_frozen:
            self.scheduler.freeze()
        else:
            self.scheduler.resume()

    # Presigned download URLs: an HMAC of the file id and expiry under the admin token.
    def sign_download(self, file_id: str, ttl_seconds: int = 3600) -> tuple[str, int]:
        """A signed download URL for a file and its expiry (unix seconds)."""
        expires = int(time.time()) + ttl_seconds
        signature = self._signature(file_id, expires)
        url = (
            f"{self.base_url}/_emulator/download/{file_id}?expires={expires}&signature={signature}"
        )
        return url, expires

    def check_download(self, file_id: str, expires: int, signature: str) -> bool:
        """Whether a download URL's signature is valid and not expired."""
        if expires < time.time():
            return False
        return hmac.compare_digest(self._signature(file_id, expires), signature)

    def _signature(self, file_id: str, expires: int) -> str:
        key = self.config.admin_token.get_secret_value().encode()
        return hmac.new(key, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()
