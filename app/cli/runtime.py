"""`cli_runtime`: the runtime a command works with.

It is the service's own runtime (`app.runtime.open_runtime`), without the background workers, so
a command that stores events goes through the same ingest steps as live traffic. When the command
is done, the opt-out changes it recorded are pushed to Mobivate before it exits (as far as
Mobivate takes them now; what it does not take stays in the outbox for the service to retry).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.config import Settings
from app.runtime import Runtime, open_runtime


@asynccontextmanager
async def cli_runtime(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Runtime]:
    """`transport` replaces the network for calls to Mobivate (tests pass the fake's)."""
    async with open_runtime(settings, mobivate_transport=transport) as runtime:
        yield runtime
        await runtime.outbox.deliver_due()
