"""The delivery funnel: how far the messages of a window, or of one batch, got.

Of the messages created in the window (or belonging to the batch):
- sent: Mobivate took them (`submitted_at` set);
- accepted: of those, the ones Mobivate has reported on since (any receipt: the status is no
  longer one of ours);
- delivered / expired / failed: of those, now DELIVERED, EXPIRED, or in another final status;
  pending: sent and not final yet;
- clicks and replies: the clicks and incoming messages linked to these messages;
- opt_outs: for a window, opt-outs registered in it; for a batch, its recipients who opted out
  after it was created.
One aggregate over the messages (index on `created_at`, or the batch's index), and one count per
linked table, all in one snapshot on PostgreSQL.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import CLICKS
from app.core.tables import INCOMING_MESSAGES as INCOMING
from app.core.tables import OPTOUT_EVENTS as EVENTS
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.status_rules import DELIVERED, LOCAL_STATUSES

EXPIRED = "EXPIRED"


@dataclass
class Funnel:
    sent: int = 0
    accepted: int = 0
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    pending: int = 0
    clicks: int = 0
    replies: int = 0
    opt_outs: int = 0


def _count(condition: ColumnElement[bool]) -> Any:
    return func.count(case((condition, 1)))


async def _messages(conn: AsyncConnection, where: list[ColumnElement[bool]]) -> Funnel:
    c = MESSAGES.c
    sent = c.submitted_at.is_not(None)
    row = (
        await conn.execute(
            select(
                _count(sent),
                _count(and_(sent, c.status.not_in(LOCAL_STATUSES))),
                _count(and_(sent, c.status == DELIVERED)),
                _count(and_(sent, c.final.is_(True), c.status.not_in((DELIVERED, EXPIRED)))),
                _count(and_(sent, c.status == EXPIRED)),
                _count(and_(sent, c.final.is_(False))),
            ).where(*where)
        )
    ).one()
    return Funnel(*(int(value) for value in row))


async def _linked(conn: AsyncConnection, funnel: Funnel, where: list[ColumnElement[bool]]) -> None:
    ids = select(MESSAGES.c.id).where(*where)
    clicks = select(func.count()).where(CLICKS.c.outbound_message_id.in_(ids))
    replies = select(func.count()).where(INCOMING.c.outbound_message_id.in_(ids))
    funnel.clicks = int(await conn.scalar(clicks) or 0)
    funnel.replies = int(await conn.scalar(replies) or 0)


@asynccontextmanager
async def _snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction that sees one snapshot (REPEATABLE READ on PostgreSQL)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


async def window_funnel(engine: AsyncEngine, since: datetime, until: datetime) -> Funnel:
    where = [MESSAGES.c.created_at >= since, MESSAGES.c.created_at < until]
    async with _snapshot(engine) as conn:
        funnel = await _messages(conn, where)
        await _linked(conn, funnel, where)
        opt_outs = select(func.count()).where(
            EVENTS.c.action == "opt_out", EVENTS.c.event_at >= since, EVENTS.c.event_at < until
        )
        funnel.opt_outs = int(await conn.scalar(opt_outs) or 0)
    return funnel


async def batch_funnel(engine: AsyncEngine, batch_id: int, created_at: datetime) -> Funnel:
    where = [MESSAGES.c.batch_id == batch_id]
    async with _snapshot(engine) as conn:
        funnel = await _messages(conn, where)
        await _linked(conn, funnel, where)
        recipients = select(MESSAGES.c.msisdn).where(*where)
        opted_out = select(func.count(EVENTS.c.msisdn.distinct())).where(
            EVENTS.c.action == "opt_out",
            EVENTS.c.event_at >= created_at,
            EVENTS.c.msisdn.in_(recipients),
        )
        funnel.opt_outs = int(await conn.scalar(opted_out) or 0)
    return funnel
