"""One ``BatchClient`` shared by several threads (issue 10, item 7), against the emulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from prefect_llamabatch import BatchClient
from prefect_llamabatch.emulator import Emulator

THREADS = 8


def test_eight_threads_iterate_items_through_one_client(llamacloud_emulator: Emulator) -> None:
    emu = llamacloud_emulator
    seeded = emu.admin.seed_directory({f"doc-{i:02d}.txt": f"text {i}" for i in range(40)})
    with BatchClient(emu.api_key, base_url=emu.base_url, project_id=emu.project_id) as client:
        job = client.create_job({"directory_id": seeded.id, "job_config": {}})
        emu.admin.wait_for_job(job.id)
        before = client.stats.requests

        def items(n: int) -> list[str]:
            # Each thread asks for another page concurrency, above max_concurrency (8): the
            # page fetches of all threads run at once, each in its own workers.
            got = client.iter_items(job.id, page_size=4, concurrency=THREADS + 1 + n)
            return [item.item_id for item in got]

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(items, range(THREADS)))
            statuses = list(pool.map(lambda _n: client.get_job(job.id), range(THREADS)))
    truth = emu.admin.ground_truth(job.id).job(job.id)
    expected = [item.item_id for item in sorted(truth.items, key=lambda i: i.pos)]
    assert len(expected) == 40
    assert results == [expected] * THREADS
    assert {s.job.id for s in statuses} == {job.id}
    # The counters are shared and exact: 10 pages per thread, plus the polls.
    assert client.stats.requests - before == THREADS * 10 + THREADS
