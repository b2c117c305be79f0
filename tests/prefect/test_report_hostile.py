"""report_failed_items against servers that lie: it reports the listing's truth or refuses.

The report used to page by offsets itself, bounded by the job's counters: a server that ignores
``offset`` produced a report with every item repeated, and a counter that under-reports failures
produced a report that missed them. It now lists through the client's trusted paging.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from prefect_llamabatch.client.paging import ListingError
from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.orchestration.reporting import report_failed_items
from tests.reliability.scripted_server import (
    Reply,
    ScriptedServer,
    Seen,
    json_reply,
    scripted_server,
)

KEY = "llx-report-hostile-0123456789"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as running:
        yield running


def _job(failed_items: int) -> dict[str, Any]:
    return {
        "job": {
            "id": "bjb-1",
            "job_type": "parse",
            "project_id": "p",
            "status": "completed",
            "total_items": 6,
            "processed_items": 6,
            "failed_items": failed_items,
            "directory_id": "dir-1",
        },
        "progress_percentage": 100.0,
    }


def _item(i: int) -> dict[str, Any]:
    return {
        "item_id": f"dfl-{i}",
        "item_name": f"doc-{i}.pdf",
        "status": "failed",
        "error_message": "Invalid PDF",
    }


def _answer(failed_counter: int, *, honour_offset: bool, items: int = 5, cap: int = 2):
    def answer(seen: Seen) -> Reply:
        if seen.path.endswith("/items"):
            if seen.query.get("status") != "failed":
                return json_reply({"items": [], "total_size": None})
            offset = int(seen.query.get("offset", "0")) if honour_offset else 0
            page = [_item(i) for i in range(offset, min(items, offset + cap))]
            return json_reply({"items": page})  # capped below the limit, no total_size
        return json_reply(_job(failed_counter))

    return answer


def test_a_counter_that_under_reports_failures_does_not_shorten_the_report(
    server: ScriptedServer, prefect_api: str
) -> None:
    server.reset(_answer(failed_counter=0, honour_offset=True))  # type: ignore[arg-type]
    creds = LlamaCloudCredentials(api_key=KEY, base_url=server.base_url)
    report = report_failed_items(creds, "bjb-1", page_size=4, artifacts=False)
    assert [f.item_id for f in report.failed] == [f"dfl-{i}" for i in range(5)]


def test_a_server_that_ignores_offset_is_refused_not_reported_twice(
    server: ScriptedServer, prefect_api: str
) -> None:
    server.reset(_answer(failed_counter=5, honour_offset=False))  # type: ignore[arg-type]
    creds = LlamaCloudCredentials(api_key=KEY, base_url=server.base_url)
    with pytest.raises(ListingError):
        report_failed_items(creds, "bjb-1", page_size=4, artifacts=False)
