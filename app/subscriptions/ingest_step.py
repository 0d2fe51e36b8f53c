"""The subscriptions' step in the ingest writer's list (`app.runtime.ingest_steps`)."""

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from app.webhooks.ingest import StoredEvent


class WakeDeliveries:
    """The subscriptions' ingest step. The deliveries themselves are written by the trigger on
    `event_feed` (migration 0013) in the storing transaction, by then already done; this step
    wakes the worker once that transaction has committed, so they go out at once (the worker
    ignores the wake while it knows of no enabled subscription)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        return None

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        self._wake()
