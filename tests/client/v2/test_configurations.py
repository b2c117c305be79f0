"""Saved configurations through the clients, against the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from prefect_llamabatch import BatchClient, ConflictError, NotFoundError
from prefect_llamabatch.client.core_v2 import configuration_name
from prefect_llamabatch.emulator import Emulator, FaultRule
from prefect_llamabatch.models.v2 import ParseV2Parameters
from tests.client.v2.conftest import PARSE_FAST, stored_configurations

AGENTIC = {"product_type": "parse_v2", "tier": "agentic", "version": "latest"}
EXTRACT = {"product_type": "extract_v2", "data_schema": {"type": "object", "properties": {}}}


def test_create_is_an_upsert_by_name_and_product_type(
    client: BatchClient, raw: httpx.Client
) -> None:
    first = client.create_configuration("docs", PARSE_FAST)
    assert first.product_type == "parse_v2" and first.name == "docs"
    assert isinstance(first.parameters, ParseV2Parameters) and first.parameters.tier == "fast"
    updated = client.create_configuration("docs", ParseV2Parameters.model_validate(AGENTIC))
    assert updated.id == first.id and updated.parameters.tier == "agentic"  # type: ignore[union-attr]
    other_type = client.create_configuration("docs", EXTRACT)
    assert other_type.id != first.id and other_type.product_type == "extract_v2"
    assert len(stored_configurations(raw)) == 2


def test_get_list_iter_update_delete(client: BatchClient, llamacloud_emulator: Emulator) -> None:
    made = {client.create_configuration(f"cfg-{i}", PARSE_FAST).id for i in range(5)}
    extract = client.create_configuration("extract", EXTRACT)
    assert client.get_configuration(extract.id).name == "extract"
    assert client.get_configuration("cfg-PARSE_AGENTIC").parameters.tier == "agentic"  # type: ignore[union-attr]
    assert {c.id for c in client.iter_configurations(product_type="parse_v2", page_size=2)} == made
    assert {c.id for c in client.iter_configurations(page_size=4)} == made | {extract.id}
    both = client.iter_configurations(product_type=["parse_v2", "extract_v2"], latest_only=True)
    assert len(list(both)) == 6
    page = client.list_configurations(name="cfg-3")
    assert [c.name for c in page.items] == ["cfg-3"] and page.next_page_token is None
    first = client.list_configurations(page_size=4)
    assert len(first.items) == 4 and first.next_page_token
    renamed = client.update_configuration(page.items[0].id, name="renamed")
    assert renamed.id == page.items[0].id and renamed.name == "renamed"
    retuned = client.update_configuration(renamed.id, parameters=AGENTIC)
    assert retuned.name == "renamed" and retuned.parameters.tier == "agentic"  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        client.update_configuration(renamed.id, name="cfg-4")
    client.delete_configuration(renamed.id)
    with pytest.raises(NotFoundError) as info:
        client.get_configuration(renamed.id)
    assert f"{llamacloud_emulator.base_url}/api/v1/beta/configurations/{renamed.id}" in str(
        info.value
    )
    with pytest.raises(NotFoundError):
        client.delete_configuration(renamed.id)


def test_a_delete_whose_answer_was_lost_is_done(
    client: BatchClient, llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    emu = llamacloud_emulator
    made = client.create_configuration("doomed", PARSE_FAST)
    emu.admin.set_faults(
        [FaultRule(route="delete_configuration", kind="commit_then_fail", count=1)]
    )
    client.delete_configuration(made.id)  # the retry's 404 means the first attempt deleted it
    assert stored_configurations(raw) == []
    assert emu.admin.request_counts()["delete_configuration"] == 2


def test_a_create_whose_answer_was_lost_is_resent_harmlessly(
    client: BatchClient, llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    emu = llamacloud_emulator
    emu.admin.set_faults(
        [FaultRule(route="create_configuration", kind="commit_then_drop", count=1)]
    )
    saved = client.create_configuration("docs", PARSE_FAST)
    assert [c["id"] for c in stored_configurations(raw)] == [saved.id]  # the upsert found it


def test_save_parameters_is_idempotent_and_named_by_their_hash(
    client: BatchClient, llamacloud_emulator: Emulator, raw: httpx.Client
) -> None:
    emu = llamacloud_emulator
    saved = client.save_parameters(PARSE_FAST)
    assert saved.name == configuration_name(PARSE_FAST)
    again = client.save_parameters({**PARSE_FAST, "disable_cache": None})  # same meaning
    assert again.id == saved.id and again.version == saved.version
    assert emu.admin.request_counts()["create_configuration"] == 1
    other = client.save_parameters(AGENTIC)
    assert other.id != saved.id and other.name != saved.name
    named = client.save_parameters(AGENTIC, name="my-agentic")
    assert named.name == "my-agentic"
    assert len(stored_configurations(raw)) == 3
    # Someone changed the parameters under our name: saving puts ours back (one upsert).
    client.update_configuration(saved.id, parameters=AGENTIC)
    restored = client.save_parameters(PARSE_FAST)
    assert restored.id == saved.id and restored.parameters.tier == "fast"  # type: ignore[union-attr]
    assert emu.admin.request_counts()["create_configuration"] == 4


def test_configuration_names_follow_the_parameters() -> None:
    assert configuration_name(PARSE_FAST) == configuration_name(
        ParseV2Parameters.model_validate(PARSE_FAST)
    )
    assert configuration_name(PARSE_FAST) != configuration_name(AGENTIC)
    assert configuration_name(EXTRACT).startswith("llamabatch-extract_v2-")
    with pytest.raises(ValueError, match="product_type"):
        configuration_name({"tier": "fast", "version": "latest"})
    with pytest.raises(ValueError, match="unknown field 'teir'"):
        configuration_name({"product_type": "parse_v2", "teir": "fast", "version": "latest"})
