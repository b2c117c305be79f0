"""The LlamaCloudCredentials block: Prefect's standard block checks, validation, clients, registry."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest
import respx
from prefect.blocks.core import Block
from pydantic import SecretStr, ValidationError

from prefect_llamabatch import AsyncBatchClient, BatchClient, LlamaCloudCredentials
from tests.conftest import API_KEY, BASE_URL
from tests.prefect.block_standards import BlockStandards


class TestLlamaCloudCredentialsStandards(BlockStandards):
    @pytest.fixture
    def block(self) -> type[Block]:
        return LlamaCloudCredentials


def test_block_metadata() -> None:
    assert LlamaCloudCredentials.get_block_type_name() == "LlamaCloud Credentials"
    assert LlamaCloudCredentials.get_block_type_slug() == "llamacloud-credentials"
    assert str(LlamaCloudCredentials._logo_url).startswith("https://avatars.githubusercontent.com/")
    assert str(LlamaCloudCredentials._documentation_url).startswith("https://")
    base_url = LlamaCloudCredentials.model_fields["base_url"]
    assert base_url.default == "https://api.cloud.llamaindex.ai"
    assert "https://api.cloud.eu.llamaindex.ai" in (base_url.description or "")


def test_api_key_is_secret_everywhere() -> None:
    creds = LlamaCloudCredentials(api_key=API_KEY, project_id="p")
    assert isinstance(creds.api_key, SecretStr)
    for text in (repr(creds), str(creds), str(creds.model_dump()), creds.model_dump_json()):
        assert API_KEY not in text
    assert API_KEY not in repr(creds.get_client())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"base_url": "http://api.cloud.llamaindex.ai"},
            "base_url: 'http://api.cloud.llamaindex.ai' uses plain http",
        ),
        ({"base_url": "not a url"}, "base_url: 'not a url' is not an http(s) URL"),
        ({"api_key": ""}, "api_key: the API key is empty"),
        ({"timeout": 0}, "timeout\n  Input should be greater than 0"),
        ({"max_retries": -1}, "max_retries\n  Input should be greater than or equal to 0"),
        ({"retry_deadline": 0}, "retry_deadline\n  Input should be greater than 0"),
    ],
)
def test_bad_fields_are_named(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        LlamaCloudCredentials(**{"api_key": API_KEY, **fields})
    assert message in str(info.value)
    assert API_KEY not in str(info.value)


def test_loopback_http_is_allowed_and_blank_ids_are_none() -> None:
    creds = LlamaCloudCredentials(
        api_key=API_KEY, base_url="http://127.0.0.1:8787/", organization_id=" ", project_id=""
    )
    assert creds.base_url == "http://127.0.0.1:8787"
    assert creds.organization_id is None and creds.project_id is None


def test_from_env(clean_llamacloud_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="LLAMA_CLOUD_API_KEY"):
        LlamaCloudCredentials.from_env()
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", "llx-parse-key")
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", "https://api.cloud.eu.llamaindex.ai")
    creds = LlamaCloudCredentials.from_env(project_id="proj-9")
    assert creds.api_key.get_secret_value() == "llx-parse-key"
    assert creds.base_url == "https://api.cloud.eu.llamaindex.ai" and creds.project_id == "proj-9"
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", "llx-cloud-key")
    assert LlamaCloudCredentials.from_env().api_key.get_secret_value() == "llx-cloud-key"


def test_clients_are_configured_from_the_block() -> None:
    creds = LlamaCloudCredentials(
        api_key=API_KEY,
        base_url=BASE_URL,
        organization_id="org-1",
        project_id="proj-1",
        timeout=12.5,
        max_retries=2,
        retry_deadline=40.0,
    )
    sync_client = creds.get_client()
    async_client = creds.get_async_client()
    assert isinstance(sync_client, BatchClient) and isinstance(async_client, AsyncBatchClient)
    for c in (sync_client, async_client):
        assert (c.base_url, c.organization_id, c.project_id) == (BASE_URL, "org-1", "proj-1")
        assert c.retry_policy.max_retries == 2 and c.retry_policy.deadline == 40.0
    assert sync_client._http.timeout.read == 12.5
    with respx.mock(base_url=BASE_URL) as mock, sync_client:
        route = mock.get("/api/v1/beta/directories/dir-1").respond(
            json={"id": "dir-1", "name": "n", "project_id": "proj-1"}
        )
        sync_client.get_directory("dir-1")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.url.params["organization_id"] == "org-1"


async def test_async_client_from_block_works() -> None:
    creds = LlamaCloudCredentials(api_key=API_KEY, base_url=BASE_URL, max_retries=0)
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/api/v1/beta/batch-processing/b").mock(
            side_effect=[
                httpx.Response(
                    200,
                    json={
                        "job": {
                            "id": "b",
                            "job_type": "parse",
                            "project_id": "p",
                            "status": "completed",
                            "total_items": 1,
                        }
                    },
                )
            ]
        )
        async with creds.get_async_client() as c:
            assert (await c.get_job("b")).job.is_terminal


def test_collections_entry_point_is_declared() -> None:
    found = [
        ep for ep in entry_points(group="prefect.collections") if ep.name == "prefect_llamabatch"
    ]
    # blocks.py defines both block types; the root package stays lazy.
    assert [ep.value for ep in found] == ["prefect_llamabatch.blocks"]


def test_block_round_trips_through_a_real_prefect_api(prefect_api: str) -> None:
    creds = LlamaCloudCredentials(api_key=API_KEY, base_url=BASE_URL, project_id="proj-1")
    creds.save("test-creds", overwrite=True)
    loaded = LlamaCloudCredentials.load("test-creds")
    assert isinstance(loaded, LlamaCloudCredentials)
    assert loaded.api_key.get_secret_value() == API_KEY
    assert (loaded.base_url, loaded.project_id) == (BASE_URL, "proj-1")


def test_prefect_block_register_cli_registers_the_block(prefect_api: str) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    cli = os.path.join(os.path.dirname(sys.executable), "prefect")
    result = subprocess.run(
        [cli, "block", "register", "-m", "prefect_llamabatch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LlamaCloud Credentials" in result.stdout
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("llamacloud-credentials")
        assert block_type.name == "LlamaCloud Credentials"
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert schema is not None
    assert set(schema.fields["properties"]) >= {
        "api_key",
        "base_url",
        "organization_id",
        "project_id",
        "timeout",
        "max_retries",
        "retry_deadline",
    }
    assert schema.fields["secret_fields"] == ["api_key"]
