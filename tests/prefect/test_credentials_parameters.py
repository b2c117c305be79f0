"""Flows and tasks take credentials only as a block or a saved block's name (issue 10, item 5).

Prefect stores a flow run's parameters before it validates them: a dict of the block's fields,
or a key given as a string, would land in clear in its database. These tests give such values,
then read every flow run back from the real Prefect API and the database file itself.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

from prefect_llamabatch.credentials import LlamaCloudCredentials
from prefect_llamabatch.emulator import Emulator
from prefect_llamabatch.flows import process_directory, process_items
from prefect_llamabatch.orchestration.tasks import get_batch_job
from tests.prefect.conftest import FAST

pytestmark = pytest.mark.usefixtures("prefect")


def _canary() -> str:
    return f"llx-CanaryKey{uuid.uuid4().hex}"


def _database_holds(secret: str) -> bool:
    """Whether the Prefect database file (and its write-ahead log) holds ``secret`` anywhere."""
    url = PREFECT_API_DATABASE_CONNECTION_URL.value()
    assert url and url.startswith("sqlite"), url
    path = Path(url.split("///", 1)[1])
    files = [path, path.with_name(path.name + "-wal")]
    return any(f.exists() and secret.encode() in f.read_bytes() for f in files)


def _stored_parameters() -> str:
    """Every flow run's parameters, as the Prefect API returns them."""
    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while page := client.read_flow_runs(offset=offset, limit=200):
            runs += [run.parameters for run in page]
            offset += len(page)
    return json.dumps(runs, default=str)


def _runs_of(flow_name: str) -> int:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return len(
            client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
        )


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(lambda key, url: {"api_key": key, "base_url": url}, id="dict"),
        pytest.param(lambda key, url: key, id="key-string"),
        # A key without the llx- prefix is told apart by naming no saved block.
        pytest.param(lambda key, url: key.removeprefix("llx-").lower(), id="unprefixed-key"),
    ],
)
def test_non_block_credentials_are_refused_before_the_run_is_stored(
    emu: Emulator, docs_dir: str, given: Any
) -> None:
    secret = _canary()
    value = given(secret, emu.base_url)
    shown = value if isinstance(value, str) else secret
    before = _runs_of("process-directory")
    with pytest.raises(TypeError) as raised:
        process_directory(value, directory_id=docs_dir, wait=FAST)
    message = str(raised.value)
    assert "LlamaCloudCredentials" in message
    assert shown not in message and shown.lower() not in message.lower()
    assert "not shown" in message  # names the value's type and size, never the value
    # Refused before Prefect created the flow run: nothing stored, nothing sent.
    assert _runs_of("process-directory") == before
    assert shown not in _stored_parameters()
    assert not _database_holds(shown)
    assert emu.admin.request_log() == []


def test_a_saved_block_name_is_loaded_and_only_the_name_is_stored(
    emu: Emulator, creds: LlamaCloudCredentials, docs_dir: str
) -> None:
    name = f"creds-{uuid.uuid4().hex[:8]}"
    creds.save(name)
    item = emu.admin.seed_directory({"x.txt": b"x"}, name="by-name").files["x.txt"]
    state = process_items(
        name, [item], max_failed_fraction=None, wait=FAST, report=False, return_state=True
    )
    assert state.is_completed(), state
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).parameters
    assert stored["credentials"] == name
    assert emu.api_key not in _stored_parameters()


def test_a_block_is_stored_with_its_key_masked(emu: Emulator, creds: LlamaCloudCredentials) -> None:
    item = emu.admin.seed_directory({"x.txt": b"x"}, name="masked").files["x.txt"]
    state = process_items(creds, [item], wait=FAST, report=False, return_state=True)
    assert state.is_completed(), state
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).parameters
    assert stored["credentials"]["api_key"] == "**********"
    assert emu.api_key not in _stored_parameters()


def test_a_task_given_a_key_names_its_type_only(emu: Emulator) -> None:
    secret = _canary()

    @flow
    def leaky() -> None:
        get_batch_job(secret, "bjb-1")  # type: ignore[arg-type]

    with pytest.raises(TypeError) as raised:
        leaky()
    assert secret not in str(raised.value) and "str of" in str(raised.value)
    assert emu.admin.request_log() == []


def test_an_unawaited_load_in_an_async_flow_is_named_for_what_it_is(
    creds: LlamaCloudCredentials,
) -> None:
    """``load`` without ``await`` in an async flow (issue 12): the message points to ``aload``."""
    name = f"creds-{uuid.uuid4().hex[:8]}"
    creds.save(name)

    @flow
    async def unawaited(job_id: str) -> None:
        credentials = LlamaCloudCredentials.load(name)  # the mistake
        await get_batch_job(credentials, job_id)  # type: ignore[arg-type]

    with pytest.raises(TypeError) as raised:
        asyncio.run(unawaited("bjb-123"))
    message = str(raised.value)
    assert "coroutine" in message and "aload" in message
    assert "API key" not in message


def test_an_unawaited_load_given_to_a_flow_is_named_too(creds: LlamaCloudCredentials) -> None:
    name = f"creds-{uuid.uuid4().hex[:8]}"
    creds.save(name)

    async def main() -> None:
        await process_items(LlamaCloudCredentials.load(name), ["dfl-1"])  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="aload"):
        asyncio.run(main())
