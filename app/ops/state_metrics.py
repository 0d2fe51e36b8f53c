"""Gauges read from the database at scrape time: webhook registrations, the opt-out outbox, the
replies waiting in the opt-out review queue, the sent messages still waiting for a final
receipt and the deliveries owed to subscribers.

That state lives in tables shared by every worker and replica, so it is read when `/metrics` is
scraped rather than kept in process memory: any worker of any replica reports the same values.
A scrape that cannot reach the database still answers, with `database_up 0` and without these
gauges.
"""

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import (
    Optout,
    OptoutReview,
    OutboundMessage,
    OutboxMessage,
    Subscription,
    SubscriptionDelivery,
    WebhookRegistration,
)

logger = logging.getLogger(__name__)

REGISTRATION_STATES = ("pending", "registered", "failed", "unauthorized")
SNAPSHOT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    registrations: dict[str, str]
    outbox_pending: int
    outbox_failed: int
    outbox_oldest_pending_at: datetime | None
    messages_in_flight: int
    opted_out: int
    unresolved: int
    reviews_pending: int
    taken_at: datetime
    deliveries_pending: int = 0
    deliveries_oldest_pending_at: datetime | None = None
    subscriptions_disabled: int = 0

    @property
    def deliveries_oldest_pending_age(self) -> float:
        oldest = self.deliveries_oldest_pending_at
        return 0.0 if oldest is None else max(0.0, (self.taken_at - oldest).total_seconds())

    @property
    def outbox_oldest_pending_age(self) -> float:
        oldest = self.outbox_oldest_pending_at
        return 0.0 if oldest is None else max(0.0, (self.taken_at - oldest).total_seconds())


async def take_snapshot(engine: AsyncEngine) -> StateSnapshot:
    outbox = OutboxMessage
    async with engine.connect() as conn:
        registration_rows = await conn.execute(
            select(WebhookRegistration.kind, WebhookRegistration.state)
        )
        registrations = {str(kind): str(state) for kind, state in registration_rows}
        count_rows = await conn.execute(
            select(outbox.state, func.count())
            .where(outbox.state.in_(("pending", "failed")))
            .group_by(outbox.state)
        )
        counts = {str(state): int(count) for state, count in count_rows}
        oldest_pending = select(outbox.created_at).where(outbox.state == "pending")
        oldest = (
            await conn.execute(oldest_pending.order_by(outbox.id).limit(1))
        ).scalar_one_or_none()
        # The (final, submitted_at) index answers this without reading the messages.
        in_flight = await conn.scalar(
            select(func.count()).where(
                OutboundMessage.final.is_(False), OutboundMessage.submitted_at.is_not(None)
            )
        )
        # The (opted_out, changed_at, msisdn) index answers this one.
        opted_out = await conn.scalar(
            select(func.count()).select_from(Optout).where(Optout.opted_out.is_(True))
        )
        unresolved = await conn.scalar(
            select(func.count())
            .select_from(Optout)
            .where(Optout.opted_out.is_(True), Optout.unresolved.is_(True))
        )
        # The (state, created_at, id) index answers this one.
        reviews_pending = await conn.scalar(
            select(func.count()).select_from(OptoutReview).where(OptoutReview.state == "pending")
        )
        delivery = SubscriptionDelivery
        deliveries_pending = await conn.scalar(
            select(func.count()).select_from(delivery).where(delivery.state == "pending")
        )
        deliveries_oldest = await conn.scalar(
            select(func.min(delivery.created_at)).where(delivery.state == "pending")
        )
        disabled = await conn.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.enabled.is_(False))
        )
    return StateSnapshot(
        deliveries_pending=int(deliveries_pending or 0),
        deliveries_oldest_pending_at=deliveries_oldest,
        subscriptions_disabled=int(disabled or 0),
        registrations=registrations,
        outbox_pending=counts.get("pending", 0),
        outbox_failed=counts.get("failed", 0),
        outbox_oldest_pending_at=oldest,
        messages_in_flight=int(in_flight or 0),
        opted_out=int(opted_out or 0),
        unresolved=int(unresolved or 0),
        reviews_pending=int(reviews_pending or 0),
        taken_at=utcnow(),
    )


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: StateSnapshot | None) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "database_up",
            "1 when this scrape could read the database, else 0",
            value=0 if self._snapshot is None else 1,
        )
        snapshot = self._snapshot
        if snapshot is None:
            return
        registered = GaugeMetricFamily(
            "webhook_registration_registered",
            "1 when the webhook of this kind is registered at Mobivate, else 0",
            labels=["kind"],
        )
        state = GaugeMetricFamily(
            "webhook_registration_state",
            "1 for the current registration state of each webhook kind, 0 for the others",
            labels=["kind", "state"],
        )
        for kind, current in sorted(snapshot.registrations.items()):
            registered.add_metric([kind], 1 if current == "registered" else 0)
            for name in REGISTRATION_STATES:
                state.add_metric([kind, name], 1 if current == name else 0)
        yield registered
        yield state
        yield GaugeMetricFamily(
            "outbox_pending",
            "Opt-out pushes to Mobivate waiting to be delivered",
            value=snapshot.outbox_pending,
        )
        yield GaugeMetricFamily(
            "outbox_failed",
            "Opt-out pushes Mobivate refused for good (see GET /api/v1/optout-pushes)",
            value=snapshot.outbox_failed,
        )
        yield GaugeMetricFamily(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest opt-out push still waiting (0 when none is)",
            value=snapshot.outbox_oldest_pending_age,
        )
        yield GaugeMetricFamily(
            "messages_in_flight",
            "Sent messages Mobivate took that have no final status yet (waiting for receipts)",
            value=snapshot.messages_in_flight,
        )
        yield GaugeMetricFamily(
            "subscription_deliveries_pending",
            "Events owed to subscribers and not yet taken (the backlog)",
            value=snapshot.deliveries_pending,
        )
        yield GaugeMetricFamily(
            "subscription_deliveries_oldest_pending_age_seconds",
            "Age of the oldest event still owed to a subscriber (0 when none is)",
            value=snapshot.deliveries_oldest_pending_age,
        )
        yield GaugeMetricFamily(
            "subscriptions_disabled",
            "Subscriptions disabled because their deliveries kept failing (or by hand)",
            value=snapshot.subscriptions_disabled,
        )
        yield GaugeMetricFamily(
            "optouts_opted_out",
            "Numbers opted out now (nothing is ever sent to them)",
            value=snapshot.opted_out,
        )
        yield GaugeMetricFamily(
            "optouts_unresolved",
            "Opted-out senders that could not be resolved to E.164 (listed by "
            "GET /api/v1/optouts?unresolved=true; no send matches them: look at each)",
            value=snapshot.unresolved,
        )
        yield GaugeMetricFamily(
            "optout_reviews_pending",
            "Replies waiting for a person to decide whether they opt out "
            "(GET /api/v1/optouts/review)",
            value=snapshot.reviews_pending,
        )


async def render_state_metrics(engine: AsyncEngine) -> bytes:
    """Exposition text of the database-backed gauges."""
    snapshot: StateSnapshot | None
    try:
        snapshot = await asyncio.wait_for(take_snapshot(engine), SNAPSHOT_TIMEOUT_SECONDS)
    except Exception as exc:  # the scrape must answer even while the database is away
        logger.warning("metrics: database state not readable: %s", type(exc).__name__)
        snapshot = None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
