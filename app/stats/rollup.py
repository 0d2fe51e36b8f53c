"""Message figures kept per UTC hour and per whole UTC day of creation, on PostgreSQL.

Statistics over weeks would otherwise re-read every message of the window. Each past hour's
figures (counts, the sorted delivery times, how many of them lie below each fixed edge of
app.stats.percentiles, and the 50th/90th/95th percentiles) are kept in `stats_hours`, and the
same for each whole past day in `stats_days`. A trigger on `outbound_messages` appends the
creation hour of every message inserted, updated or deleted to `stats_dirty_hours`, in the
transaction that changes it, so a kept hour is used only while no change to its messages is
pending, and a kept day only while none of its hours has one: statistics read, in one
REPEATABLE READ snapshot, the kept days and hours that are not dirty and compute every other hour
(dirty, never kept, the current one, and the partial hours at the window's edges) from the
messages. The figures are therefore exact at every moment; keeping them only makes reads cheaper.

A background task on every replica (one at a time, under an advisory lock) recomputes dirty
hours and the days they belong to, and fills hours and days never kept, every
STATS_ROLLUP_INTERVAL_SECONDS, deleting the dirty marks it saw in the same snapshot. Everything
is computed in SQL from the messages, with the same expressions the statistics use for the
hours they compute. SQLite keeps nothing.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.background import Worker, log_and_retry_after
from app.core.db import utcnow
from app.core.tables import STATS_DIRTY_HOURS as DIRTY
from app.delivery.status_rules import DELIVERED
from app.stats.percentiles import (
    AT_EDGES_SQL,
    EDGES,
    FRACTIONS,
    ORIGIN_SQL,
    SECONDS_SQL,
    created_within,
)
from app.stats.spans import DAY, HOUR, floor_day, floor_hour, merge

logger = logging.getLogger(__name__)

ROLLUP_LOCK = 727_274_005
_BACKFILL_HOURS = 2000
_BACKFILL_DAYS = 60
_DIRTY_BATCH = 50_000

Span = Literal["hour", "day"]
_TABLES: dict[Span, tuple[str, timedelta]] = {
    "hour": ("stats_hours", HOUR),
    "day": ("stats_days", DAY),
}
_KEPT = ("sent", "delivered", "failed", "pending", "seconds", "at_edges", "p50", "p90", "p95")


def _keep_sql(span: Span) -> str:
    table, _ = _TABLES[span]
    updates = ", ".join(f"{name} = excluded.{name}" for name in (*_KEPT, "computed_at"))
    return f"""
INSERT INTO {table} ({span}, {", ".join(_KEPT)}, computed_at)
SELECT k.start, coalesce(f.sent, 0), coalesce(f.delivered, 0), coalesce(f.failed, 0),
       coalesce(f.pending, 0), coalesce(f.seconds, CAST(ARRAY[] AS float8[])),
       {AT_EDGES_SQL.format(seconds="coalesce(f.seconds, CAST(ARRAY[] AS float8[]))")},
       f.p[1], f.p[2], f.p[3], :now
FROM unnest(CAST(:keys AS timestamptz[])) AS k(start)
LEFT JOIN (
    SELECT date_bin('1 {span}', m.created_at, {ORIGIN_SQL}) AS start,
           count(*) AS sent,
           count(*) FILTER (WHERE m.status = :delivered) AS delivered,
           count(*) FILTER (WHERE m.final AND m.status <> :delivered) AS failed,
           count(*) FILTER (WHERE NOT m.final) AS pending,
           array_agg(s.seconds ORDER BY s.seconds) FILTER (WHERE s.seconds IS NOT NULL)
             AS seconds,
           percentile_cont(CAST(:fractions AS float8[])) WITHIN GROUP (ORDER BY s.seconds) AS p
    FROM outbound_messages AS m
    CROSS JOIN LATERAL (SELECT {SECONDS_SQL} AS seconds) AS s
    WHERE m.submitted_at IS NOT NULL AND ({{created}})
    GROUP BY 1
) AS f ON f.start = k.start
ON CONFLICT ({span}) DO UPDATE SET {updates}
"""  # noqa: S608 (constants only)


async def keep(conn: AsyncConnection, span: Span, starts: Iterable[datetime]) -> None:
    """Compute and keep the figures of the hours or days beginning at `starts`."""
    keys = sorted(set(starts))
    if not keys:
        return
    created, params = created_within(merge(keys, _TABLES[span][1]))
    params |= {
        "keys": keys,
        "edges": list(EDGES),
        "fractions": list(FRACTIONS),
        "delivered": DELIVERED,
        "now": utcnow(),
    }
    await conn.execute(text(_keep_sql(span).format(created=created)), params)


async def refresh(engine: AsyncEngine, now: datetime | None = None) -> int:
    """Recompute dirty past hours and their days and keep a batch of hours and days never
    kept; returns how many were written. PostgreSQL only; another replica refreshing at the
    same time makes this one skip."""
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
            hours = {mark.hour for mark in marks}
            hours |= set(await _never_kept(conn, "hour", current, _BACKFILL_HOURS))
            days = {floor_day(hour) for hour in hours if floor_day(hour) + DAY <= current}
            days |= set(await _never_kept(conn, "day", current, _BACKFILL_DAYS))
            await keep(conn, "hour", hours)
            await keep(conn, "day", days)
            if marks:
                await conn.execute(delete(DIRTY).where(DIRTY.c.id.in_([m.id for m in marks])))
    return len(hours) + len(days)


async def _never_kept(
    conn: AsyncConnection, span: Span, current: datetime, limit: int
) -> list[datetime]:
    """Whole past hours or days from the first message's on that have no kept figures, oldest
    first."""
    table, _ = _TABLES[span]
    query = text(f"""
SELECT s FROM generate_series(
    (SELECT date_bin('1 {span}', min(created_at), {ORIGIN_SQL}) FROM outbound_messages),
    CAST(:current AS timestamptz) - interval '1 {span}', interval '1 {span}') AS s
WHERE s + interval '1 {span}' <= CAST(:current AS timestamptz)
  AND NOT EXISTS (SELECT 1 FROM {table} AS k WHERE k.{span} = s)
ORDER BY s LIMIT :limit
""")  # noqa: S608 (constants only)
    rows = await conn.execute(query, {"current": current, "limit": limit})
    return [start for (start,) in rows]


class RollupTask:
    """Keeps hours and days current on PostgreSQL; on SQLite there is nothing to keep."""

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
        return 0 if written >= _BACKFILL_DAYS else self._interval
