"""One shape for every background loop of the service: a `Worker`.

A worker runs its `step` again and again. The step returns how many seconds to wait before the
next run (0: at once, there is more to do), or None when its work is finished for good. `wake()`
cuts a wait short, so a change committed by this process is acted on at once rather than at the
next poll; a wake that arrives while a step runs makes the next run start at once.

A step that raises is handed to the worker's error policy with the number of failures in a row;
the policy logs as that loop sees fit and returns the wait before trying again. So a database
outage or a provider failure never ends a loop, and each loop keeps its own way of reporting.

`stop()` cancels the loop and waits until it has ended. A worker with a stop grace lets a step
in progress finish for that long first (the opt-out outbox, so a push Mobivate accepted is
recorded as delivered).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

RECANCEL_SECONDS = 1.0

Step = Callable[[], Awaitable[float | None]]
ErrorPolicy = Callable[[Exception, int], Awaitable[float]]


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait for it to end, cancelling again every second while it runs.

    A loop outlives errors on purpose, so a cleanup that fails while a cancellation unwinds (a
    connection closing under it) can replace the CancelledError with an ordinary error and the
    loop would carry on; cancelling again ends it at its next wait."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


def log_and_retry_after(seconds: float, message: str) -> ErrorPolicy:
    """The common policy: log `message` with the error's type at WARNING, retry after `seconds`."""

    async def policy(exc: Exception, failures: int) -> float:
        logger.warning("%s: %s", message, type(exc).__name__)
        return seconds

    return policy


class Worker:
    def __init__(
        self,
        name: str,
        step: Step,
        *,
        on_error: ErrorPolicy,
        first_run_after: float = 0.0,
        stop_grace: float = 0.0,
    ) -> None:
        self.name = name
        self._step = step
        self._on_error = on_error
        self._first_run_after = first_run_after
        self._stop_grace = stop_grace
        self._wake = asyncio.Event()
        self._stopping = False
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self.task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        if self._stop_grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self._stop_grace)
        await cancel_and_wait(task)

    async def _run(self) -> None:
        delay: float | None = self._first_run_after
        failures = 0
        while delay is not None and not self._stopping:
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                if self._stopping:
                    return
            else:
                await asyncio.sleep(0)
            self._wake.clear()
            try:
                delay = await self._step()
                failures = 0
            except Exception as exc:  # the loop outlives any single failure
                failures += 1
                delay = await self._on_error(exc, failures)
