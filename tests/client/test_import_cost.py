"""What ``import prefect_llamabatch.client`` costs a v1 user: module sets, never times.

The v2 API (its models, the generated parse_v2 options, ``core_v2``/``jobs_v2``) and the async
I/O driver (asyncio) load on first use, so a plain import leaves them, and Prefect, out of
``sys.modules``; a v2 call or an async client still works and loads them then. The times are
measured by ``bench/b5_startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import prefect_llamabatch.client
import prefect_llamabatch.models
import prefect_llamabatch.models.v2
from prefect_llamabatch.client._base import LazyModule
from prefect_llamabatch.emulator import Emulator

V2 = {
    "prefect_llamabatch.models.v2",
    "prefect_llamabatch.models.v2.parse_parameters",
    "prefect_llamabatch.client.core_v2",
    "prefect_llamabatch.client.jobs_v2",
    "prefect_llamabatch.client.reconcile_v2",
}

# Prints, as JSON, which of the watched modules are loaded after each step of ``steps``, beyond
# what the third-party dependencies load themselves (tenacity before 8.3 imports asyncio).
_PROBE = """
import json, sys
import httpx, pydantic, tenacity  # the baseline: what they load is not ours (tenacity < 8.3 loads asyncio)
BASE = set(sys.modules)
WATCHED = {watched!r}

def loaded():
    return sorted(
        m for m in sys.modules
        if m not in BASE and (m in WATCHED or m == "prefect" or m.startswith("prefect."))
    )

seen = {{}}
{steps}
print(json.dumps(seen))
"""


def _probe(
    steps: str, watched: set[str], env: dict[str, str] | None = None
) -> dict[str, list[str]]:
    code = _PROBE.format(watched=sorted(watched), steps=textwrap.dedent(steps))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    ).stdout
    result: dict[str, list[str]] = json.loads(out.splitlines()[-1])
    return result


def test_the_client_import_loads_no_v2_module_no_async_io_and_no_prefect() -> None:
    watched = V2 | {
        "asyncio",
        "prefect_llamabatch.client._async_io",
        "prefect_llamabatch.client.core",
        "prefect_llamabatch.models.jobs",
    }
    seen = _probe(
        """
        import prefect_llamabatch.client
        seen["import"] = loaded()
        """,
        watched,
    )
    # The v1 core and models are there (the probe sees modules); nothing else watched is.
    assert seen["import"] == ["prefect_llamabatch.client.core", "prefect_llamabatch.models.jobs"]


def test_the_models_import_leaves_the_v2_models_out_until_a_v2_name_is_used() -> None:
    seen = _probe(
        """
        import prefect_llamabatch.models as models
        seen["import"] = loaded()
        from prefect_llamabatch.models import ParseJob
        seen["v2 name"] = loaded()
        seen["same class"] = [str(ParseJob is sys.modules["prefect_llamabatch.models.v2"].ParseJob)]
        """,
        V2,
    )
    assert seen["import"] == []
    assert seen["v2 name"] == [
        "prefect_llamabatch.models.v2",
        "prefect_llamabatch.models.v2.parse_parameters",
    ]
    assert seen["same class"] == ["True"]


def test_a_v2_call_loads_the_v2_api_and_answers(llamacloud_emulator: Emulator) -> None:
    # A real request through the lazily loaded core_v2 and jobs_v2, in a fresh interpreter.
    directory = llamacloud_emulator.admin.seed_directory({"a.md": "# A"})
    seen = _probe(
        """
        import os
        from prefect_llamabatch.client import BatchClient
        client = BatchClient(os.environ["KEY"], base_url=os.environ["URL"])
        seen["client built"] = loaded()
        created = client.create_batch(os.environ["DIRECTORY"], "cfg-PARSE_FAST")
        seen["create_batch"] = loaded()
        page = client.list_batches(source_directory_id=os.environ["DIRECTORY"])
        seen["batches"] = [b.id for b in page.items] + [created.id]
        jobs = client.list_parse_jobs()
        seen["parse jobs"] = [type(jobs).__name__]
        seen["list_parse_jobs"] = loaded()
        client.close()
        """,
        V2,
        env={
            "KEY": llamacloud_emulator.api_key,
            "URL": llamacloud_emulator.base_url,
            "DIRECTORY": directory.id,
        },
    )
    assert seen["client built"] == []
    assert "prefect_llamabatch.client.core_v2" in seen["create_batch"]
    assert "prefect_llamabatch.models.v2" in seen["create_batch"]
    listed, created = seen["batches"][:-1], seen["batches"][-1]
    assert listed == [created]
    assert seen["parse jobs"] == ["ParseJobPage"]
    assert "prefect_llamabatch.client.jobs_v2" in seen["list_parse_jobs"]
    assert not any(m == "prefect" or m.startswith("prefect.") for m in seen["list_parse_jobs"])


def test_the_async_io_loads_when_an_async_client_is_built(llamacloud_emulator: Emulator) -> None:
    seen = _probe(
        """
        import os
        from prefect_llamabatch.client import AsyncBatchClient, BatchClient
        client = BatchClient(os.environ["KEY"], base_url=os.environ["URL"])
        seen["sync client built"] = loaded()
        client.list_jobs()
        seen["sync client used"] = loaded()
        import asyncio

        async def main():
            async with AsyncBatchClient(os.environ["KEY"], base_url=os.environ["URL"]) as client:
                return await client.list_jobs()

        seen["jobs"] = [type(asyncio.run(main())).__name__]
        seen["async client used"] = loaded()
        """,
        {"asyncio", "prefect_llamabatch.client._async_io"},
        env={"KEY": llamacloud_emulator.api_key, "URL": llamacloud_emulator.base_url},
    )
    assert seen["sync client built"] == []
    assert seen["sync client used"] == []
    assert seen["jobs"] == ["BatchJobList"]
    # asyncio too, unless httpx already loaded it (the lowest-versions environment).
    assert "prefect_llamabatch.client._async_io" in seen["async client used"]
    assert set(seen["async client used"]) <= {"asyncio", "prefect_llamabatch.client._async_io"}


@pytest.mark.parametrize("name", prefect_llamabatch.client.__all__)
def test_every_public_name_of_the_client_imports_from_the_package(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from prefect_llamabatch.client import {name}", namespace)
    assert namespace[name] is getattr(prefect_llamabatch.client, name)


@pytest.mark.parametrize("name", prefect_llamabatch.models.__all__)
def test_every_public_name_of_the_models_resolves_and_is_listed(name: str) -> None:
    value = getattr(prefect_llamabatch.models, name)
    assert name in dir(prefect_llamabatch.models)
    if name in prefect_llamabatch.models.v2.__all__:
        assert value is getattr(prefect_llamabatch.models.v2, name)


def test_an_unknown_models_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_model"):
        prefect_llamabatch.models.no_such_model  # type: ignore[attr-defined]  # noqa: B018


def test_a_lazy_module_imports_on_first_attribute_and_names_itself() -> None:
    lazy = LazyModule("prefect_llamabatch.client.core_v2")
    assert repr(lazy) == "LazyModule('prefect_llamabatch.client.core_v2')"
    from prefect_llamabatch.client import core_v2

    assert lazy.create_batch is core_v2.create_batch
    with pytest.raises(AttributeError, match="no_such_function"):
        lazy.no_such_function  # noqa: B018
    with pytest.raises(ModuleNotFoundError):
        LazyModule("prefect_llamabatch.client.no_such_module").anything  # noqa: B018
