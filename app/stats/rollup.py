"""Message figures per UTC hour of creation, from the messages themselves or from `stats_hours`.

Statistics over weeks would otherwise re-read every message of the window. On PostgreSQL each
past hour's figures (counts, and the sorted delivery times the medians are taken from) are kept
in `stats_hours`. A trigger on `outbound_messages` appends the creation hour of every message
inserted, updated or deleted to `stats_dirty_hours`, in the transaction that changes it, so a
kept hour is used only while no change to its messages is pending: statistics read, in one
REPEATABLE READ snapshot, the kept hours that are not dirty and compute every other hour (dirty,
never kept, the current one, and the partial hours at the window's edges) from the messages.
The figures are therefore exact at every moment; keeping them only makes reads cheaper.

A background task on every replica (one at a time, under an advisory lock) recomputes dirty
hours and fills hours never kept, every STATS_ROLLUP_INTERVAL_SECONDS, deleting the dirty marks
it saw in the same snapshot. SQLite computes every hour from the messages.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Text, and_, case, cast, delete, func, or_, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.background import Worker, log_and_retry_after
from app.core.db import utcnow
from app.core.sql_time import bucket_key, bucket_start, seconds_between
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.core.tables import STATS_DIRTY_HOURS as DIRTY
from app.core.tables import STATS_HOURS as HOURS
from app.delivery.status_rules import DELIVERED

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
ROLLUP_LOCK = 727_274_005
_BACKFILL_HOURS = 2000
_DIRTY_BATCH = 50_000


@dataclass
class HourFigures:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    # Seconds from submission to delivery of each delivered message, ascending.
    seconds: list[float] = field(default_factory=list)


Ranges = Sequence[tuple[datetime, datetime]]


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def merge_hours(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


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
    ranges = [(since, first), *merge_hours(missing), (last, until)]
    live = await from_messages(conn, [(start, end) for start, end in ranges if start < end])
    return {**kept, **live}


# Kept hours already decoded, by (hour, computed_at): a recomputed hour has a new computed_at.
_DECODED: dict[tuple[datetime, datetime], HourFigures] = {}
_DECODED_MAX = 20_000


async def _kept(
    conn: AsyncConnection, first: datetime, last: datetime, dirty: set[datetime]
) -> dict[datetime, HourFigures]:
    """Kept hours in [first, last) that are not dirty; delivery times are read (and decoded)
    only for hours this process has not decoded in the same version before."""
    window = [HOURS.c.hour >= first, HOURS.c.hour < last]
    versions = (await conn.execute(select(HOURS.c.hour, HOURS.c.computed_at).where(*window))).all()
    wanted = [(hour, at) for hour, at in versions if hour not in dirty]
    unknown = [hour for hour, at in wanted if (hour, at) not in _DECODED]
    if unknown:
        # The delivery times as JSON text, decoded here with orjson: much faster for many rows.
        seconds = cast(HOURS.c.delivery_seconds, Text).label("seconds")
        names = ("hour", "computed_at", "sent", "delivered", "failed", "pending")
        rows = await conn.execute(
            select(*(HOURS.c[name] for name in names), seconds).where(HOURS.c.hour.in_(unknown))
        )
        if len(_DECODED) > _DECODED_MAX:
            _DECODED.clear()
        for row in rows:
            times = orjson.loads(row.seconds)
            figures = HourFigures(row.sent, row.delivered, row.failed, row.pending, times)
            _DECODED[(row.hour, row.computed_at)] = figures
    return {hour: _DECODED[(hour, at)] for hour, at in wanted if (hour, at) in _DECODED}


async def refresh(engine: AsyncEngine, now: datetime | None = None) -> int:
    """Recompute dirty past hours and keep a batch of hours never kept; returns hours written.
    PostgreSQL only; another replica refreshing at the same time makes this one skip."""
    current = floor_hour(now or utcnow())
    async with engine.connect() as base:
        conn = await base.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            locked = await conn.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK}
            )
            if not locked:
                return 0
            marks = (
                await conn.execute(
                    select(DIRTY.c.id, DIRTY.c.hour)
                    .where(DIRTY.c.hour < current)
                    .order_by(DIRTY.c.id)
                    .limit(_DIRTY_BATCH)
                )
            ).all()
            hours = {mark.hour for mark in marks} | set(await _never_kept(conn, current))
            figures = await from_messages(conn, merge_hours(hours))
            await _keep(conn, hours, figures)
            if marks:
                await conn.execute(delete(DIRTY).where(DIRTY.c.id.in_([m.id for m in marks])))
    return len(hours)


async def _never_kept(conn: AsyncConnection, current: datetime) -> list[datetime]:
    """Past hours from the first message on that have no kept figures, oldest first."""
    query = text(
        "SELECT h FROM generate_series("
        "  (SELECT date_trunc('hour', min(created_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        "   FROM outbound_messages),"
        "  CAST(:current AS timestamptz) - interval '1 hour', interval '1 hour') AS h "
        "WHERE NOT EXISTS (SELECT 1 FROM stats_hours s WHERE s.hour = h) "
        "ORDER BY h LIMIT :limit"
    )
    rows = await conn.execute(query, {"current": current, "limit": _BACKFILL_HOURS})
    return [hour for (hour,) in rows]


async def _keep(
    conn: AsyncConnection, hours: Iterable[datetime], figures: dict[datetime, HourFigures]
) -> None:
    now = utcnow()
    rows = [
        {
            "hour": hour,
            "sent": (f := figures.get(hour, HourFigures())).sent,
            "delivered": f.delivered,
            "failed": f.failed,
            "pending": f.pending,
            "delivery_seconds": f.seconds,
            "computed_at": now,
        }
        for hour in sorted(hours)
    ]
    for start in range(0, len(rows), 1000):
        upsert = postgresql.insert(HOURS).values(rows[start : start + 1000])
        columns = ("sent", "delivered", "failed", "pending", "delivery_seconds", "computed_at")
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["hour"], set_={name: upsert.excluded[name] for name in columns}
            )
        )


class RollupTask:
    """Keeps hours current on PostgreSQL; on SQLite there is nothing to keep."""

    def __init__(self, engine: AsyncEngine, interval: float) -> None:
        self._engine = engine
        self._interval = interval
        self.worker = Worker(
            "stats-rollup",
            self._step,
            on_error=log_and_retry_after(interval, "statistics rollup failed"),
        )

    def start(self) -> None:
        if self._engine.dialect.name == "postgresql":
            self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def _step(self) -> float:
        written = await refresh(self._engine)
        # Catch up on a backlog without waiting a full interval between batches.
        return 0 if written >= _BACKFILL_HOURS else self._interval
