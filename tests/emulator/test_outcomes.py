"""Every documented outcome rule, over HTTP, plus the renderers and the hash as pure functions."""

from __future__ import annotations

import json

import httpx
import pytest

from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.emulator.outcomes import (
    UnreadableDocument,
    classify_text,
    parameters_hash,
    render_markdown,
    seeded_fraction,
)
from prefect_llamabatch.models import BatchParseJobRecordCreate, ClassifierRule, ClassifyJobConfig
from tests.emulator.conftest import JOBS, all_items, create_job

# These tests check the emulator's own listing order: oldest first (the fixture's order would
# otherwise follow --llamacloud-list-order; newest first is tested in test_batch_api.py).
pytestmark = pytest.mark.llamacloud_emulator(list_order="oldest_first")

PDF = b"%PDF-1.4\n1 0 obj << >> stream\nBT /F1 12 Tf (Hello PDF world) Tj ET\nendstream\n%%EOF"


def _run(emu: Emulator, api: httpx.Client, **body: object) -> dict[str, dict[str, object]]:
    job = create_job(api, **body)
    emu.admin.wait_for_job(job["id"])
    return {i["item_name"]: i for i in all_items(api, job["id"])}


def _output(emu: Emulator, api: httpx.Client, item_id: object, job_type: str = "parse") -> str:
    results = api.get(
        f"{JOBS}/items/{item_id}/processing-results", params={"job_type": job_type}
    ).json()["processing_results"]
    return emu.admin.read_output(results[-1]["output_s3_path"])


def test_unreadable_files_fail_with_realistic_messages(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory(
        {
            "empty.txt": b"",
            "fake.pdf": b"<html>not a pdf</html>",
            "latin1.txt": "café".encode("latin-1"),
            "broken.json": b'{"a": ',
            "good.pdf": PDF,
            "good.txt": b"fine",
        }
    )
    items = _run(emu, api, directory_id=docs.id)
    assert items["empty.txt"]["status"] == "failed"
    assert "empty" in str(items["empty.txt"]["error_message"])
    assert "not a valid PDF" in str(items["fake.pdf"]["error_message"])
    assert "invalid UTF-8" in str(items["latin1.txt"]["error_message"])
    assert "invalid JSON" in str(items["broken.json"]["error_message"])
    assert items["good.pdf"]["status"] == "completed"
    assert items["good.txt"]["status"] == "completed"
    assert _output(emu, api, docs.files["good.pdf"]).strip() == "Hello PDF world"
    for name in ("empty.txt", "fake.pdf", "latin1.txt", "broken.json"):
        assert items[name]["skip_reason"] is None


@pytest.mark.llamacloud_emulator(failure_patterns=["*corrupt*", "reports/*.bin"])
def test_failure_patterns_are_globs_on_the_name(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory(
        {"a-corrupt-file.txt": "ok text", "reports/x.bin": "ok", "fine.txt": "ok"}
    )
    items = _run(emu, api, directory_id=docs.id)
    assert items["a-corrupt-file.txt"]["status"] == "failed"
    assert "*corrupt*" in str(items["a-corrupt-file.txt"]["error_message"])
    assert items["reports/x.bin"]["status"] == "failed"
    assert items["fine.txt"]["status"] == "completed"
    # A permanent failure fails again on a retry.
    again = _run(emu, api, item_ids=[docs.files["a-corrupt-file.txt"]])
    assert again["a-corrupt-file.txt"]["status"] == "failed"


@pytest.mark.llamacloud_emulator(transient_failure_patterns=["flaky-*"])
def test_transient_failures_succeed_when_retried(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"flaky-1.txt": "one", "flaky-2.txt": "two", "ok.txt": "ok"})
    first = _run(emu, api, directory_id=docs.id)
    assert [first[n]["status"] for n in ("flaky-1.txt", "flaky-2.txt", "ok.txt")] == [
        "failed",
        "failed",
        "completed",
    ]
    assert "transient" in str(first["flaky-1.txt"]["error_message"])
    failed_ids = [docs.files["flaky-1.txt"], docs.files["flaky-2.txt"]]
    retry = _run(emu, api, item_ids=failed_ids)
    assert {i["status"] for i in retry.values()} == {"completed"}


@pytest.mark.llamacloud_emulator(failure_rate=0.3, seed=11)
def test_seeded_failure_rate_is_deterministic(emu: Emulator, api: httpx.Client) -> None:
    names = [f"doc-{i:03}.txt" for i in range(60)]
    expected = {n for n in names if seeded_fraction(11, n) < 0.3}
    assert 5 < len(expected) < 35  # the draw really does fail some and pass others
    docs = emu.admin.seed_directory(dict.fromkeys(names, "text"))
    items = _run(emu, api, directory_id=docs.id)
    failed = {n for n, i in items.items() if i["status"] == "failed"}
    assert failed == expected
    # Same seed, same names: the same files fail in a second job (not a one-off roll).
    again = _run(
        emu, api, directory_id=docs.id, job_config={"parameters": {"invalidate_cache": True}}
    )
    assert {n for n, i in again.items() if i["status"] == "failed"} == expected


@pytest.mark.llamacloud_emulator(max_file_size_bytes=10)
def test_files_above_the_size_limit_are_skipped(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"small.txt": "tiny", "big.txt": "x" * 11})
    items = _run(emu, api, directory_id=docs.id)
    assert items["small.txt"]["status"] == "completed"
    assert items["big.txt"]["status"] == "skipped"
    assert items["big.txt"]["skip_reason"] == "size_limit_exceeded"


def test_already_processed_items_are_skipped_unless_the_cache_is_bypassed(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory({"a.txt": "alpha", "b.txt": "beta"})
    params = {"parameters": {"parse_mode": "parse_page_with_llm"}}
    first = _run(emu, api, directory_id=docs.id, job_config=params)
    assert {i["status"] for i in first.values()} == {"completed"}
    second = _run(emu, api, directory_id=docs.id, job_config=params)
    assert {(i["status"], i["skip_reason"]) for i in second.values()} == {
        ("skipped", "already_processed")
    }
    # Other parameters: a different hash, processed again.
    other = _run(emu, api, directory_id=docs.id, job_config={"parameters": {"fast_mode": True}})
    assert {i["status"] for i in other.values()} == {"completed"}
    # invalidate_cache reprocesses; its result is kept for later jobs.
    fresh = {"parameters": {"parse_mode": "parse_page_with_llm", "invalidate_cache": True}}
    assert {
        i["status"] for i in _run(emu, api, directory_id=docs.id, job_config=fresh).values()
    } == {"completed"}
    # do_not_cache reprocesses and its result is not reused later.
    nocache = {"parameters": {"premium_mode": True, "do_not_cache": True}}
    for _ in range(2):
        run = _run(emu, api, directory_id=docs.id, job_config=nocache)
        assert {i["status"] for i in run.values()} == {"completed"}
    job = api.get(JOBS, params={"limit": 1000}).json()["items"][1]
    assert job["skipped_items"] == 2 and job["processed_items"] == 2


def test_a_changed_file_is_not_already_processed(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "v1"})
    _run(emu, api, directory_id=docs.id)
    # Re-upload under the same unique id: same item, new content.
    api.post(
        f"/api/v1/beta/directories/{docs.id}/files/upload",
        files={"upload_file": ("a.txt", b"v2")},
    ).raise_for_status()
    again = _run(emu, api, directory_id=docs.id)
    assert again["a.txt"]["status"] == "completed"
    assert _output(emu, api, docs.files["a.txt"]).strip() == "v2"


def test_job_fails_only_when_every_item_failed(emu: Emulator, api: httpx.Client) -> None:
    bad = emu.admin.seed_directory({"a.pdf": "x", "b.pdf": "y"})
    job = create_job(api, directory_id=bad.id)
    done = emu.admin.wait_for_job(job["id"])
    assert done.status == "failed"
    assert done.error_message == "All 2 items failed"
    mixed = emu.admin.seed_directory({"a.pdf": "x", "ok.txt": "fine"})
    job = create_job(api, directory_id=mixed.id)
    done = emu.admin.wait_for_job(job["id"])
    assert done.status == "completed" and done.failed_items == 1
    empty = api.post("/api/v1/beta/directories", json={"name": "nothing"}).json()
    job = create_job(api, directory_id=empty["id"])
    done = emu.admin.wait_for_job(job["id"])
    assert done.status == "completed" and done.total_items == 0
    assert api.get(f"{JOBS}/{job['id']}").json()["progress_percentage"] == 100.0


def test_parse_writes_markdown_renderings(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory(
        {
            "t.csv": "name,qty\nbolt,3\nnut|x,5\n",
            "d.json": '{"b": 1, "a": [1, 2]}',
            "p.html": "<html><head><title>T</title><script>x()</script></head>"
            "<body><h1>Title</h1><p>First <b>para</b>.</p><ul><li>one</li></ul></body></html>",
            "n.md": "# Notes\n\n- item\n",
            "img.png": b"\x89PNG\r\n\x1a\nbinary",
        }
    )
    _run(emu, api, directory_id=docs.id)
    assert _output(emu, api, docs.files["t.csv"]) == (
        "| name | qty |\n|---|---|\n| bolt | 3 |\n| nut\\|x | 5 |\n"
    )
    assert _output(emu, api, docs.files["d.json"]) == (
        '```json\n{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}\n```\n'
    )
    assert _output(emu, api, docs.files["p.html"]) == "# Title\n\nFirst para.\n\n- one\n"
    assert _output(emu, api, docs.files["n.md"]) == "# Notes\n\n- item\n"
    assert "Binary document" in _output(emu, api, docs.files["img.png"])


def test_outputs_live_at_the_documented_s3_path(emu: Emulator, api: httpx.Client) -> None:
    docs = emu.admin.seed_directory({"a.txt": "alpha"})
    item_id = docs.files["a.txt"]
    job = create_job(api, item_ids=[item_id])
    emu.admin.wait_for_job(job["id"])
    result = api.get(f"{JOBS}/items/{item_id}/processing-results").json()["processing_results"][0]
    assert result["output_s3_path"] == (
        f"s3://llamabatch-emulator/{emu.project_id}/{job['id']}/{item_id}.md"
    )
    local = emu.admin.resolve_output(result["output_s3_path"])
    assert local == emu.data_dir / "outputs" / emu.project_id / job["id"] / f"{item_id}.md"
    assert local.read_text() == "alpha\n"
    assert result["result_id"] and result["processed_at"]
    truth = emu.admin.ground_truth(job["id"]).job(job["id"])
    assert truth.items[0].output_s3_path == result["output_s3_path"]


def test_classify_picks_the_rule_with_most_words_in_common(
    emu: Emulator, api: httpx.Client
) -> None:
    docs = emu.admin.seed_directory(
        {
            "bill.txt": "INVOICE #12. Total amount due: 40 EUR. Payment within 30 days.",
            "deal.txt": "This agreement is made between the parties; the contract term is 2 years.",
            "misc.txt": "zzz qqq",
        }
    )
    rules = [
        {"type": "invoice", "description": "A bill listing a total amount due and payment terms"},
        {"type": "contract", "description": "An agreement between parties with a term"},
    ]
    items = _run(emu, api, directory_id=docs.id, job_config={"rules": rules})
    assert {i["status"] for i in items.values()} == {"completed"}
    assert items["bill.txt"]["job_id"].startswith("cjb-")  # type: ignore[union-attr]

    def classification(name: str) -> dict[str, object]:
        results = api.get(
            f"{JOBS}/items/{docs.files[name]}/processing-results", params={"job_type": "classify"}
        ).json()["processing_results"]
        metadata: dict[str, object] = results[0]["output_metadata"]
        assert json.loads(_output(emu, api, docs.files[name], "classify")) == metadata
        return metadata

    assert classification("bill.txt")["type"] == "invoice"
    assert classification("deal.txt")["type"] == "contract"
    misc = classification("misc.txt")
    assert misc["type"] == "invoice" and misc["confidence"] == 0.0


def test_parameters_hash_is_stable_and_ignores_secrets_and_tracking() -> None:
    def parse(data: dict[str, object]) -> BatchParseJobRecordCreate:
        return BatchParseJobRecordCreate.model_validate(data)

    base = parse({"parameters": {"parse_mode": "parse_page_with_llm", "languages": ["en"]}})
    same = parse(
        {
            "correlation_id": "c-1",
            "parameters": {
                "languages": ["en"],
                "parse_mode": "parse_page_with_llm",
                "azure_openai_key": "sk-1",
                "webhook_url": "https://example.com/h",
                "invalidate_cache": True,
            },
        }
    )
    assert parameters_hash(base) == parameters_hash(same)
    assert len(parameters_hash(base)) == 64
    different = parse({"parameters": {"parse_mode": "parse_page_without_llm", "languages": ["en"]}})
    assert parameters_hash(base) != parameters_hash(different)
    assert parameters_hash(parse({})) == parameters_hash(parse({"job_name": None}))
    rules = ClassifyJobConfig(rules=[ClassifierRule(type="a", description="alpha")])
    assert parameters_hash(rules) != parameters_hash(parse({}))
    assert parameters_hash(rules) == parameters_hash(
        ClassifyJobConfig(rules=[ClassifierRule(type="a", description="alpha")], id="x")
    )


def test_renderers_reject_what_they_cannot_read() -> None:
    with pytest.raises(UnreadableDocument, match="empty"):
        render_markdown("a.txt", b"")
    with pytest.raises(UnreadableDocument, match="PDF"):
        render_markdown("a.pdf", b"%PDX")
    assert render_markdown("a.tsv", b"x\ty\n1\t2\n") == "| x | y |\n|---|---|\n| 1 | 2 |\n"


def test_classify_text_ties_go_to_the_earlier_rule() -> None:
    rules = [
        ClassifierRule(type="first", description="apples oranges"),
        ClassifierRule(type="second", description="apples pears"),
    ]
    assert classify_text("apples", rules)[0] == "first"
    # The rule's type counts as one of its words: 2 of {apples, pears, second} are shared.
    assert classify_text("pears and apples", rules)[:2] == ("second", 0.667)
