"""uvicorn's HTTP protocol with two guards against slow and idle clients, used by `serve`.

- A request must arrive whole within REQUEST_READ_TIMEOUT_SECONDS: its headers and body, counted
  from the moment the connection opens (or the next request on a kept-alive connection begins).
  A slower client gets `408` if nothing was answered yet, and its connection is closed. uvicorn
  alone waits for ever on headers that never end, and on a body sent one byte at a time.
- A process keeps at most MAX_CONNECTIONS open connections. Past that, a new connection makes
  room by closing the oldest connection that is not being answered (still sending its request,
  or idle between requests), so sockets held open on purpose cannot starve the requests that
  arrive whole (Mobivate's). Only when every connection is being answered does uvicorn's own
  `503` apply.

On shutdown it first ends the live feed's open streams (the lifespan state's
`CLOSE_STREAMS`), so they finish with a final event at once instead of holding the server for its
whole graceful timeout and then being cancelled with a traceback.

uvicorn instantiates the class in every worker process (`http="app.cli.http_protocol:..."`), so
the limits are read from the settings there.
"""

import asyncio
import time
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from app.config import get_settings
from app.core.cpu_parts import PARTS, timed_http, timed_send
from app.feed.watch import CLOSE_STREAMS

_TIMED_OUT_BODY = b'{"detail":"the request did not arrive in time (REQUEST_READ_TIMEOUT_SECONDS)"}'
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY)
)


@cache
def _limits() -> tuple[float, int]:
    settings = get_settings()
    return settings.request_read_timeout_seconds, settings.max_connections


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, its work counted as `http` under CPU_ACCOUNTING
    (`app.core.cpu_parts`). The webhook benchmark's reference runs with it too."""

    def data_received(self, data: bytes) -> None:
        if PARTS.enabled:
            timed_http(super().data_received, data)
        else:
            super().data_received(data)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if PARTS.enabled:
            cycle.send = timed_send(cycle.send)  # type: ignore[method-assign,assignment]
        super()._start_asgi_task(cycle, app)


class GuardedHttpProtocol(TimedHttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout, self._max_connections = _limits()
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = time.monotonic()
        self._answering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()
        if len(self.connections) > self._max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._start_deadline()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._answering = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stop_deadline()

    def on_response_complete(self) -> None:
        self._answering = False
        self._waiting_since = time.monotonic()
        super().on_response_complete()

    def shutdown(self) -> None:
        close_streams = self.app_state.get(CLOSE_STREAMS)
        if callable(close_streams):
            close_streams()
        super().shutdown()

    @property
    def waiting(self) -> bool:
        """Not being answered: still sending its request, or idle between requests."""
        return not self._answering or self._deadline is not None

    def _start_deadline(self) -> None:
        self._stop_deadline()
        self._waiting_since = time.monotonic()
        self._deadline = self.loop.call_later(self._read_timeout, self._timed_out)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            # Still sending its headers: no app is running to answer, so answer here. Otherwise
            # the app sees the client disconnect while it waits for the body.
            self.transport.write(_TIMED_OUT)
        self.transport.close()

    def _make_room(self) -> None:
        waiting = [
            other
            for other in self.connections
            if other is not self and isinstance(other, GuardedHttpProtocol) and other.waiting
        ]
        if waiting:
            oldest = min(waiting, key=lambda other: other._waiting_since)
            oldest._stop_deadline()
            oldest.transport.close()
