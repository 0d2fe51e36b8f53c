"""Stopping the service's background tasks."""

import asyncio
from typing import Any

RECANCEL_SECONDS = 1.0


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait for it to end, cancelling again every second while it runs.

    The background loops outlive database errors on purpose (`except Exception`), so a cleanup
    that fails while a cancellation unwinds (a connection closing under it) can replace the
    CancelledError with an ordinary error and the loop would carry on; cancelling again ends it
    at its next wait."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
