"""Delivery-time percentiles: the SQL path (PostgreSQL, kept hours and days) and the Python path
give the same answers as percentile_cont worked out here from the delivery times themselves,
whatever mix of kept days, kept hours, dirty hours and hours computed from the messages a
window is made of."""

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import OUTBOUND_MESSAGES, STATS_DAYS, STATS_HOURS
from app.stats.kept import window_units
from app.stats.percentiles import EDGES, grouped_percentiles, percentile
from app.stats.queries import window_stats
from app.stats.rollup import refresh
from app.stats.spans import DAY, HOUR, floor_day, floor_hour
from tests.support.harness import Harness

NOW = datetime.now(UTC)
# Three whole past days and the current one, so that whole days are kept once refreshed.
FIRST_DAY = floor_day(NOW) - 3 * DAY
# Whole seconds (and halves): SQLite's timestamp arithmetic is exact to the millisecond only.
SECONDS = [1, 2, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 0.5, 600, 3600]


def message(number: int, created: datetime, outcome: str, seconds: float = 0) -> dict[str, Any]:
    submitted = created + timedelta(seconds=1)
    final = outcome != "ACCEPTED"
    return {
        "msisdn": f"+4477009{number:05d}",
        "originator": "Shop",
        "body": "Offer",
        "route_id": "mglobal",
        "reference": f"stats-{number}",
        "encoding": "GSM-7",
        "parts": 1,
        "shorten_urls": False,
        "submission": "submitted",
        "status": outcome,
        "status_at": submitted,
        "status_rank": 2 if final else 1,
        "final": final,
        "created_at": created,
        "submitted_at": submitted,
        "delivered_at": submitted + timedelta(seconds=seconds) if outcome == "DELIVERED" else None,
        "updated_at": submitted,
    }


def history() -> list[dict[str, Any]]:
    """0 to 7 messages an hour (even and odd counts, hours with none delivered, empty hours)
    from the first day to now, most of them delivered."""
    rng = random.Random(19)
    rows: list[dict[str, Any]] = []
    hour = FIRST_DAY
    while hour <= NOW:
        for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 7])):
            created = hour + timedelta(seconds=rng.randrange(3600))
            if created >= NOW:
                continue
            outcome = rng.choice(["DELIVERED"] * 6 + ["UNDELIVERABLE", "ACCEPTED"])
            rows.append(message(len(rows) + 1, created, outcome, rng.choice(SECONDS)))
        hour += HOUR
    return rows


def by_hand(
    rows: Sequence[dict[str, Any]], since: datetime, until: datetime, bucket: str
) -> dict[Any, tuple[float | None, ...]]:
    """percentile_cont(0.5, 0.9, 0.95) of each bucket's delivery times, and of the window's
    (key None), rounded as the API answers."""
    times: dict[Any, list[float]] = {}
    for row in rows:
        if not since <= row["created_at"] < until or row["delivered_at"] is None:
            continue
        seconds = (row["delivered_at"] - row["submitted_at"]).total_seconds()
        start = floor_hour(row["created_at"])
        key = floor_day(start) if bucket == "day" else start
        times.setdefault(key, []).append(seconds)
        times.setdefault(None, []).append(seconds)
    answers: dict[Any, tuple[float | None, ...]] = {None: (None, None, None)}
    for key, values in times.items():
        values.sort()
        answers[key] = tuple(round(cont(values, f), 3) for f in (0.5, 0.9, 0.95))
    return answers


def cont(ascending: Sequence[float], fraction: float) -> float:
    """percentile_cont as PostgreSQL documents it: interpolated between the nearest two."""
    position = fraction * (len(ascending) - 1)
    below = int(position)
    if below + 1 >= len(ascending):
        return ascending[below]
    return ascending[below] + (position - below) * (ascending[below + 1] - ascending[below])


async def store(engine: AsyncEngine, rows: Sequence[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(OUTBOUND_MESSAGES), list(rows))


def percentiles_of(body: dict[str, Any]) -> dict[Any, tuple[Any, ...]]:
    names = ("median_seconds_to_delivery", "p90_seconds_to_delivery", "p95_seconds_to_delivery")
    answers: dict[Any, tuple[Any, ...]] = {
        datetime.fromisoformat(b["start"]): tuple(b[name] for name in names)
        for b in body["buckets"]
        if b["median_seconds_to_delivery"] is not None
    }
    answers[None] = tuple(body["totals"][name] for name in names)
    return answers


WINDOWS = [
    # partial hours at both ends, whole days, the current hour
    (FIRST_DAY + timedelta(hours=5, minutes=30), NOW),
    # exactly one whole day
    (FIRST_DAY + DAY, FIRST_DAY + 2 * DAY),
    # inside one hour
    (FIRST_DAY + timedelta(hours=30, minutes=10), FIRST_DAY + timedelta(hours=30, minutes=50)),
    # empty days before the first message, whole days, a day ending mid-afternoon
    (FIRST_DAY - 2 * DAY, FIRST_DAY + timedelta(days=2, hours=15)),
    # written in a zone half an hour off UTC: buckets stay UTC hours and days
    (
        (FIRST_DAY + timedelta(hours=3)).astimezone(timezone(timedelta(hours=5, minutes=30))),
        (FIRST_DAY + timedelta(days=2, hours=2)).astimezone(
            timezone(timedelta(hours=5, minutes=30))
        ),
    ),
]


async def answers_match(harness: Harness, rows: Sequence[dict[str, Any]]) -> None:
    for since, until in WINDOWS:
        for bucket in ("hour", "day"):
            params = {"since": since.isoformat(), "until": until.isoformat(), "bucket": bucket}
            response = await harness.client.get("/api/v1/stats", params=params)
            assert response.status_code == 200, response.text
            expected = by_hand(rows, since, until, bucket)
            assert percentiles_of(response.json()) == expected, (since, until, bucket)
            if harness.engine.dialect.name == "postgresql":
                in_sql = await window_stats(harness.engine, since, until, bucket, "sql")
                in_python = await window_stats(harness.engine, since, until, bucket, "python")
                assert in_sql == in_python, (since, until, bucket)


async def test_percentiles_match_percentile_cont_by_hand_in_every_window(
    harness: Harness,
) -> None:
    rows = history()
    await store(harness.engine, rows)
    await answers_match(harness, rows)


async def test_kept_days_and_hours_give_the_same_percentiles_and_changes_show_at_once(
    harness: Harness, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("hours and days are kept on PostgreSQL only")
    rows = history()
    await store(harness.engine, rows)
    assert await refresh(harness.engine) > 0
    async with harness.engine.connect() as conn:
        days = set((await conn.execute(select(STATS_DAYS.c.day))).scalars())
        hours = await conn.scalar(select(func.count()).select_from(STATS_HOURS))
    assert days == {FIRST_DAY, FIRST_DAY + DAY, FIRST_DAY + 2 * DAY}
    assert hours
    await answers_match(harness, rows)

    # A message of the second day is delivered later than it was: its hour and its day are no
    # longer taken as kept until the next refresh.
    changed = next(row for row in rows if row["created_at"] >= FIRST_DAY + timedelta(hours=30))
    changed["status"], changed["final"] = "DELIVERED", True
    changed["delivered_at"] = changed["submitted_at"] + timedelta(seconds=7200)
    async with harness.engine.begin() as conn:
        await conn.execute(
            update(OUTBOUND_MESSAGES)
            .where(OUTBOUND_MESSAGES.c.reference == changed["reference"])
            .values(status="DELIVERED", final=True, delivered_at=changed["delivered_at"])
        )
    await answers_match(harness, rows)
    await refresh(harness.engine)
    await answers_match(harness, rows)


# Delivery times that test the edges: microseconds, below the first edge, on edges, past the
# last one, and many equal values.
TRICKY = [
    0.000001,
    0.01,
    EDGES[0],
    1.0,
    1.0,
    1.0,
    2.0,
    2.000001,
    12.345678,
    59.999999,
    EDGES[-1],
    70_000.5,
    100_000.0,
]


async def test_percentiles_in_sql_are_exact_to_the_last_bit(harness: Harness, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the SQL path is PostgreSQL's")
    rng = random.Random(5)
    rows = []
    for index in range(600):
        created = FIRST_DAY + timedelta(seconds=rng.randrange(int(2.5 * 86_400)))
        seconds = rng.choice(TRICKY) if index % 3 else round(rng.expovariate(1 / 40), 6)
        rows.append(message(index + 1, created, "DELIVERED", seconds))
    await store(harness.engine, rows)
    await refresh(harness.engine)
    since, until = FIRST_DAY + timedelta(minutes=17), FIRST_DAY + timedelta(days=2, hours=13)
    async with harness.engine.connect() as base:
        conn = await base.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            buckets, total = await window_units(conn, since, until, "day")
            exact = (
                await conn.execute(
                    text(
                        "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.95]) WITHIN GROUP (ORDER BY "
                        "CAST(extract(epoch FROM delivered_at - submitted_at) AS float8)) "
                        "FROM outbound_messages WHERE created_at >= :since AND created_at < :until"
                    ),
                    {"since": since, "until": until},
                )
            ).scalar_one()
            whole_days = await grouped_percentiles(
                conn, days=[FIRST_DAY + DAY], hours=[], live=[], day_groups=[]
            )
    assert total.percentiles == tuple(exact)
    values = sorted(
        (row["delivered_at"] - row["submitted_at"]).total_seconds()
        for row in rows
        if FIRST_DAY + DAY <= row["created_at"] < FIRST_DAY + 2 * DAY
    )
    assert whole_days[None] == tuple(percentile(values, f) for f in (0.5, 0.9, 0.95))
    assert buckets[FIRST_DAY + DAY].percentiles == whole_days[None]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    ),
    fraction=st.sampled_from([0.5, 0.9, 0.95, 0.0, 1.0, 0.33]),
)
def test_the_python_percentile_is_percentile_cont_to_the_last_bit(
    values: list[float], fraction: float
) -> None:
    ascending = sorted(values)
    assert percentile(ascending, fraction) == cont(ascending, fraction)


async def test_python_percentile_agrees_with_postgresql(engine: AsyncEngine, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("compares with PostgreSQL's percentile_cont")
    rng = random.Random(3)
    async with engine.connect() as conn:
        for size in (1, 2, 3, 10, 11, 1000):
            values = sorted(rng.expovariate(1 / 40) for _ in range(size))
            for fraction in (0.5, 0.9, 0.95):
                theirs = await conn.scalar(
                    text(
                        "SELECT percentile_cont(CAST(:f AS float8)) WITHIN GROUP (ORDER BY v) "
                        "FROM unnest(CAST(:values AS float8[])) AS v"
                    ),
                    {"f": fraction, "values": values},
                )
                assert percentile(values, fraction) == theirs
