"""Secrets leak nowhere; transport security cannot be turned off; the emulator is locked down.

The canary test runs, each in its own process with every logger at DEBUG (httpx and httpcore
included) and one fresh Prefect home: a scenario covering blocks, flows, tasks, faults, refused
input and errors (``secrets_scenario.py``), the CLI, and the demo, against an emulator that only
accepts the canary API key. Then the canary (the key, and the values put in every secret parse
option, webhook header and signing secret) must not appear in their stdout/stderr, in this
process's captured logs, or in any file of the Prefect home: its database (flow run parameters,
task run inputs, logs, artifacts, events, variables; block documents are stored encrypted) and
its result storage.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from prefect_llamabatch import APIConnectionError, BatchClient, LlamaCloudCredentials, RetryPolicy
from prefect_llamabatch.emulator import Emulator, EmulatorConfig
from prefect_llamabatch.emulator.admin import ADMIN_TOKEN_HEADER
from prefect_llamabatch.emulator.admin_api import router as admin_router
from tests.reliability.helpers import CANARY, CANARY_KEY
from tests.reliability.scripted_server import ScriptedServer, json_reply, scripted_server
from tests.reliability.secrets_scenario import secret_parameters

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CANARIES = (CANARY_KEY.encode(), CANARY.encode())

SITECUSTOMIZE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                    format="%(levelname)s %(name)s %(message)s")
for name in ("httpx", "httpcore", "prefect_llamabatch", "uvicorn"):
    logging.getLogger(name).setLevel(logging.DEBUG)
"""


def leaks(data: bytes) -> list[str]:
    """The canaries found in ``data``, with some context."""
    found = []
    for canary in CANARIES:
        at = data.find(canary)
        if at >= 0:
            found.append(data[max(0, at - 120) : at + 60].decode(errors="replace"))
    return found


def debug_env(home: Path, site: Path, emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LLAMA_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_LOGGING_LEVEL="DEBUG",
        PREFECT_LOGGING_ROOT_LEVEL="DEBUG",
        PREFECT_LOGGING_EXTRA_LOGGERS="httpx,httpcore,prefect_llamabatch,uvicorn",
        PREFECT_LOGGING_TO_API_ENABLED="true",
        # The child's ephemeral API starts slowly at DEBUG on a loaded 2-core machine (default 20 s).
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PYTHONPATH=os.pathsep.join([str(site), str(REPO)]),
        LLAMA_CLOUD_API_KEY=CANARY_KEY,
        LLAMA_CLOUD_BASE_URL=emu.base_url,
        COLUMNS="200",
    )
    return env


@pytest.mark.timeout(600)
@pytest.mark.llamacloud_emulator(
    api_keys=[f"{CANARY_KEY}:org-canary:proj-canary"], failure_patterns=["bad-*"], time_scale=0.01
)
def test_the_canary_appears_nowhere(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    home, site, folder = tmp_path / "prefect-home", tmp_path / "site", tmp_path / "docs"
    for path in (home, site, folder):
        path.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    for n in range(12):
        (folder / f"doc-{n:02d}.txt").write_text(f"document {n}")
    (folder / "bad-report.txt").write_text("this one fails")
    env = debug_env(home, site, emu)
    outputs: list[tuple[str, bytes]] = []

    def run(
        label: str, argv: list[str], timeout: float = 300, **extra: str
    ) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            argv, env={**env, **extra}, cwd=tmp_path, capture_output=True, timeout=timeout
        )
        outputs.append((label, done.stdout + done.stderr))
        return done

    scenario = run(
        "scenario",
        [
            sys.executable,
            str(Path(__file__).with_name("secrets_scenario.py")),
            emu.base_url,
            str(folder),
            emu.admin_token,
        ],
    )
    assert b"SCENARIO DONE" in scenario.stdout, scenario.stderr.decode()[-4000:]

    truth = emu.admin.ground_truth(max_items=5)
    job = truth.jobs[0]
    cli = str(BIN / "llamabatch")
    config = json.dumps({"parameters": secret_parameters()})
    run("cli jobs", [cli, "jobs"])
    run("cli status", [cli, "status", job.id, "--json"])
    run("cli items", [cli, "items", job.id])
    run("cli results", [cli, "results", job.items[0].item_id])
    submitted = run(
        "cli submit",
        [
            cli,
            "submit",
            "--directory-id",
            str(job.directory_id),
            "--config",
            config,
            "--wait",
            "--max-failed-fraction",
            "1",
            "--poll-interval",
            "0.05",
        ],
    )
    assert submitted.returncode == 0, submitted.stderr.decode()[-3000:]
    run("cli cancel", [cli, "cancel", job.id, "--reason", "done"])
    wrong = run("cli wrong key", [cli, "jobs"], LLAMA_CLOUD_API_KEY=f"{CANARY_KEY}-revoked")
    assert wrong.returncode == 3 and b"401" in wrong.stderr
    demo = run("demo", [cli, "demo", "--workdir", str(tmp_path / "demo"), "--time-scale", "0.01"])
    assert demo.returncode in (0, 1), demo.stderr.decode()[-4000:]  # 1: items failed, by design

    everything = b"\n".join(text for _, text in outputs)
    # The loggers really were at DEBUG, httpx and httpcore included.
    assert b"DEBUG httpcore" in everything and b"httpx" in everything
    assert everything.count(b"HTTP Request:") > 50
    for label, text in outputs:
        assert not leaks(text), f"canary in the output of {label}: {leaks(text)}"
    assert not leaks(caplog.text.encode()), leaks(caplog.text.encode())

    scanned = 0
    for root in (home, tmp_path / "demo", folder):
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                found = leaks(path.read_bytes())
                assert not found, f"canary in {path.relative_to(tmp_path)}: {found}"
    database = list(home.glob("*.db"))
    assert database and database[0].stat().st_size > 100_000, "the Prefect database was not used"
    assert any(home.rglob("storage/*")), "no persisted result was scanned"
    assert scanned > 5


# ---- transport security ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:9", "https://api.example.com"],
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    with BatchClient(CANARY_KEY, base_url=url) as client:
        assert client.base_url == url
    assert LlamaCloudCredentials(api_key=CANARY_KEY, base_url=url).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.cloud.llamaindex.ai",
        "http://10.0.0.5:8080",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "http://0.0.0.0:8080",
        f"https://{CANARY_KEY}@api.example.com",
    ],
)
def test_plain_http_to_any_other_host_or_credentials_in_the_url_are_refused(url: str) -> None:
    with pytest.raises(ValueError) as info:
        BatchClient(CANARY_KEY, base_url=url)
    assert "base_url" in str(info.value) and CANARY_KEY not in str(info.value)
    with pytest.raises(ValueError):
        LlamaCloudCredentials(api_key=CANARY_KEY, base_url=url)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no trust store knows."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_server(self_signed: tuple[str, str]) -> Iterator[ScriptedServer]:
    cert, key = self_signed
    with scripted_server(ssl_certfile=cert, ssl_keyfile=key) as server:
        server.reset(lambda _s: json_reply({"items": [], "total_size": 0}))
        yield server


def test_tls_verification_is_always_on(tls_server: ScriptedServer) -> None:
    policy = RetryPolicy(max_retries=0)
    with BatchClient(CANARY_KEY, base_url=tls_server.base_url, retry=policy) as client:
        with pytest.raises(APIConnectionError) as info:
            client.list_jobs()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert CANARY_KEY not in str(info.value)
    assert tls_server.seen == []  # no request got through an unverified connection
    credentials = LlamaCloudCredentials(api_key=CANARY_KEY, base_url=tls_server.base_url)
    with credentials.get_client(retry=policy) as client, pytest.raises(APIConnectionError):
        client.list_jobs()
    # There is no switch to turn it off.
    with pytest.raises(TypeError):
        BatchClient(CANARY_KEY, base_url=tls_server.base_url, verify=False)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="unknown field 'verify'"):
        LlamaCloudCredentials(api_key=CANARY_KEY, base_url=tls_server.base_url, verify=False)


def test_the_default_transports_verify_certificates() -> None:
    with BatchClient(CANARY_KEY, base_url="https://api.example.com") as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert pool._ssl_context.check_hostname


def test_the_api_key_travels_only_in_the_authorization_header() -> None:
    with scripted_server() as server:
        server.reset(lambda _s: json_reply({"items": [], "total_size": 0}))
        with BatchClient(CANARY_KEY, base_url=server.base_url, project_id="p-1") as client:
            client.list_jobs(status="running")
            list(client.iter_items("bjb-1"))
            list(client.iter_directory_files("dir-1"))
        assert len(server.seen) == 3
        for seen in server.seen:
            assert CANARY_KEY not in seen.raw_target
            assert seen.headers["authorization"] == f"Bearer {CANARY_KEY}"
            others = {k: v for k, v in seen.headers.items() if k != "authorization"}
            assert CANARY_KEY not in json.dumps(others)


# ---- the emulator is locked down -------------------------------------------------------------


def test_the_emulator_listens_on_loopback_only_by_default(emu: Emulator) -> None:
    assert EmulatorConfig().host == "127.0.0.1"
    assert httpx.URL(emu.base_url).host == "127.0.0.1"
    with pytest.raises(ValueError, match="allow_remote"):
        EmulatorConfig(host="0.0.0.0")
    assert EmulatorConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


OPEN_ADMIN_ROUTES = {
    "admin_health",
    "admin_download",
}  # liveness; signed URLs carry their own proof


@pytest.mark.parametrize("token", [None, "", "wrong-token", "API_KEY"])
def test_every_admin_route_needs_the_admin_token(emu: Emulator, token: str | None) -> None:
    headers = (
        {} if token is None else {ADMIN_TOKEN_HEADER: emu.api_key if token == "API_KEY" else token}
    )
    guarded = [r for r in admin_router.routes if getattr(r, "name", "") not in OPEN_ADMIN_ROUTES]
    assert len(guarded) >= 10
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=10) as client:
        for route in guarded:
            path = str(getattr(route, "path"))  # noqa: B009
            for method in sorted(getattr(route, "methods")):  # noqa: B009
                response = client.request(method, path.replace("{", "x").replace("}", ""), json={})
                assert response.status_code == 401, (method, path, response.status_code)
    emu.admin.ground_truth()  # with the right token it answers
    assert emu.admin.request_log() == []  # and nothing reached the API meanwhile
