"""Restarting on the same database file keeps everything and resumes unfinished jobs."""

from __future__ import annotations

from pathlib import Path

from prefect_llamabatch.emulator import EmulatorConfig, run_emulator
from tests.emulator.conftest import DIRS, JOBS, all_items, client_for, create_job


def test_restart_on_the_same_db_keeps_state_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    config = EmulatorConfig(db_path=db, time_scale=0.01, start_frozen=True)
    with run_emulator(config) as emu:
        docs = emu.admin.seed_directory({f"{i}.txt": f"text {i}" for i in range(6)})
        with client_for(emu) as api:
            done = create_job(api, item_ids=[docs.files["0.txt"]])
            emu.admin.advance(1)
            assert emu.admin.ground_truth(done["id"]).job(done["id"]).status_value == "completed"
            running = create_job(
                api, directory_id=docs.id, job_config={"parameters": {"fast_mode": True}}
            )
            # Two items finish, two are handed out and left in flight, two stay pending.
            emu.admin.advance(2)
            emu.admin.settings(time_scale=1.0, item_duration_seconds=60.0, concurrency=2)
            emu.admin.resume()
            truth = emu.admin.ground_truth(running["id"]).job(running["id"])
            for _ in range(500):
                if truth.counts["processing"] == 2:
                    break
                truth = emu.admin.ground_truth(running["id"]).job(running["id"])
            assert truth.counts == {
                "pending": 2,
                "processing": 2,
                "completed": 2,
                "failed": 0,
                "skipped": 0,
                "cancelled": 0,
            }
            before_results = api.get(
                f"{JOBS}/items/{docs.files['0.txt']}/processing-results"
            ).json()
            port = emu.port
        emu.restart()  # same port, same file; the start config is frozen again
        assert emu.port == port
        with client_for(emu) as api:
            # Nothing was lost: directories, files, jobs, items, results.
            assert api.get(f"{DIRS}/{docs.id}/files").json()["items"][0]["display_name"] == "0.txt"
            assert api.get(f"{JOBS}/{done['id']}").json()["job"]["status"] == "completed"
            after_results = api.get(f"{JOBS}/items/{docs.files['0.txt']}/processing-results").json()
            assert after_results == before_results
            truth = emu.admin.ground_truth(running["id"]).job(running["id"])
            # Items that were processing went back to pending.
            assert truth.counts["processing"] == 0 and truth.counts["pending"] == 4
            assert truth.status_value == "running"
            statuses = [i["status"] for i in all_items(api, running["id"])]
            assert statuses == ["completed"] * 2 + ["pending"] * 4
            emu.admin.resume()
            resumed = emu.admin.wait_for_job(running["id"])
            assert resumed.status_value == "completed" and resumed.counts["completed"] == 6


def test_a_second_emulator_on_the_same_file_sees_the_first_ones_state_and_key_convenience(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    with run_emulator(db_path=db, time_scale=0.01, idempotency_keys=True) as first:
        docs = first.admin.seed_directory({"a.txt": "alpha"})
        with client_for(first) as api:
            job = create_job(api, directory_id=docs.id, job_config={})
            first.admin.wait_for_job(job["id"])
            key = "job-1"
            replay = api.post(
                JOBS,
                json={"directory_id": docs.id, "job_config": {}},
                headers={"Idempotency-Key": key},
            ).json()
    assert (tmp_path / "state.db.data" / "files").is_dir()  # uploads live next to the db
    with run_emulator(db_path=db, time_scale=0.01, idempotency_keys=True) as second:
        with client_for(second) as api:
            listed = [j["id"] for j in api.get(JOBS).json()["items"]]
            assert listed == [job["id"], replay["id"]]
            again = api.post(
                JOBS,
                json={"directory_id": docs.id, "job_config": {}},
                headers={"Idempotency-Key": key},
            ).json()
            assert again["id"] == replay["id"]  # idempotency keys survive a restart too
            item = docs.files["a.txt"]
            result = api.get(f"{JOBS}/items/{item}/processing-results").json()
            output = result["processing_results"][0]["output_s3_path"]
            assert second.admin.read_output(output) == "alpha\n"


def test_in_memory_restart_keeps_state_within_the_process() -> None:
    with run_emulator(time_scale=0.01) as emu:
        docs = emu.admin.seed_directory({"a.txt": "alpha"})
        emu.restart()
        with client_for(emu) as api:
            assert api.get(f"{DIRS}/{docs.id}").status_code == 200
