"""Reading a Server-Sent Events response from the ASGI app as it streams.

httpx's ASGITransport waits for the whole response, which an endless stream never finishes, so
this drives the app with a plain ASGI call: it sends the request, hands each body chunk to a
parser as it is sent, and disconnects when the test is done.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.types import ASGIApp, Message

from tests.support.app import AUTH_HEADERS


@dataclass
class Event:
    id: int
    event: str | None
    data: Any


@dataclass
class Comment:
    comment: str


@dataclass
class Stream:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    _events: asyncio.Queue[Event | Comment] = field(default_factory=asyncio.Queue)
    _buffer: str = ""
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    body: str = ""

    def feed(self, chunk: str) -> None:
        self.body += chunk
        self._buffer += chunk
        while "\n\n" in self._buffer:
            block, self._buffer = self._buffer.split("\n\n", 1)
            self._parse(block)

    def _parse(self, block: str) -> None:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self._events.put_nowait(Comment(line[1:].strip()))
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            self._events.put_nowait(
                Event(int(fields["id"]), fields.get("event"), orjson.loads(fields["data"]))
            )

    async def next(self, within: float = 5.0) -> Event:
        """The next event, past any comments."""
        async with asyncio.timeout(within):
            while True:
                item = await self._events.get()
                if isinstance(item, Event):
                    return item

    async def next_comment(self, within: float = 5.0) -> Comment:
        """The next comment, past any events."""
        async with asyncio.timeout(within):
            while True:
                item = await self._events.get()
                if isinstance(item, Comment):
                    return item

    async def events(self, count: int, within: float = 5.0) -> list[Event]:
        return [await self.next(within) for _ in range(count)]

    async def nothing_more(self, within: float = 0.3) -> None:
        with contextlib.suppress(TimeoutError):
            event = await self.next(within)
            raise AssertionError(f"unexpected event {event}")


@contextlib.asynccontextmanager
async def open_stream(
    app: ASGIApp,
    path: str = "/api/v1/events/stream",
    params: Any = None,
    headers: dict[str, str] | None = None,
    *,
    token: bool = True,
) -> AsyncIterator[Stream]:
    """`token=False` sends no Authorization header (a ticket in `params` may open it)."""
    stream = Stream()
    disconnect = asyncio.Event()
    sent_request = False
    all_headers = {**(AUTH_HEADERS if token else {}), **(headers or {})}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(params or {}, doseq=True).encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("203.0.113.7", 40001),
        "server": ("testserver", 80),
    }

    async def receive() -> Message:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            stream._started.set()
        elif message["type"] == "http.response.body":
            stream.feed(message.get("body", b"").decode())

    async def serve() -> None:
        await app(scope, receive, send)

    task = asyncio.create_task(serve())
    try:
        async with asyncio.timeout(5):
            await stream._started.wait()
        yield stream
    finally:
        disconnect.set()
        try:
            async with asyncio.timeout(5):
                await task
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
