"""Message figures of a window per hour or day bucket and in total, read in SQL on PostgreSQL.

In one REPEATABLE READ snapshot: the dirty hours of the window, then the kept days that lie
wholly in it with no dirty hour, the kept hours that are not dirty, and everything else (dirty
or never kept hours, the current hour, the partial hours at the window's edges) computed from
the messages. Counts are summed into buckets; percentiles come from the kept rows where one row
is the bucket, and otherwise from app.stats.percentiles, which reads only the delivery times
near the wanted ranks. See app/stats/rollup.py for what is kept and when it is current.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.sql_time import Bucket, bucket_start
from app.core.tables import STATS_DAYS as DAYS
from app.core.tables import STATS_DIRTY_HOURS as DIRTY
from app.core.tables import STATS_HOURS as HOURS
from app.delivery.status_rules import DELIVERED
from app.stats.percentiles import (
    FRACTIONS,
    ORIGIN_SQL,
    SECONDS_SQL,
    Percentiles,
    created_within,
    grouped_percentiles,
)
from app.stats.spans import DAY, HOUR, Ranges, ceil_day, ceil_hour, floor_day, floor_hour, merge


@dataclass
class Unit:
    """The message figures of one bucket, or of the whole window."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    percentiles: Percentiles | None = None

    def add(self, other: "Unit") -> None:
        self.sent += other.sent
        self.delivered += other.delivered
        self.failed += other.failed
        self.pending += other.pending


_LIVE = f"""
SELECT date_bin('1 hour', m.created_at, {ORIGIN_SQL}) AS start,
       count(*) AS sent,
       count(*) FILTER (WHERE m.status = :delivered) AS delivered,
       count(*) FILTER (WHERE m.final AND m.status <> :delivered) AS failed,
       count(*) FILTER (WHERE NOT m.final) AS pending,
       percentile_cont(CAST(:fractions AS float8[])) WITHIN GROUP (ORDER BY s.seconds) AS p
FROM outbound_messages AS m
CROSS JOIN LATERAL (SELECT {SECONDS_SQL} AS seconds) AS s
WHERE m.submitted_at IS NOT NULL AND ({{created}})
GROUP BY 1
"""  # noqa: S608 (constants only)


def _percentiles(values: Any) -> Percentiles | None:
    if values is None:
        return None
    p50, p90, p95 = values
    return p50, p90, p95


async def _live(conn: AsyncConnection, ranges: Ranges) -> dict[datetime, Unit]:
    """Figures per creation hour of the messages created within `ranges`."""
    if not ranges:
        return {}
    created, params = created_within(ranges)
    params |= {
        "fractions": list(FRACTIONS),
        "delivered": DELIVERED,
    }
    return {
        bucket_start(row.start): Unit(
            row.sent, row.delivered, row.failed, row.pending, _percentiles(row.p)
        )
        for row in await conn.execute(text(_LIVE.format(created=created)), params)
    }


async def _kept(
    conn: AsyncConnection, table: Table, first: datetime, last: datetime
) -> dict[datetime, Unit]:
    key = table.c.hour if table is HOURS else table.c.day
    columns = [table.c[name] for name in ("sent", "delivered", "failed", "pending")]
    fractions = [table.c.p50, table.c.p90, table.c.p95]
    rows = await conn.execute(select(key, *columns, *fractions).where(key >= first, key < last))
    return {
        row[0]: Unit(row[1], row[2], row[3], row[4], None if row[5] is None else row[5:8])
        for row in rows
    }


def _hours(first: datetime, last: datetime) -> list[datetime]:
    hours, hour = [], first
    while hour < last:
        hours.append(hour)
        hour += HOUR
    return hours


async def window_units(
    conn: AsyncConnection, since: datetime, until: datetime, bucket: Bucket
) -> tuple[dict[datetime, Unit], Unit]:
    """Message figures per bucket start (only buckets with messages) and in total. Call
    inside a REPEATABLE READ transaction."""
    first, last = ceil_hour(since), floor_hour(until)
    if first >= last:
        first = last = since
    dirty = set(
        (
            await conn.execute(
                select(DIRTY.c.hour).where(DIRTY.c.hour >= first, DIRTY.c.hour < last).distinct()
            )
        ).scalars()
    )
    kept_hours = {
        hour: unit
        for hour, unit in (await _kept(conn, HOURS, first, last)).items()
        if hour not in dirty
    }
    dirty_days = {floor_day(hour) for hour in dirty}
    kept_days = {
        day: unit
        for day, unit in (await _kept(conn, DAYS, ceil_day(first), floor_day(last))).items()
        if day not in dirty_days and day + DAY <= last
    }
    edges = [(since, first), (last, until)] if first < last else [(since, until)]
    edges = [(start, end) for start, end in edges if start < end]
    in_days = {day + HOUR * index for day in kept_days for index in range(24)}
    missing = [hour for hour in _hours(first, last) if hour not in kept_hours]

    buckets: dict[datetime, Unit] = {}
    if bucket == "hour":
        live = await _live(conn, sorted([*edges, *merge(missing)]))
        buckets = {**kept_hours, **live}
        # Whole kept days stand for their hours in the total's percentiles.
        live_for_total = [*edges, *merge(hour for hour in missing if hour not in in_days)]
    else:
        live_for_total = [*edges, *merge(hour for hour in missing if hour not in in_days)]
        live = await _live(conn, sorted(live_for_total))
        buckets = dict(kept_days)
        for start, unit in [*kept_hours.items(), *live.items()]:
            if start not in in_days:
                buckets.setdefault(floor_day(start), Unit()).add(unit)
    total = Unit()
    for unit in buckets.values():
        total.add(unit)
    # A day bucket that is not one kept day takes its percentiles from its hours.
    groups = [day for day in buckets if bucket == "day" and day not in kept_days]
    found = await grouped_percentiles(
        conn,
        days=sorted(kept_days),
        hours=sorted(hour for hour in kept_hours if hour not in in_days),
        live=sorted(live_for_total),
        day_groups=groups,
    )
    total.percentiles = found.get(None)
    for day in groups:
        buckets[day].percentiles = found.get(day)
    return buckets, total
