"""Forgetting settled deliveries: a delivery that was taken or failed for good is deleted with its
attempts once the live feed no longer keeps its event (EVENT_FEED_RETENTION_HOURS), since it
could not be replayed any more. Pending ones stay, whatever their age (a disabled subscription's
wait for it to be enabled again). Deleted from the oldest end, a chunk at a time: delivery ids
follow the feed's."""

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import FEED_EVENTS as FEED
from app.core.tables import SUBSCRIPTION_ATTEMPTS as ATTEMPTS
from app.core.tables import SUBSCRIPTION_DELIVERIES as DELIVERIES

CHUNK = 1000


async def prune_settled(engine: AsyncEngine) -> int:
    """Delete settled deliveries whose event is gone; how many were deleted."""
    deleted = 0
    after = 0
    while True:
        async with engine.begin() as conn:
            oldest_kept = await conn.scalar(select(func.min(FEED.c.id)))
            rows = (
                await conn.execute(
                    select(DELIVERIES.c.id, DELIVERIES.c.feed_id, DELIVERIES.c.state)
                    .where(DELIVERIES.c.id > after)
                    .order_by(DELIVERIES.c.id)
                    .limit(CHUNK)
                )
            ).all()
            if not rows:
                return deleted
            expired = [
                row.id
                for row in rows
                if row.state != "pending" and (oldest_kept is None or row.feed_id < oldest_kept)
            ]
            if expired:
                await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.delivery_id.in_(expired)))
                await conn.execute(delete(DELIVERIES).where(DELIVERIES.c.id.in_(expired)))
            deleted += len(expired)
        reached_kept = oldest_kept is not None and rows[-1].feed_id >= oldest_kept
        if len(rows) < CHUNK or reached_kept:
            return deleted
        after = rows[-1].id
