"""A subscriber on a loopback port: a real HTTP server that keeps every request it gets and
answers each with the next status of its script (then 200)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from tests.support.served import served


@dataclass(frozen=True, slots=True)
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    # Status codes answered in turn; once used up, 200. `always` overrides both.
    script: list[int] = field(default_factory=list)
    always: int | None = None
    # When set, each answer is this many bytes, sent in 64 KiB chunks.
    answer_bytes: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        self.received.append(Received(headers, body))
        self.arrived.set()
        status = self.always or (self.script.pop(0) if self.script else 200)
        await send({"type": "http.response.start", "status": status, "headers": []})
        if not self.answer_bytes:
            await send({"type": "http.response.body", "body": f"answered {status}".encode()})
            return
        chunk = b"x" * 65536
        for _ in range(self.answer_bytes // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.received]


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with served(receiver) as base:
        receiver.url = f"{base}/hooks"
        yield receiver
