"""An ASGI app served by uvicorn on a loopback port, in the test's event loop: what a browser
needs to reach the in-process app (whose lifespan the caller runs)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from tests.support.ports import free_port
from tests.support.waiting import eventually


@asynccontextmanager
async def served(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """The base URL (http://host:port) that serves `app` until the block ends."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws="none",
        access_log=False, timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    try:
        await eventually(started, within=10, what="uvicorn starting", interval=0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
