"""The emulator's ASGI application: FastAPI routes wrapped in the fault/request-log middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp

from prefect_llamabatch.emulator import admin_api, api, v2_api
from prefect_llamabatch.emulator.auth import ApiError
from prefect_llamabatch.emulator.faults import FaultMiddleware, route_namer
from prefect_llamabatch.emulator.openapi import install_openapi
from prefect_llamabatch.emulator.render import error_response
from prefect_llamabatch.emulator.state import EmulatorState
from prefect_llamabatch.emulator.store import StoreError
from prefect_llamabatch.emulator.v2_store import V2Backend

__all__ = ["create_app"]

logger = logging.getLogger("prefect_llamabatch.emulator")


def create_app(state: EmulatorState) -> ASGIApp:
    """Build the ASGI app serving ``state``.

    Its lifespan recovers items left ``processing`` by a previous run and starts the scheduler.

    Example:
        ```python
        from pathlib import Path
        import tempfile

        from prefect_llamabatch.emulator import EmulatorConfig
        from prefect_llamabatch.emulator.app import create_app
        from prefect_llamabatch.emulator.state import EmulatorState
        from prefect_llamabatch.emulator.store import Store

        state = EmulatorState.build(EmulatorConfig(), Store(None), Path(tempfile.mkdtemp()))
        app = create_app(state)  # serve with uvicorn.run(app)
        ```
    """

    v2 = V2Backend(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        recovered = state.store.recover()
        if recovered:
            logger.info("emulator: %d item(s) left processing were put back to pending", recovered)
        state.scheduler.start()
        v2.start()
        try:
            yield
        finally:
            await v2.stop()
            await state.scheduler.stop()

    app = FastAPI(
        title="LlamaCloud emulator",
        lifespan=lifespan,
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    app.state.emulator = state
    app.state.v2 = v2

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> Response:
        return error_response(exc.status, exc.detail)

    app.include_router(api.router)
    app.include_router(v2_api.router)
    app.include_router(admin_api.router)
    install_openapi(app, [*api.router.routes, *v2_api.router.routes])
    return FaultMiddleware(
        app,
        faults=state.faults,
        outage=state.outage,
        log=state.log,
        latency=lambda: state.config.response_latency,
        route_name=route_namer([*api.router.routes, *v2_api.router.routes]),
    )
