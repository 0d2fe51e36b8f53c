"""The fake Mobivate: in-process, or served on a loopback port as a real server."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from app.fake_mobivate import FakeMobivate
from tests.support.ports import free_port
from tests.support.waiting import eventually

FAKE_API_KEY = "fake-mobivate-key-for-tests"


@asynccontextmanager
async def fake_mobivate(
    *, api_key: str = FAKE_API_KEY, **options: Any
) -> AsyncIterator[FakeMobivate]:
    """A fake accepting `api_key`; `options` are FakeMobivate's (callback client, receipts)."""
    fake = FakeMobivate(api_key=api_key, **options)
    try:
        yield fake
    finally:
        await fake.aclose()


def optout_calls(fake: FakeMobivate) -> list[tuple[str, str]]:
    """(method, mobile) of every opt-out add and delete that reached the fake, in order."""
    return [
        (request.method, request.json["mobile"])
        for request in fake.requests
        if request.path in ("/addressbook/optout", "/optout") and request.method != "GET"
    ]


class FakeMobivateServer:
    """The fake Mobivate on a loopback port; `stop()` makes the port refuse connections and
    `start()` brings the same fake (same state) back."""

    def __init__(self) -> None:
        self.fake = FakeMobivate(api_key=FAKE_API_KEY)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self.fake.app, host="127.0.0.1", port=self.port, log_config=None,
            lifespan="off", ws="none", access_log=False,
        )  # fmt: skip
        server = self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(server.serve())

        async def started() -> bool:
            return server.started

        await eventually(started, within=10, what="the fake Mobivate starting", interval=0.02)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@asynccontextmanager
async def fake_mobivate_server() -> AsyncIterator[FakeMobivateServer]:
    server = FakeMobivateServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await server.fake.aclose()
