"""The v2 parse/extract job methods and the streamed presigned download, against the emulator."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import urlsplit

import httpx
import pytest
import respx

from prefect_llamabatch.client import AsyncBatchClient, BatchClient
from prefect_llamabatch.client.errors import NotFoundError, PermissionDeniedError
from prefect_llamabatch.client.jobs_v2 import MAX_IDS_PER_LOOKUP, download_target
from prefect_llamabatch.emulator import Emulator
from tests.client.v2_jobs.helpers import (
    api_client,
    completed_batch,
    completed_v1_job,
    eventually,
    job_ids,
)


def _client(emu: Emulator) -> BatchClient:
    return BatchClient(emu.api_key, base_url=emu.base_url)


def test_get_parse_job_expands_outputs_inline_and_as_presigned_files(
    llamacloud_emulator: Emulator,
) -> None:
    batch = completed_batch(llamacloud_emulator, {"a.md": "# A\n\nbody"})
    (job_id,) = job_ids(batch)
    with _client(llamacloud_emulator) as client:
        inline = client.get_parse_job(job_id, expand=["markdown", "text_full"])
        meta = client.get_parse_job(job_id, expand="markdown_content_metadata")
        assert inline.job.status == "COMPLETED"
        assert inline.markdown is not None and inline.markdown.pages[0].markdown == "# A\n\nbody\n"
        assert inline.text_full == "# A\n\nbody"
        assert meta.markdown is None and meta.result_content_metadata is not None
        file = meta.result_content_metadata["markdown"]
        assert file.presigned_url is not None
        body = b"".join(client.iter_download(file.presigned_url, chunk_size=3))
        assert body == b"# A\n\nbody\n" and file.size_bytes == len(body)


def test_a_v1_items_job_id_is_a_parse_job_with_outputs(llamacloud_emulator: Emulator) -> None:
    job_id = completed_v1_job(llamacloud_emulator, {"r.md": "# R\n\nv1 text"})
    with _client(llamacloud_emulator) as client:
        (item,) = list(client.iter_items(job_id))
        assert item.job_id is not None
        result = client.get_parse_job(item.job_id, expand="markdown_full")
    assert result.job.status == "COMPLETED" and result.markdown_full == "# R\n\nv1 text\n"


def test_iter_parse_jobs_looks_ids_up_in_groups(llamacloud_emulator: Emulator) -> None:
    emu = llamacloud_emulator
    batch = completed_batch(emu, {f"{i:03}.txt": f"doc {i}" for i in range(120)})
    ids = job_ids(batch)
    asked = [*ids, "pjb-unknown", ids[0]]  # an unknown id is absent; a duplicate asked once
    before = emu.admin.request_counts().get("list_parse_jobs", 0)
    with _client(emu) as client:
        found = list(client.iter_parse_jobs(job_ids=asked, concurrency=2))
    assert sorted(j.id for j in found) == sorted(ids)
    assert {j.status for j in found} == {"COMPLETED"}
    groups = -(-(len(ids) + 1) // MAX_IDS_PER_LOOKUP)
    assert emu.admin.request_counts()["list_parse_jobs"] - before == groups == 3


def test_list_parse_jobs_refuses_more_ids_than_a_url_holds_and_unknown_statuses(
    llamacloud_emulator: Emulator,
) -> None:
    with _client(llamacloud_emulator) as client:
        with pytest.raises(ValueError, match="at most 50"):
            client.list_parse_jobs(job_ids=[f"pjb-{i}" for i in range(51)])
        with pytest.raises(ValueError, match="status"):
            client.list_parse_jobs(status="done")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="list of job ids"):
            list(client.iter_parse_jobs(job_ids="pjb-1"))
        with pytest.raises(NotFoundError):
            client.get_parse_job("pjb-missing")
        assert list(client.iter_parse_jobs(job_ids=[])) == []


def test_extract_jobs_carry_their_result(llamacloud_emulator: Emulator) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    batch = completed_batch(
        llamacloud_emulator, {"x.md": "# Title\n\ntext"}, job_type="extract_v2", data_schema=schema
    )
    (job_id,) = job_ids(batch)
    with _client(llamacloud_emulator) as client:
        one = client.get_extract_job(job_id)
        listed = list(client.iter_extract_jobs(job_ids=[job_id]))
        page = client.list_extract_jobs(job_ids=[job_id], status="COMPLETED")
    assert one.status == "COMPLETED" and isinstance(one.extract_result, dict)
    assert [j.extract_result for j in listed] == [one.extract_result]
    assert [j.id for j in page.items] == [job_id]


@pytest.mark.llamacloud_emulator(v2_presigned_url_ttl_seconds=1)
def test_an_expired_url_is_refused_and_its_signature_never_shown(
    llamacloud_emulator: Emulator,
) -> None:
    batch = completed_batch(llamacloud_emulator, {"a.txt": "text"})
    (job_id,) = job_ids(batch)
    with _client(llamacloud_emulator) as client:
        meta = client.get_parse_job(job_id, expand="text_content_metadata")
        assert meta.result_content_metadata is not None
        url = meta.result_content_metadata["text"].presigned_url
        assert url is not None
        expires = int(dict(p.split("=") for p in urlsplit(url).query.split("&"))["expires"])
        eventually(lambda: __import__("time").time() > expires + 1.0, timeout=10)
        with pytest.raises(PermissionDeniedError) as caught:
            b"".join(client.iter_download(url))
    signature = urlsplit(url).query
    shown = str(caught.value) + repr(caught.value)
    assert "outputs/" in shown and signature not in shown
    assert dict(p.split("=") for p in signature.split("&"))["signature"] not in shown


def test_async_client_streams_the_same_bytes(llamacloud_emulator: Emulator) -> None:
    emu = llamacloud_emulator
    content = "\n".join(f"line {i} " + "x" * 50 for i in range(20_000))  # ~1.1 MB
    batch = completed_batch(emu, {"big.txt": content})
    (job_id,) = job_ids(batch)

    async def fetch() -> tuple[bytes, str]:
        async with AsyncBatchClient(emu.api_key, base_url=emu.base_url) as client:
            meta = await client.get_parse_job(job_id, expand=["text_content_metadata"])
            assert meta.result_content_metadata is not None
            url = meta.result_content_metadata["text"].presigned_url
            assert url is not None
            digest, chunks = hashlib.sha256(), 0
            async for chunk in client.iter_download(url, chunk_size=65536):
                assert len(chunk) <= 65536
                digest.update(chunk)
                chunks += 1
            found = [j async for j in client.iter_parse_jobs(job_ids=[job_id])]
            return digest.digest(), f"{chunks}:{found[0].status}"

    digest, info = asyncio.run(fetch())
    with api_client(emu) as api:
        expected = api.get(f"/api/v2/parse/{job_id}", params={"expand": "text_full"}).json()
    assert digest == hashlib.sha256(expected["text_full"].encode()).digest()
    chunks, status = info.split(":")
    assert int(chunks) > 10 and status == "COMPLETED"


@respx.mock
def test_a_presigned_url_is_sent_as_is_without_the_api_key() -> None:
    url = "https://bucket.s3.amazonaws.com/out/a.md?X-Amz-Signature=ab%2Fcd&X-Amz-Expires=60"
    route = respx.get(url).mock(return_value=httpx.Response(200, content=b"body"))
    with BatchClient("llx-secret-key", base_url="https://api.llamacloud.test") as client:
        assert b"".join(client.iter_download(url)) == b"body"
    sent = route.calls.last.request
    assert "authorization" not in {k.lower() for k in sent.headers}
    assert str(sent.url) == url  # the signature's encoding untouched


def test_download_urls_must_be_https_except_on_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        download_target("http://example.com/out?sig=1")
    with pytest.raises(ValueError, match="http"):
        download_target("file:///etc/passwd")
    target = download_target("http://127.0.0.1:9/x/y?signature=s3cr3t&expires=1")
    assert target.described.url == "http://127.0.0.1:9/x/y" and "s3cr3t" in target.described.secrets
