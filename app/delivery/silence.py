"""Whether receipts have gone silent while messages wait for them.

Mobivate keeps one URL per notification type for an account: another system using the same API
key can register its own and take the receipts, and nothing else would notice. Two signs:

- **silence**: messages submitted after the last receipt that came by webhook (or before any
  came) have waited at least `silence` for one, and none came;
- **a batch stopped**: a batch Mobivate is still sending (its `spread_hours` window, from its
  `schedule_at` or creation, is open) has messages in flight and no receipt for its messages for
  `silence` (counted from the start of its window when it never had one).

Receipts recorded by reconciliation do not count: they are asked for, not sent.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import BATCHES, RECEIPTS
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.status_rules import SUBMITTED

# Spread batches older than this are not looked at, whatever their spread (Mobivate allows 720 h).
_SPREAD_HORIZON = timedelta(days=31)
_SENDING_STATES = ("submitted", "partially_submitted")


@dataclass(frozen=True, slots=True)
class Silence:
    checked_at: datetime
    last_receipt_at: datetime | None
    # Messages submitted after the last receipt that have waited `silence` or longer.
    waiting: int
    oldest_waiting_at: datetime | None
    stopped_batches: tuple[int, ...] = field(default=())

    @property
    def silent(self) -> bool:
        return self.waiting > 0 or bool(self.stopped_batches)


async def assess_silence(engine: AsyncEngine, silence: timedelta, now: datetime) -> Silence:
    cutoff = now - silence
    async with engine.connect() as conn:
        last = await conn.scalar(
            select(func.max(RECEIPTS.c.received_at)).where(RECEIPTS.c.source == "webhook")
        )
        waiting, oldest = await _waiting(conn, last, cutoff)
        stopped = await _stopped_batches(conn, now, cutoff)
    return Silence(now, last, waiting, oldest, tuple(stopped))


async def _waiting(
    conn: AsyncConnection, last: datetime | None, cutoff: datetime
) -> tuple[int, datetime | None]:
    m = MESSAGES.c
    conditions = [
        m.final.is_(False),
        m.submission == SUBMITTED,
        m.submitted_at.is_not(None),
        m.submitted_at <= cutoff,
        or_(m.schedule_at.is_(None), m.schedule_at <= cutoff),
    ]
    if last is not None:
        conditions.append(
            or_(m.submitted_at > last, and_(m.schedule_at.is_not(None), m.schedule_at > last))
        )
    row = (
        await conn.execute(select(func.count(), func.min(m.submitted_at)).where(*conditions))
    ).one()
    return int(row[0] or 0), row[1]


async def _stopped_batches(conn: AsyncConnection, now: datetime, cutoff: datetime) -> list[int]:
    b = BATCHES.c
    candidates = await conn.execute(
        select(b.id, b.created_at, b.schedule_at, b.spread_hours).where(
            b.spread_hours > 0,
            b.state.in_(_SENDING_STATES),
            b.created_at >= now - _SPREAD_HORIZON,
        )
    )
    stopped = []
    for batch_id, created_at, schedule_at, spread_hours in candidates.all():
        start = schedule_at or created_at
        if not (start <= cutoff and now < start + timedelta(hours=spread_hours)):
            continue
        in_flight = await conn.scalar(
            select(func.count()).where(
                MESSAGES.c.batch_id == batch_id,
                MESSAGES.c.final.is_(False),
                MESSAGES.c.submission == SUBMITTED,
            )
        )
        if not in_flight:
            continue
        last = await conn.scalar(
            select(func.max(RECEIPTS.c.received_at))
            .select_from(RECEIPTS.join(MESSAGES, MESSAGES.c.id == RECEIPTS.c.outbound_message_id))
            .where(MESSAGES.c.batch_id == batch_id, RECEIPTS.c.source == "webhook")
        )
        if (last or start) <= cutoff:
            stopped.append(batch_id)
    return stopped
