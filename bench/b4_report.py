"""B4: ``report_failed_items`` over 10,000 failed items, end to end in Prefect, vs a naive flow.

Both run as Prefect flows on a real (temporary) Prefect API against the emulator in its own
process, on a job whose 10,000 items all failed (empty files).

* ours: ``report_failed_items(credentials, job_id)`` with its defaults (pages of 200, 8 chunk
  tasks at a time, table and summary artifacts).
* naive: the pattern the issue warns about: one task lists the failed items (sequential pages of
  100), then ``.map`` runs one Prefect task per item to turn it into a report row, then one table
  artifact.

Both are warmed up on a 10-item job first (the first flow run in a process pays for imports).
"""

from __future__ import annotations

from typing import Any

from harness import (
    Context,
    EmulatorProcess,
    Section,
    Target,
    count,
    ratio,
    request_delta,
    secs,
    task_runs_of,
    timed,
)

TITLE = "B4 · report_failed_items over 10,000 failed items vs one Prefect task per item"


def _failed_job(emu: EmulatorProcess, n: int) -> str:
    emu.admin.freeze()
    job_id = emu.job_of(n, content=b"", name=f"failing-{n}")
    emu.admin.advance(n)
    emu.admin.wait_for_job(job_id, timeout=600)
    return job_id


def _naive_flow(credentials: Any) -> Any:
    from prefect import flow, task
    from prefect.artifacts import create_table_artifact
    from prefect.cache_policies import NO_CACHE

    from prefect_llamabatch.models import JobItem
    from prefect_llamabatch.orchestration.results import FailedItem

    @task(name="list-failed-items", cache_policy=NO_CACHE)
    def list_failed(job_id: str) -> list[JobItem]:
        with credentials.get_client() as client:
            return list(client.iter_items(job_id, status="failed", concurrency=1))

    @task(name="report-one-item", cache_policy=NO_CACHE)
    def report_one(item: JobItem, job_id: str) -> FailedItem:
        return FailedItem.from_item(item, batch_job_id=job_id)

    @flow(name="naive-report-failed-items")
    def naive(job_id: str) -> list[FailedItem]:
        items = list_failed(job_id)
        futures = report_one.map(items, job_id=job_id)
        failed = [f.result() for f in futures]
        create_table_artifact(
            [{"item_id": f.item_id, "error": f.error_message} for f in failed[:200]],
            key="naive-failed-items",
        )
        return failed

    return naive


def run(ctx: Context) -> Section:
    n_items = 1_000 if ctx.quick else 10_000
    ctx.prefect()
    from prefect_llamabatch import LlamaCloudCredentials
    from prefect_llamabatch.orchestration.reporting import report_failed_items

    rows = []
    walls: dict[str, float] = {}
    with EmulatorProcess() as emu:
        credentials = LlamaCloudCredentials(api_key=emu.api_key, base_url=emu.base_url)
        naive = _naive_flow(credentials)
        warmup = _failed_job(emu, 10)
        report_failed_items(credentials, warmup)
        naive(warmup)
        ctx.log(f"seeding and failing {n_items:,} items …")
        job_id = _failed_job(emu, n_items)

        sides = {
            "report_failed_items": lambda: report_failed_items(
                credentials, job_id, return_state=True
            ),
            "naive: one task per item (.map)": lambda: naive(job_id, return_state=True),
        }
        # The naive flow runs the listing task, then one task per item.
        by_construction = {"naive: one task per item (.map)": n_items + 1}
        lagging = ""
        for name, side in sides.items():
            with request_delta(emu) as delta:
                state, wall, cpu = timed(side)
            if not state.is_completed():
                raise RuntimeError(f"{name}: {state}")
            result = state.result()
            found = len(result.failed) if hasattr(result, "failed") else len(result)
            if found != n_items:
                raise RuntimeError(f"{name} reported {found} failed items, expected {n_items}")
            walls[name] = wall
            submitted = by_construction.get(name)
            task_runs = task_runs_of(
                state.state_details.flow_run_id, expected=submitted, timeout=30
            )
            if submitted is not None and task_runs < submitted:
                # The API records task runs from events; 10,000 of them take minutes to land.
                lagging = (
                    f"The naive flow ran {submitted:,} task runs; 30 s after it returned the "
                    f"Prefect API had recorded {task_runs:,} of them (its event recorder was "
                    "still catching up)."
                )
                task_runs = submitted
            ctx.log(f"{name}: {secs(wall)}, {task_runs:,} task runs, {delta['total']} requests")
            rows.append(
                [name, secs(wall), secs(cpu), count(task_runs), count(delta["total"]), count(found)]
            )
    ours, naive_wall = walls["report_failed_items"], walls["naive: one task per item (.map)"]
    for row in rows:
        row.insert(2, ratio(naive_wall / walls[row[0]]))
    judged = not ctx.quick
    return Section(
        id="B4",
        title=TITLE.replace("10,000", f"{n_items:,}"),
        columns=["flow", "wall", "speed-up", "client CPU", "task runs", "requests", "items"],
        rows=rows,
        targets=[
            Target(
                "B4 report_failed_items vs one task per item",
                "≥ 10× faster",
                ratio(naive_wall / ours),
                (naive_wall / ours >= 10) if judged else None,
            ),
            Target(
                f"B4 report_failed_items, {n_items:,} failed items",
                "≤ 20 s",
                secs(ours),
                (ours <= 20) if judged else None,
            ),
        ],
        notes=[
            "Wall time is the flow call, end to end (flow and task runs recorded on the Prefect "
            "API, artifacts created). Task runs are read back from the API; requests are "
            "counted by the emulator. Prefect's default thread-pool task runner for both.",
            *([lagging] if lagging else []),
            "Task-run logs at WARNING (the bench sets PREFECT_LOGGING_LEVEL), which only "
            "flatters the naive flow.",
        ],
    )
