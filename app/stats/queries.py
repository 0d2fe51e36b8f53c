"""Delivery and engagement statistics per hour or day, computed in SQL on either backend.

Definitions (every count is over the window [since, until), bucketed in UTC):
- sent: messages created in the bucket that Mobivate accepted (`submitted_at` set);
- delivered / failed / pending: of those, the ones whose current status is DELIVERED, another
  final status, or not final yet; delivery_rate = delivered / sent;
- median_seconds_to_delivery: median of delivered_at - submitted_at over the delivered ones;
  p90_seconds_to_delivery / p95_seconds_to_delivery: its 90th and 95th percentiles (all three
  as PostgreSQL's percentile_cont: interpolated between the two nearest values);
- clicks: clicks received in the bucket; unique_clickers: distinct numbers among them;
  click_through_rate = unique_clickers / delivered;
- incoming: incoming messages that occurred in the bucket;
- opt_outs / opt_ins: opt-out and opt-in events of the registry that happened in the bucket.
Rates and percentiles are null when there is nothing to divide or take them of. Totals are
computed over the whole window (percentiles and unique clickers are not sums of the buckets).

Message figures come, on PostgreSQL, from `app.stats.kept` (kept hours and days, percentiles in
SQL); on SQLite, per hour from `app.stats.messages` with every delivery time, percentiles taken
here in Python (the same definition, to the last bit). Clicks, incoming messages and opt-outs are
counted per bucket from their tables (covering indexes on their time columns); totals are the
sums, except unique clickers, counted over the window. Everything is read in one snapshot, on
PostgreSQL over two connections side by side (app.stats.snapshot).
"""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.sql_time import Bucket, bucket_key, bucket_start
from app.core.tables import CLICKS
from app.core.tables import INCOMING_MESSAGES as INCOMING
from app.core.tables import OPTOUT_EVENTS as EVENTS
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.stats.kept import Unit, window_units
from app.stats.messages import HourFigures, from_messages, hour_figures
from app.stats.percentiles import percentiles
from app.stats.snapshot import snapshot

MAX_BUCKETS = 2000
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
TOTAL = None  # the key of the whole-window row


@dataclass
class Figures:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    delivery_rate: float | None = None
    median_seconds_to_delivery: float | None = None
    p90_seconds_to_delivery: float | None = None
    p95_seconds_to_delivery: float | None = None
    clicks: int = 0
    unique_clickers: int = 0
    click_through_rate: float | None = None
    incoming: int = 0
    opt_outs: int = 0
    opt_ins: int = 0

    def finish(self) -> "Figures":
        if self.sent:
            self.delivery_rate = round(self.delivered / self.sent, 4)
        if self.delivered:
            self.click_through_rate = round(self.unique_clickers / self.delivered, 4)
        return self

    def take_messages(self, unit: Unit) -> None:
        self.sent, self.delivered = unit.sent, unit.delivered
        self.failed, self.pending = unit.failed, unit.pending
        if unit.percentiles is not None:
            p50, p90, p95 = (round(value, 3) for value in unit.percentiles)
            self.median_seconds_to_delivery = p50
            self.p90_seconds_to_delivery, self.p95_seconds_to_delivery = p90, p95


@dataclass
class Stats:
    since: datetime
    until: datetime
    bucket: Bucket
    totals: Figures
    buckets: list[dict[str, Any]] = field(default_factory=list)


def floor(moment: datetime, bucket: Bucket) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def bucket_count(since: datetime, until: datetime, bucket: Bucket) -> int:
    return -(-(until - floor(since, bucket)) // _STEP[bucket])


def bucket_starts(since: datetime, until: datetime, bucket: Bucket) -> list[datetime]:
    starts, current = [], floor(since, bucket)
    while current < until:
        starts.append(current)
        current += _STEP[bucket]
    return starts


def _figures(into: dict[datetime | None, Figures], key: datetime | None) -> Figures:
    figures = into.get(key)
    if figures is None:
        figures = into[key] = Figures()
    return figures


def _add_messages(
    hours: dict[datetime, HourFigures], bucket: Bucket | None, into: dict[Any, Figures]
) -> None:
    """Sum hours into their buckets (all into TOTAL when `bucket` is None), with percentiles."""
    units: dict[Any, Unit] = {}
    runs: dict[Any, list[list[float]]] = {}
    for hour, figures in hours.items():
        key = TOTAL if bucket is None else floor(hour, bucket)
        units.setdefault(key, Unit()).add(
            Unit(figures.sent, figures.delivered, figures.failed, figures.pending)
        )
        if figures.seconds:
            runs.setdefault(key, []).append(figures.seconds)
    for key, sorted_runs in runs.items():
        if len(sorted_runs) == 1:
            values = sorted_runs[0]
        else:
            # Each run is ascending already, which Python's sort merges in linear time.
            values = sorted(chain.from_iterable(sorted_runs))
        units[key].percentiles = percentiles(values)
    for key, unit in units.items():
        _figures(into, key).take_messages(unit)


def _window(column: Any, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [column >= since, column < until]


async def _per_bucket(
    conn: AsyncConnection, bucket: Bucket, time: Any, *columns: Any, where: list[Any]
) -> list[Any]:
    key = bucket_key(time, bucket, conn.dialect.name).label("key")
    statement = select(key, *columns).where(*where).group_by(key)
    return [(bucket_start(row[0]), *row[1:]) for row in await conn.execute(statement)]


async def _clicks_and_replies(
    conn: AsyncConnection, bucket: Bucket, since: datetime, until: datetime
) -> dict[Any, Figures]:
    """Clicks, unique clickers and incoming messages per bucket; clicks and incoming messages
    in total, as sums of the buckets."""
    into: dict[Any, Figures] = {}
    total = _figures(into, TOTAL)
    # Clicks per (bucket, number) first: a hash aggregate, where count(DISTINCT) would sort.
    key = bucket_key(CLICKS.c.received_at, bucket, conn.dialect.name).label("key")
    per_number = (
        select(key, CLICKS.c.msisdn, func.count().label("n"))
        .where(*_window(CLICKS.c.received_at, since, until))
        .group_by(key, CLICKS.c.msisdn)
        .subquery()
    )
    statement = select(
        per_number.c.key, func.sum(per_number.c.n), func.count(per_number.c.msisdn)
    ).group_by(per_number.c.key)
    for start, clicks, clickers in await conn.execute(statement):
        figures = _figures(into, bucket_start(start))
        figures.clicks, figures.unique_clickers = int(clicks), clickers
        total.clicks += int(clicks)
    incoming = await _per_bucket(
        conn,
        bucket,
        INCOMING.c.occurred_at,
        func.count(),
        where=_window(INCOMING.c.occurred_at, since, until),
    )
    for start, count in incoming:
        _figures(into, start).incoming = count
        total.incoming += count
    return into


async def _clickers_and_optouts(
    conn: AsyncConnection, bucket: Bucket, since: datetime, until: datetime
) -> dict[Any, Figures]:
    """Unique clickers over the whole window; opt-outs and opt-ins per bucket and in total."""
    into: dict[Any, Figures] = {}
    total = _figures(into, TOTAL)
    window = _window(CLICKS.c.received_at, since, until)
    numbers = select(CLICKS.c.msisdn).where(*window, CLICKS.c.msisdn.is_not(None)).distinct()
    clickers = select(func.count()).select_from(numbers.subquery())
    total.unique_clickers = int(await conn.scalar(clickers) or 0)
    optouts = await _per_bucket(
        conn,
        bucket,
        EVENTS.c.event_at,
        func.count(case((EVENTS.c.action == "opt_out", 1))),
        func.count(case((EVENTS.c.action == "opt_in", 1))),
        where=_window(EVENTS.c.event_at, since, until),
    )
    for start, opt_outs, opt_ins in optouts:
        figures = _figures(into, start)
        figures.opt_outs, figures.opt_ins = opt_outs, opt_ins
        total.opt_outs += opt_outs
        total.opt_ins += opt_ins
    return into


def _merge_engagement(into: dict[Any, Figures], *parts: dict[Any, Figures]) -> None:
    for part in parts:
        for key, found in part.items():
            figures = _figures(into, key)
            figures.clicks += found.clicks
            figures.unique_clickers += found.unique_clickers
            figures.incoming += found.incoming
            figures.opt_outs += found.opt_outs
            figures.opt_ins += found.opt_ins


Path = Literal["sql", "python"]


async def window_stats(
    engine: AsyncEngine,
    since: datetime,
    until: datetime,
    bucket: Bucket,
    path: Path | None = None,
) -> Stats:
    """Figures per bucket (every bucket of the window, empty ones included) and in total.
    `path`: where message figures and percentiles are computed; by default in SQL on
    PostgreSQL and in Python on SQLite (PostgreSQL can take the Python path, for comparison).
    Buckets are UTC hours and days whatever zone the bounds are written in."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    into: dict[Any, Figures] = {}
    in_sql = (path or ("sql" if engine.dialect.name == "postgresql" else "python")) == "sql"
    buckets: dict[datetime, Unit] = {}
    total = Unit()
    hours: dict[datetime, HourFigures] = {}

    async def messages_clickers_optouts(conn: AsyncConnection) -> dict[Any, Figures]:
        nonlocal buckets, total, hours
        if in_sql:
            buckets, total = await window_units(conn, since, until, bucket)
        else:
            hours = await hour_figures(conn, since, until)
        return await _clickers_and_optouts(conn, bucket, since, until)

    async with snapshot(engine) as (first, second):
        if second is None:
            parts = [
                await messages_clickers_optouts(first),
                await _clicks_and_replies(first, bucket, since, until),
            ]
        else:
            parts = list(
                await asyncio.gather(
                    messages_clickers_optouts(first),
                    _clicks_and_replies(second, bucket, since, until),
                )
            )
    _merge_engagement(into, *parts)
    if in_sql:
        for start, unit in buckets.items():
            _figures(into, start).take_messages(unit)
        _figures(into, TOTAL).take_messages(total)
    else:
        _add_messages(hours, bucket, into)
        _add_messages(hours, None, into)
    rows = [
        {"start": start, **vars(_figures(into, start).finish())}
        for start in bucket_starts(since, until, bucket)
    ]
    return Stats(since, until, bucket, _figures(into, TOTAL).finish(), rows)


async def batch_figures(conn: AsyncConnection, batch_id: int) -> Figures:
    """Delivery figures of one batch's messages, clicks and replies linked to them, and the
    opt-outs and opt-ins attributable to it: numbers that opted out (or in) by a reply linked
    to one of its messages, each counted once."""
    into: dict[Any, Figures] = {}
    hours = await from_messages(conn, None, [MESSAGES.c.batch_id == batch_id])
    _add_messages(hours, None, into)
    figures = _figures(into, TOTAL)
    of_batch = select(MESSAGES.c.id).where(MESSAGES.c.batch_id == batch_id)
    clicks = (
        await conn.execute(
            select(func.count(), func.count(CLICKS.c.msisdn.distinct())).where(
                CLICKS.c.outbound_message_id.in_(of_batch)
            )
        )
    ).one()
    figures.clicks, figures.unique_clickers = clicks[0], clicks[1]
    replies = select(func.count()).where(INCOMING.c.outbound_message_id.in_(of_batch))
    figures.incoming = int(await conn.scalar(replies) or 0)
    figures.opt_outs, figures.opt_ins = await _replied_changes(conn, of_batch)
    return figures.finish()


async def _replied_changes(conn: AsyncConnection, messages: Any) -> tuple[int, int]:
    """Distinct numbers whose opt-out, and whose opt-in, came from a reply to `messages`."""

    def numbers(action: str) -> Any:
        return func.count(case((EVENTS.c.action == action, EVENTS.c.msisdn)).distinct())

    row = (
        await conn.execute(
            select(numbers("opt_out"), numbers("opt_in"))
            .select_from(EVENTS.join(INCOMING, EVENTS.c.incoming_message_id == INCOMING.c.id))
            .where(INCOMING.c.outbound_message_id.in_(messages))
        )
    ).one()
    return int(row[0]), int(row[1])
