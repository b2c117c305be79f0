"""Schema-driven fuzzing of the emulator's API with schemathesis, bounded for CI.

For every operation of the emulator's OpenAPI document (``/_emulator/openapi.json``, which
describes each route with the wire models), schemathesis generates schema-valid and
schema-invalid requests, with random ids and with ids of objects that exist. Guarantees: no 5xx
for any input; every status is documented; every response has the documented content type and
matches its schema.

Not checked, on purpose: "schema-valid input is accepted" (JSON Schema cannot say the API's
cross-field rules: exactly one of ``directory_id``/``item_ids``, distinct item ids, bbox margins
that leave a page; such bodies are rightly refused with 422) and "schema-invalid input is
refused" (like the real API, unknown query parameters and body fields are ignored).

schemathesis' own pytest integration reads a private pytest attribute that pytest 9 removed, so
each operation is its own parametrized test driving the operation's hypothesis strategy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from starlette.routing import BaseRoute

from prefect_llamabatch import BatchClient
from prefect_llamabatch.emulator import Emulator, EmulatorConfig, api, run_emulator, v2_api

pytestmark = pytest.mark.timeout(180)

MAX_EXAMPLES = 30
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def _operations(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    found = []
    for route in routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            found.append((method, str(getattr(route, "path", ""))))
    return found


# v1 and v2 (batches, configurations, parse and extract jobs); not the emulator's own routes.
OPERATIONS = [
    (method, path)
    for method, path in _operations([*api.router.routes, *v2_api.router.routes])
    if path.startswith("/api/")
]


@pytest.fixture(scope="module")
def fuzz_emulator() -> Iterator[Emulator]:
    with run_emulator(EmulatorConfig(time_scale=0.001)) as emu:
        yield emu


@pytest.fixture(scope="module")
def real_ids(fuzz_emulator: Emulator) -> dict[str, str]:
    """Ids of objects that exist, so generated requests also reach past the 404s."""
    seeded = fuzz_emulator.admin.seed_directory(
        {"a.txt": b"hello", "b.pdf": b"%PDF-1.4 x"}, name="seed"
    )
    with BatchClient(fuzz_emulator.api_key, base_url=fuzz_emulator.base_url) as client:
        job = client.create_job({"directory_id": seeded.id, "job_config": {}})
        batch = client.create_batch(seeded.id, "cfg-PARSE_FAST")
    file_id = seeded.files["a.txt"]
    return {
        "job_id": job.id,
        "batch_id": batch.id,
        "config_id": "cfg-PARSE_FAST",
        "directory_id": seeded.id,
        "directory_file_id": file_id,
        "item_id": file_id,
    }


@pytest.fixture(scope="module")
def api_schema(fuzz_emulator: Emulator) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(fuzz_emulator.base_url + "/_emulator/openapi.json")


def test_every_api_route_is_described(api_schema: schemathesis.BaseSchema) -> None:
    raw = api_schema.raw_schema
    for method, path in OPERATIONS:
        operation = raw["paths"][path][method.lower()]
        assert operation.get("security") == [{"bearer": []}], (method, path)
        codes = set(operation["responses"])
        assert codes & {"200", "204"} and "4XX" in codes, (method, path)
        if method in ("POST", "PATCH") and "cancel" not in path and "delete" not in path:
            assert "requestBody" in operation, (method, path)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_error_and_every_response_matches_the_schema(
    method: str,
    path: str,
    api_schema: schemathesis.BaseSchema,
    fuzz_emulator: Emulator,
    real_ids: dict[str, str],
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {fuzz_emulator.api_key}"}
    existing = {name: value for name, value in real_ids.items() if "{" + name + "}" in path}
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=existing),
    )

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=fuzz_emulator.base_url, headers=headers, checks=CHECKS, timeout=10
        )

    fuzz()
