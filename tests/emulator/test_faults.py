"""Fault injection: every kind, deterministic with a seed, per route, at start and at run time;
the outage switch; and what a commit-then-fail leaves behind."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator, FaultConfig, FaultRule
from tests.emulator.conftest import JOBS, client_for, create_job


def _status_sequence(api: httpx.Client, n: int) -> list[int]:
    return [api.get(JOBS).status_code for _ in range(n)]


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body_check"),
    [
        ("http_429", 429, "application/json", lambda r: "detail" in r.json()),
        ("http_500", 500, "application/json", lambda r: "detail" in r.json()),
        ("http_502", 502, "text/html", lambda r: "502 Bad Gateway" in r.text),
        ("http_503", 503, "text/plain", lambda r: "upstream" in r.text),
        ("http_504", 504, "text/html", lambda r: "504 Gateway Time-out" in r.text),
    ],
)
def test_http_faults_have_realistic_bodies(
    emu: Emulator, api: httpx.Client, kind: str, status: int, content_type: str, body_check: object
) -> None:
    emu.admin.set_faults([FaultRule(route="list_jobs", kind=kind, count=1, retry_after=2)])
    response = api.get(JOBS)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(content_type)
    assert callable(body_check) and body_check(response)
    if status in (429, 503):
        assert response.headers["retry-after"] == "2"
    assert api.get(JOBS).status_code == 200  # count=1: only the first request
    log = emu.admin.request_log()
    assert [(r.route, r.status, r.fault) for r in log] == [
        ("list_jobs", status, kind),
        ("list_jobs", 200, None),
    ]


def test_faults_hit_only_their_routes(emu: Emulator, api: httpx.Client) -> None:
    emu.admin.set_faults(["list_*:500"])
    docs = emu.admin.seed_directory({"a.txt": "a"})
    job = create_job(api, directory_id=docs.id)
    assert api.get(f"{JOBS}/{job['id']}").status_code == 200
    assert api.get(JOBS).status_code == 500
    assert api.get(f"{JOBS}/{job['id']}/items").status_code == 500
    assert api.get(f"/api/v1/beta/directories/{docs.id}/files").status_code == 500
    assert api.get(f"/api/v1/beta/directories/{docs.id}").status_code == 200


def test_rate_faults_are_deterministic_for_a_seed(emu: Emulator, api: httpx.Client) -> None:
    faults = FaultConfig(seed=42, rules=[FaultRule(route="list_jobs", kind="http_503", rate=0.5)])
    emu.admin.set_faults(faults)
    first = _status_sequence(api, 40)
    emu.admin.set_faults(faults)  # same seed: the same requests fail again
    assert _status_sequence(api, 40) == first
    assert 5 < first.count(503) < 35
    emu.admin.set_faults(faults.model_copy(update={"seed": 43}))
    assert _status_sequence(api, 40) != first
    stats = emu.admin.fault_stats()
    assert stats[0]["seen"] == 40


def test_after_and_count_pick_exact_requests(emu: Emulator, api: httpx.Client) -> None:
    emu.admin.set_faults([FaultRule(route="*", kind="http_500", after=2, count=2)])
    assert _status_sequence(api, 6) == [200, 200, 500, 500, 200, 200]


@pytest.mark.llamacloud_emulator(
    faults={"seed": 1, "rules": [{"route": "get_job", "kind": "http_429", "count": 1}]}
)
def test_faults_configured_at_start_and_restored_by_reset(emu: Emulator, api: httpx.Client) -> None:
    assert api.get(f"{JOBS}/bjb-x").status_code == 429
    assert api.get(f"{JOBS}/bjb-x").status_code == 404
    emu.admin.clear_faults()
    emu.admin.reset()  # back to the start config: its fault fires again
    assert api.get(f"{JOBS}/bjb-x").status_code == 429


def test_latency_makes_a_short_timeout_expire(emu: Emulator) -> None:
    emu.admin.set_faults([FaultRule(route="list_jobs", kind="latency", latency_seconds=2.0)])
    with client_for(emu, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(JOBS)
    emu.admin.set_faults([FaultRule(route="list_jobs", kind="latency", latency_seconds=0.01)])
    with client_for(emu) as patient:
        assert patient.get(JOBS).status_code == 200
    assert emu.admin.request_log()[-1].fault == "latency"
    # The abandoned 2 s request is still sleeping in the server: wait until it is logged, or
    # it would land in the request log of the next test that gets this pooled emulator.
    deadline = time.monotonic() + 30
    while len(emu.admin.request_log()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(emu.admin.request_log()) == 2


def test_drop_closes_the_connection_before_any_response(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults([FaultRule(route="create_job", kind="drop", count=1)])
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(JOBS, json={"directory_id": docs.id, "job_config": {}})
    # Dropped before the handler ran: nothing was created.
    assert emu.admin.ground_truth().jobs == []
    assert emu.admin.request_log()[-1].status == 0
    assert create_job(api, directory_id=docs.id)["total_items"] == 1


def test_malformed_json_after_the_work_was_done(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults([FaultRule(route="create_job", kind="malformed_json", count=1)])
    response = api.post(JOBS, json={"directory_id": docs.id, "job_config": {}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert len(emu.admin.ground_truth().jobs) == 1


@pytest.mark.llamacloud_emulator(idempotency_keys=True)
def test_commit_then_fail_stores_the_job_and_answers_500_idempotency_convenience(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults(["create_job:commit_then_fail:1:1"])
    body = {"directory_id": docs.id, "job_config": {}}
    headers = {"Idempotency-Key": "flow-run-7"}
    failed = api.post(JOBS, json=body, headers=headers)
    assert failed.status_code == 500
    truth = emu.admin.ground_truth()
    assert len(truth.jobs) == 1  # the job exists although the client saw an error
    assert truth.jobs[0].idempotency_key == "flow-run-7"
    # The client retries with the same key and gets that job, not a second one.
    retried = api.post(JOBS, json=body, headers=headers)
    assert retried.status_code == 200
    assert retried.json()["id"] == truth.jobs[0].id
    assert len(emu.admin.ground_truth().jobs) == 1
    # Without a key, the same retry would have started a duplicate job.
    emu.admin.set_faults(["create_job:commit_then_fail:1:1"])
    assert api.post(JOBS, json=body).status_code == 500
    assert api.post(JOBS, json=body).status_code == 200
    assert len(emu.admin.ground_truth().jobs) == 3


def test_commit_then_drop_stores_the_job_and_drops(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    emu.admin.set_faults([FaultRule(route="create_job", kind="commit_then_drop", count=1)])
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(JOBS, json={"directory_id": docs.id, "job_config": {}})
    assert len(emu.admin.ground_truth().jobs) == 1


def test_outage_for_a_while_or_until_cleared(emu: Emulator, api: httpx.Client) -> None:
    emu.admin.outage()
    for path in (JOBS, "/api/v1/beta/directories", f"{JOBS}/bjb-x"):
        response = api.get(path)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    assert emu.admin.ground_truth().jobs == []  # the admin API is not affected
    emu.admin.end_outage()
    assert api.get(JOBS).status_code == 200
    emu.admin.outage(mode="drop")
    with pytest.raises(httpx.TransportError):
        api.get(JOBS)
    emu.admin.end_outage()
    emu.admin.outage(seconds=0)  # already over: the next request goes through
    assert api.get(JOBS).status_code == 200


# Its own server (a config no other test uses): exact counts must not see a request that another
# test's leftover thread sends to the shared, pooled default emulator after its reset.
@pytest.mark.llamacloud_emulator(admin_token="request-counts-own-server")
def test_request_counts_per_route(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "a"})
    job = create_job(api, directory_id=docs.id)
    for _ in range(3):
        api.get(f"{JOBS}/{job['id']}")
    api.get("/api/v1/nothing-here")
    counts = emu.admin.request_counts()
    assert counts == {"create_job": 1, "get_job": 3, "unmatched": 1}
    assert emu.admin.ground_truth().request_counts == counts
    assert [r.route for r in emu.admin.request_log(limit=2)] == ["get_job", "unmatched"]


def test_fault_specs_parse_and_reject_nonsense() -> None:
    assert FaultRule.parse("*:latency=0.3:0.5") == FaultRule(
        route="*", kind="latency", latency_seconds=0.3, rate=0.5
    )
    assert FaultRule.parse("get_job:429=5").retry_after == 5
    for bad in ("get_job", "get_job:teapot", "get_job:503:often", "get_job:503:2.0", "a:b:c:d:e"):
        with pytest.raises(ValueError):
            FaultRule.parse(bad)


def test_response_latency_setting_delays_every_api_request(emu: Emulator) -> None:
    emu.admin.settings(response_latency=2.0)
    with client_for(emu, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(JOBS)
    emu.admin.settings(response_latency=0.0)
    with client_for(emu, timeout=0.2) as client:
        assert client.get(JOBS).status_code == 200


def test_a_fault_route_that_matches_nothing_is_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="matches no route"):
        FaultRule(route="get_jobs", kind="http_500")
    response = httpx.put(
        f"{emu.base_url}/_emulator/faults",
        json={"rules": [{"route": "typo", "kind": "http_500"}]},
        headers={"X-Emulator-Admin-Token": emu.admin_token},
    )
    assert response.status_code == 422
    assert "matches no route" in response.text
    with pytest.raises(httpx.HTTPStatusError, match="concurrency"):
        emu.admin.settings(concurrency=0)
