"""Message figures per UTC hour with every delivery time, for percentiles taken in Python.

SQLite computes every hour from the messages. On PostgreSQL this is the reference path (the
benchmark's and the tests'): kept hours that are not dirty give their figures and delivery
times, every other hour is computed from the messages, all in one REPEATABLE READ snapshot.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.sql_time import bucket_key, bucket_start, seconds_between
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.core.tables import STATS_DIRTY_HOURS as DIRTY
from app.core.tables import STATS_HOURS as HOURS
from app.delivery.status_rules import DELIVERED
from app.stats.spans import HOUR, Ranges, ceil_hour, floor_hour, merge


@dataclass
class HourFigures:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    # Seconds from submission to delivery of each delivered message, ascending.
    seconds: list[float] = field(default_factory=list)


async def from_messages(
    conn: AsyncConnection, ranges: Ranges | None, where: Sequence[Any] = ()
) -> dict[datetime, HourFigures]:
    """Figures per creation hour of the messages Mobivate accepted that were created within
    `ranges` (None: whenever) and match `where`."""
    if ranges is not None and not ranges:
        return {}
    dialect = conn.dialect.name
    key = bucket_key(MESSAGES.c.created_at, "hour", dialect).label("key")
    created = MESSAGES.c.created_at
    where = [*where, MESSAGES.c.submitted_at.is_not(None)]
    if ranges is not None:
        where.append(or_(*(and_(created >= start, created < end) for start, end in ranges)))
    delivered = MESSAGES.c.status == DELIVERED
    counts = select(
        key,
        func.count().label("sent"),
        func.count(case((delivered, 1))).label("delivered"),
        func.count(case((and_(MESSAGES.c.final, ~delivered), 1))).label("failed"),
        func.count(case((~MESSAGES.c.final, 1))).label("pending"),
    ).where(*where)
    found: dict[datetime, HourFigures] = {}
    for row in await conn.execute(counts.group_by(key)):
        found[bucket_start(row.key)] = HourFigures(row.sent, row.delivered, row.failed, row.pending)
    seconds = seconds_between(MESSAGES.c.submitted_at, MESSAGES.c.delivered_at, dialect)
    times = (
        select(key, seconds.label("seconds"))
        .where(*where, delivered, MESSAGES.c.delivered_at.is_not(None))
        .order_by(seconds)
    )
    for row in await conn.execute(times):
        found[bucket_start(row.key)].seconds.append(round(float(row.seconds), 6))
    return found


async def hour_figures(
    conn: AsyncConnection, since: datetime, until: datetime
) -> dict[datetime, HourFigures]:
    """Figures per creation hour for [since, until): kept hours where they are current, the
    rest from the messages. On PostgreSQL, call inside a REPEATABLE READ transaction."""
    first, last = ceil_hour(since), floor_hour(until)
    if conn.dialect.name != "postgresql" or first >= last:
        return await from_messages(conn, [(since, until)])
    dirty = set(
        (
            await conn.execute(
                select(DIRTY.c.hour).where(DIRTY.c.hour >= first, DIRTY.c.hour < last).distinct()
            )
        ).scalars()
    )
    kept = await _kept(conn, first, last, dirty)
    missing, hour = [], first
    while hour < last:
        if hour not in kept:
            missing.append(hour)
        hour += HOUR
    ranges = [(since, first), *merge(missing), (last, until)]
    live = await from_messages(conn, [(start, end) for start, end in ranges if start < end])
    return {**kept, **live}


# Kept hours already read, by (hour, computed_at): a recomputed hour has a new computed_at.
_READ: dict[tuple[datetime, datetime], HourFigures] = {}
_READ_MAX = 20_000


async def _kept(
    conn: AsyncConnection, first: datetime, last: datetime, dirty: set[datetime]
) -> dict[datetime, HourFigures]:
    """Kept hours in [first, last) that are not dirty; delivery times are read only for hours
    this process has not read in the same version before."""
    window = [HOURS.c.hour >= first, HOURS.c.hour < last]
    versions = (await conn.execute(select(HOURS.c.hour, HOURS.c.computed_at).where(*window))).all()
    wanted = [(hour, at) for hour, at in versions if hour not in dirty]
    unknown = [hour for hour, at in wanted if (hour, at) not in _READ]
    if unknown:
        names = ("hour", "computed_at", "sent", "delivered", "failed", "pending", "seconds")
        rows = await conn.execute(
            select(*(HOURS.c[name] for name in names)).where(HOURS.c.hour.in_(unknown))
        )
        if len(_READ) > _READ_MAX:
            _READ.clear()
        for row in rows:
            figures = HourFigures(row.sent, row.delivered, row.failed, row.pending, row.seconds)
            _READ[(row.hour, row.computed_at)] = figures
    return {hour: _READ[(hour, at)] for hour, at in wanted if (hour, at) in _READ}
