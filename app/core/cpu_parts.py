"""CPU time by part of a serving process (CPU_ACCOUNTING), so a benchmark can say where a
request's CPU goes:

- `http`: uvicorn's protocol, that is parsing requests (httptools), starting each request's task,
  and writing the answers;
- `app`: every asyncio task except the time it spends in those writes: the ASGI app up to its
  answer, the ingest writer with its SQL (SQLAlchemy and the driver sending statements), the
  background workers.

What the process spends outside both is the event loop itself (polling, timers, callbacks) and
the database driver reading PostgreSQL's answers, which run as the loop's callbacks.

Measured with the thread's CPU clock around each step of every task (the loop's task factory)
and around the protocol's callbacks (`app.cli.http_protocol`). Two clock reads and a wrapper per
task step cost about 1 µs of CPU (100,000 steps of `asyncio.sleep(0)` under uvloop: 0.8 µs a step
without, 1.9 µs with); a webhook takes a few steps, and bench/http_path.py finds the difference
within its noise. Still, it is off unless asked for. The totals go to
`process_cpu_part_seconds_total{part}` once a second.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from contextlib import asynccontextmanager
from typing import Any

from app.core.metrics import CPU_PARTS

_clock = time.thread_time
FLUSH_SECONDS = 1.0


class CpuParts:
    """The running totals of one process, in CPU seconds. `nested` is the time of writes made
    inside task steps (taken off `app`); `steps` counts task steps, so a write that had to wait
    (other steps ran meanwhile) is not counted as its own."""

    __slots__ = ("app", "enabled", "http", "nested", "steps")

    def __init__(self) -> None:
        self.app = 0.0
        self.http = 0.0
        self.nested = 0.0
        self.steps = 0
        self.enabled = False


PARTS = CpuParts()


class _TimedSteps(Coroutine[Any, Any, Any]):
    """A task's coroutine, each step of it timed."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro

    def send(self, value: Any) -> Any:
        parts = PARTS
        parts.steps += 1
        nested = parts.nested
        start = _clock()
        try:
            return self._coro.send(value)
        finally:
            parts.app += _clock() - start - (parts.nested - nested)

    def throw(self, *args: Any) -> Any:
        parts = PARTS
        parts.steps += 1
        nested = parts.nested
        start = _clock()
        try:
            return self._coro.throw(*args)
        finally:
            parts.app += _clock() - start - (parts.nested - nested)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()


def _timed_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
) -> "asyncio.Task[Any]":
    return asyncio.Task(_TimedSteps(coro), loop=loop, **kwargs)


def timed_http(callback: Callable[..., None], *args: Any) -> None:
    """Runs one of the protocol's callbacks, its time counted as `http`."""
    start = _clock()
    try:
        callback(*args)
    finally:
        PARTS.http += _clock() - start


SendFunction = Callable[[Any], Awaitable[None]]


def timed_send(send: SendFunction) -> SendFunction:
    """The server's `send`, its time counted as `http` rather than as the calling task's."""

    async def send_timed(message: Any) -> None:
        parts = PARTS
        steps = parts.steps
        start = _clock()
        await send(message)
        if parts.steps == steps:
            spent = _clock() - start
            parts.http += spent
            parts.nested += spent

    return send_timed


@asynccontextmanager
async def cpu_accounting() -> AsyncIterator[CpuParts]:
    """Counts from now on the tasks the running loop creates and the protocol's callbacks."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(_timed_task)  # type: ignore[arg-type]
    PARTS.enabled = True
    counters = {"app": CPU_PARTS.labels("app"), "http": CPU_PARTS.labels("http")}
    flushed = {part: getattr(PARTS, part) for part in counters}

    def flush() -> None:
        for part, counter in counters.items():
            total = getattr(PARTS, part)
            counter.inc(total - flushed[part])
            flushed[part] = total

    timers: list[asyncio.TimerHandle] = []

    def tick() -> None:
        flush()
        timers[:] = [loop.call_later(FLUSH_SECONDS, tick)]

    tick()
    try:
        yield PARTS
    finally:
        timers[0].cancel()
        flush()
        PARTS.enabled = False
        loop.set_task_factory(previous)
