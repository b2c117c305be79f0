"""Running the emulator: a uvicorn server in a background thread, and its handle ``Emulator``."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from prefect_llamabatch.emulator.admin import EmulatorAdmin
from prefect_llamabatch.emulator.app import create_app
from prefect_llamabatch.emulator.settings import EmulatorConfig
from prefect_llamabatch.emulator.state import EmulatorState
from prefect_llamabatch.emulator.store import Store

__all__ = ["Emulator", "run_emulator"]

_START_TIMEOUT = 30.0


class _CoalescingTransport:
    """An asyncio transport whose writes within one event-loop tick leave as one ``send()``.

    uvicorn writes a response's head and body separately; two system calls per response were a
    third of the emulator's CPU time per request.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer = bytearray()
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._buffer += data
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if self._buffer and not self._transport.is_closing():
            self._transport.write(bytes(self._buffer))
        self._buffer.clear()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._buffer.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _H11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        wrapped = _CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)  # type: ignore[arg-type]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Restarting on the same port must not wait for TIME_WAIT connections to expire.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio sets TCP_NODELAY only on sockets it binds itself; accepted sockets inherit this
    # one. Without it every response waits ~40 ms for a delayed ACK (headers, then body).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


class Emulator:
    """A running (or stopped) emulator: where it listens, its default key and its admin client.

    Use :func:`run_emulator` rather than constructing it directly.

    Example:
        ```python
        import httpx
        from prefect_llamabatch.emulator import run_emulator

        with run_emulator(time_scale=0.01) as emu:
            response = httpx.get(
                f"{emu.base_url}/api/v1/beta/batch-processing",
                headers={"Authorization": f"Bearer {emu.api_key}"},
            )
            assert response.json()["total_size"] == 0
        ```
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._owned_data_dir = False
        if config.data_dir is not None:
            self.data_dir = Path(config.data_dir)
        elif config.db_path is not None:
            self.data_dir = Path(f"{config.db_path}.data")
        else:
            self.data_dir = Path(tempfile.mkdtemp(prefix="llamabatch-emulator-"))
            self._owned_data_dir = True
        self._memory_store: Store | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.port = config.port
        self.host = config.host
        self.state: EmulatorState | None = None
        self._admin: EmulatorAdmin | None = None

    def __repr__(self) -> str:
        return f"Emulator(base_url={self.base_url!r}, running={self.running})"

    # ------------------------------------------------------------------ handle

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` (the port is known once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The first configured API key (the default one unless ``api_keys`` was given)."""
        return self.config.default_key.key.get_secret_value()

    @property
    def organization_id(self) -> str:
        """The default key's organization."""
        return self.config.default_key.organization_id

    @property
    def project_id(self) -> str:
        """The default key's default project."""
        return self.config.default_key.default_project_id

    @property
    def admin_token(self) -> str:
        """The token of the admin API."""
        return self.config.admin_token.get_secret_value()

    @property
    def admin(self) -> EmulatorAdmin:
        """The admin API client (created on first use)."""
        if self._admin is None:
            self._admin = EmulatorAdmin(self.base_url, self.config.admin_token)
        return self._admin

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def env(self) -> dict[str, str]:
        """The environment variables that point the SDK and this package's clients here."""
        return {"LLAMA_CLOUD_BASE_URL": self.base_url, "LLAMA_CLOUD_API_KEY": self.api_key}

    # ------------------------------------------------------------------ lifecycle

    def _store(self) -> Store:
        if self.config.db_path is not None:
            return Store(Path(self.config.db_path))
        # In memory: a "restart" keeps the same database, as a file would.
        if self._memory_store is None:
            self._memory_store = Store(None)
        return self._memory_store

    def start(self) -> Emulator:
        """Start serving in a background thread; returns when the server accepts connections.

        Raises:
            RuntimeError: the server did not start (the cause is chained).
        """
        if self.running:
            return self
        sock = _bind(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        state = EmulatorState.build(self.config, self._store(), self.data_dir)
        state.base_url = self.base_url
        self.state = state
        config = uvicorn.Config(
            create_app(state),
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=_H11Protocol,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._error = None
        ready = threading.Event()

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # surfaced to the starting thread
                self._error = exc
            finally:
                sock.close()
                ready.set()

        thread = threading.Thread(
            target=serve, name=f"llamacloud-emulator:{self.port}", daemon=True
        )
        self._thread = thread
        thread.start()
        while not server.started and thread.is_alive() and not ready.is_set():
            ready.wait(0.005)
        if not server.started:
            thread.join(_START_TIMEOUT)
            raise RuntimeError(f"emulator failed to start on {self.base_url}") from self._error
        return self

    def stop(self) -> None:
        """Stop serving (state stays in the database; ``start()`` resumes it)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_START_TIMEOUT)
        self._server = None
        self._thread = None
        if self.config.db_path is not None and self.state is not None:
            self.state.store.close()

    def restart(self) -> None:
        """Stop and start again on the same port and database, like a process restart.

        Items that were ``processing`` go back to ``pending`` and are processed again.
        """
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and remove the temporary data folder if the emulator created one."""
        self.stop()
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._memory_store is not None:
            self._memory_store.close()
            self._memory_store = None
        if self._owned_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def run_emulator(config: EmulatorConfig | None = None, **overrides: Any) -> Iterator[Emulator]:
    """Run an emulator on a free loopback port in a background thread.

    Args:
        config: the configuration (default: ``EmulatorConfig()``).
        **overrides: fields of ``EmulatorConfig`` to change, e.g. ``time_scale=0.01``.

    Yields:
        The running :class:`Emulator`; it is stopped (and its temporary data removed) on exit.

    Example:
        ```python
        from prefect_llamabatch.emulator import run_emulator

        with run_emulator(time_scale=0.01) as emu:
            docs = emu.admin.seed_directory({"a.txt": "hello"}, name="docs")
            print(emu.base_url, docs.id)
        ```
    """
    base = config or EmulatorConfig()
    if overrides:
        base = EmulatorConfig.model_validate({**dict(base), **overrides})
    emulator = Emulator(base)
    with emulator:
        yield emulator
