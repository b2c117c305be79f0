"""How a finished v2 batch's outcomes are read: one directory listing, job lookups in groups.

Against the emulator as a real HTTP server. A batch of 120 files (above one lookup group of
``MAX_IDS_PER_LOOKUP`` ids) must be read in a few grouped requests, never one per file.
"""

from __future__ import annotations

import time

from prefect_llamabatch import LlamaCloudCredentials
from prefect_llamabatch.client.jobs_v2 import MAX_IDS_PER_LOOKUP
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.models.v2 import TERMINAL_BATCH_STATUSES
from prefect_llamabatch.orchestration.effects import tenant
from prefect_llamabatch.orchestration.v2_pipeline import read_batch_outcomes

FILES = {
    **{f"doc-{i:03d}.txt": f"document number {i}".encode() for i in range(117)},
    **{f"bad-{i}.txt": b"this one fails" for i in range(3)},
}


def _finished_batch(creds: LlamaCloudCredentials, directory_id: str) -> str:
    with creds.get_client() as client:
        batch = client.create_batch(directory_id, "cfg-PARSE_FAST")
        deadline = time.monotonic() + 60
        while batch.status not in TERMINAL_BATCH_STATUSES:
            assert time.monotonic() < deadline, f"batch {batch.id} still {batch.status}"
            time.sleep(0.05)  # polling an observable state, not guessing a duration
            batch = client.get_batch(batch.id)
    return batch.id


def test_a_batch_of_120_files_reads_its_outcomes_in_grouped_lookups(
    emu: Emulator, creds: LlamaCloudCredentials
) -> None:
    directory = emu.admin.seed_directory(FILES, name="many").id
    batch_id = _finished_batch(creds, directory)
    before = emu.admin.request_counts()

    run = read_batch_outcomes(creds, batch_id, tenant())

    after = emu.admin.request_counts()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    names = {o.item_name: o for o in run.outcomes}
    assert set(names) == set(FILES)
    assert {n for n, o in names.items() if o.status == "failed"} == {
        "bad-0.txt",
        "bad-1.txt",
        "bad-2.txt",
    }
    assert all(o.status == "completed" for n, o in names.items() if n.startswith("doc-"))
    assert all(o.job_id and o.batch_id == batch_id for o in run.outcomes)
    # Item ids are the ids of the files of the batch's directory.
    with creds.get_client() as client:
        ids = {f.id: f.display_name for f in client.iter_directory_files(directory)}
    assert {o.item_id: o.item_name for o in run.outcomes} == ids
    # One listing page for the directory, ceil(120 / group) job lookups, no per-file request.
    assert delta.get("list_files") == 1
    assert delta.get("list_parse_jobs") == -(-len(FILES) // MAX_IDS_PER_LOOKUP)
    assert delta.get("get_parse_job", 0) == 0
    assert run.api_calls == sum(v for k, v in delta.items() if k != "total")
