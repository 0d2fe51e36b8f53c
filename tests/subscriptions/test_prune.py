"""Settled deliveries are forgotten with their attempts once their event has left the feed."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import FEED_EVENTS, SUBSCRIPTION_ATTEMPTS, SUBSCRIPTION_DELIVERIES
from app.subscriptions.prune import prune_settled


def feed_row(ref_id: int) -> dict[str, Any]:
    return {"kind": "incoming", "ref_id": ref_id, "created_at": utcnow(), "payload": {}}


async def test_settled_deliveries_of_pruned_events_go_and_pending_ones_stay(
    engine: AsyncEngine,
) -> None:
    now = utcnow() - timedelta(days=10)
    async with engine.begin() as conn:
        feed_ids = [
            (
                await conn.execute(
                    insert(FEED_EVENTS).values(feed_row(n)).returning(FEED_EVENTS.c.id)
                )
            ).scalar_one()
            for n in range(4)
        ]
        states = ["delivered", "failed", "pending", "delivered"]
        for feed_id, state in zip(feed_ids, states, strict=True):
            delivery = {
                "subscription_id": 1,
                "feed_id": feed_id,
                "event_type": "incoming",
                "state": state,
                "attempts": 1,
                "tries": 1,
                "queued_at": now,
                "next_attempt_at": now,
                "created_at": now,
            }
            delivery_id = (
                await conn.execute(
                    insert(SUBSCRIPTION_DELIVERIES)
                    .values(delivery)
                    .returning(SUBSCRIPTION_DELIVERIES.c.id)
                )
            ).scalar_one()
            attempt = {
                "subscription_id": 1,
                "delivery_id": delivery_id,
                "attempted_at": now,
                "outcome": "retry",
                "latency_ms": 1.0,
            }
            await conn.execute(insert(SUBSCRIPTION_ATTEMPTS).values(attempt))
        # The feed's retention took the first three events.
        await conn.execute(delete(FEED_EVENTS).where(FEED_EVENTS.c.id.in_(feed_ids[:3])))
    assert await prune_settled(engine) == 2
    async with engine.connect() as conn:
        left = (
            await conn.execute(
                select(SUBSCRIPTION_DELIVERIES.c.feed_id, SUBSCRIPTION_DELIVERIES.c.state).order_by(
                    SUBSCRIPTION_DELIVERIES.c.id
                )
            )
        ).all()
        attempts = (await conn.scalars(select(SUBSCRIPTION_ATTEMPTS.c.delivery_id))).all()
    assert [tuple(row) for row in left] == [(feed_ids[2], "pending"), (feed_ids[3], "delivered")]
    assert len(attempts) == 2
    assert await prune_settled(engine) == 0
