"""``llamabatch upload`` over a folder it uploaded before (issue 11, B8): a rerun over the
unchanged folder sends only the directory's listing; "unchanged" is decided by content, never by
size or modification time; an entry without the hash this package records is uploaded again;
uploads in flight stay within the concurrency."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import httpx

from prefect_llamabatch import BatchClient
from prefect_llamabatch.cli import ExitCode
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.orchestration.drivers import SyncDriver, drive
from prefect_llamabatch.orchestration.effects import Monotonic, Sleep, UploadFile
from prefect_llamabatch.orchestration.uploads import (
    UPLOAD_RATE_WINDOW,
    UploadPace,
    scan_folder,
    upload_steps,
)

N_FILES = 130  # more than one page (100) of the directory's listing


def _folder(root: Path) -> Path:
    folder = root / "many"
    for i in range(N_FILES):
        sub = folder / f"part-{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"doc-{i:03d}.txt").write_text(f"document {i:03d}")
    return folder


def _delta(emu: Emulator, before: dict[str, int]) -> dict[str, int]:
    after = emu.admin.request_counts()
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def _upload(cli: Any, *args: str) -> dict[str, Any]:
    done = cli("upload", *args, "--json")
    assert done.code == ExitCode.OK, done.err
    result: dict[str, Any] = done.json()
    return result


def test_a_rerun_over_the_unchanged_folder_costs_what_a_listing_costs(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    first = _upload(cli, str(folder), "--directory-name", "many")
    assert len(first["uploaded"]) == N_FILES
    directory_id = first["directory_id"]

    before = emu.admin.request_counts()
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        assert len(list(client.iter_directory_files(directory_id))) == N_FILES
    listing = _delta(emu, before)
    assert listing == {"list_files": 2}

    before = emu.admin.request_counts()
    again = _upload(cli, str(folder), "--directory-id", directory_id)
    assert again["uploaded"] == [] and len(again["unchanged"]) == N_FILES
    assert again["files"] == first["files"]  # the same items
    assert _delta(emu, before) == listing  # nothing but the listing
    assert again["api_calls"] == sum(listing.values())


def test_a_changed_file_of_the_same_size_and_time_is_uploaded_again(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    first = _upload(cli, str(folder), "--directory-name", "same-size")
    edited = folder / "part-1" / "doc-007.txt"
    stat = edited.stat()
    edited.write_text("DOCUMENT 007")  # same length
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same modification time
    assert edited.stat().st_size == stat.st_size

    before = emu.admin.request_counts()
    again = _upload(cli, str(folder), "--directory-name", "same-size")
    assert again["directory_id"] == first["directory_id"]
    assert again["uploaded"] == ["part-1/doc-007.txt"]
    assert _delta(emu, before).get("upload_file") == 1
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        (entry,) = client.list_directory_files(
            first["directory_id"], unique_id="part-1/doc-007.txt"
        ).items
    (local,) = [f for f in scan_folder(folder).files if f.relative == "part-1/doc-007.txt"]
    assert entry.metadata is not None and entry.metadata["sha256"] == local.sha256


def test_an_entry_without_the_recorded_hash_is_uploaded_again(
    cli: Any, emu: Emulator, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.txt").write_text("beta")
    # The same unique ids and contents, put there by something else: no hash in the metadata.
    directory_id = emu.admin.seed_directory({}, name="mixed").id
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        client.upload_file(directory_id, folder / "a.txt", unique_id="a.txt")
        client.upload_file(
            directory_id, folder / "b.txt", unique_id="b.txt", metadata={"sha256": "0" * 64}
        )
    again = _upload(cli, str(folder), "--directory-id", directory_id)
    assert sorted(again["uploaded"]) == ["a.txt", "b.txt"] and again["unchanged"] == []
    third = _upload(cli, str(folder), "--directory-id", directory_id)
    assert third["uploaded"] == [] and sorted(third["unchanged"]) == ["a.txt", "b.txt"]


class _InFlight(httpx.BaseTransport):
    """A real HTTP transport that keeps the most requests it had in flight at once."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self._now = 0
        self.peak = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self._now += 1
            self.peak = max(self.peak, self._now)
        try:
            return self._inner.handle_request(request)
        finally:
            with self._lock:
                self._now -= 1

    def close(self) -> None:
        self._inner.close()


def _new_directory_steps(folder: Path, *, max_concurrency: int, **rate: Any) -> Any:
    """The upload steps of ``folder`` into a new ephemeral directory."""
    return upload_steps(
        folder,
        directory_id=None,
        directory_name=None,
        directory_type="ephemeral",
        max_concurrency=max_concurrency,
        organization_id=None,
        project_id=None,
        **rate,
    )


def test_uploads_in_flight_never_exceed_the_concurrency(emu: Emulator, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    meter = _InFlight()
    with (
        httpx.Client(transport=meter, timeout=60) as http,
        BatchClient(emu.api_key, base_url=emu.base_url, http_client=http) as client,
    ):
        result = drive(_new_directory_steps(folder, max_concurrency=3), SyncDriver(client))
    assert len(result.uploaded) == N_FILES
    assert 1 <= meter.peak <= 3


class _FakeClockDriver(SyncDriver):
    """The sync driver on a fake clock. Each worker thread keeps its own time (when it read the
    clock, plus what it slept since), so an upload's start is the time its steps chose for it,
    whatever the threads' scheduling; the shared clock is the latest any thread reached."""

    def __init__(self, client: BatchClient) -> None:
        super().__init__(client)
        self.now = 0.0
        self.starts: list[float] = []
        self._lock = threading.Lock()
        self._own: dict[int, float] = {}

    def perform(self, effect: Any) -> Any:
        me = threading.get_ident()
        with self._lock:
            if isinstance(effect, Monotonic):
                self._own[me] = self.now
                return self.now
            if isinstance(effect, Sleep):
                self._own[me] = self._own.get(me, self.now) + effect.seconds
                self.now = max(self.now, self._own[me])
                return None
            if isinstance(effect, UploadFile):
                self.starts.append(self._own.get(me, self.now))
        return super().perform(effect)


def test_uploads_start_at_most_rate_limit_per_window(emu: Emulator, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"f{i:02}.txt").write_text(f"file {i}")
    with BatchClient(emu.api_key, base_url=emu.base_url) as client:
        driver = _FakeClockDriver(client)
        result = drive(_new_directory_steps(folder, max_concurrency=4, rate_limit=5), driver)
    assert len(result.uploaded) == 12
    starts = sorted(driver.starts)
    assert len(starts) == 12
    # No 6 starts inside one 5 s window; 12 uploads at 5 per 5 s need two full windows.
    assert all(
        later - earlier >= UPLOAD_RATE_WINDOW
        for earlier, later in zip(starts, starts[5:], strict=False)
    )
    assert starts[-1] >= 2 * UPLOAD_RATE_WINDOW


def test_upload_pace_never_admits_more_than_its_limit_in_a_window() -> None:
    pace = UploadPace(limit=3, window=2.0)
    arrivals = [0.0, 0.0, 0.1, 0.1, 0.5, 1.9, 2.0, 2.0, 4.5, 4.6, 4.7, 4.8]
    starts = [now + pace.reserve(now) for now in arrivals]
    assert all(start >= now for start, now in zip(starts, arrivals, strict=True))
    assert all(b - a >= 2.0 for a, b in zip(starts, starts[3:], strict=False))
    # Never later than needed: the first three start at once, the fourth when the first's
    # window ends.
    assert starts[:4] == [0.0, 0.0, 0.1, 2.0]
