"""The lookup cache (`number_lookups`) and the daily budget (`lookup_usage`).

The budget is taken before Mobivate is called, in one conditional UPDATE that succeeds only while
the day's total stays within the limit, so replicas asking at once cannot overshoot it together;
numbers whose call failed are given back.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import LOOKUP_USAGE, NUMBER_LOOKUPS

_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class Answer:
    """What is known of one number (international digits)."""

    msisdn: str
    reachable: bool | None
    network: str | None
    country: str | None
    ported: bool | None
    status: dict[str, Any] | None
    error: dict[str, Any] | None
    mobivate_batch_id: str | None
    looked_up_at: datetime | None
    cached: bool = False


_COLUMNS = [NUMBER_LOOKUPS.c[name] for name in Answer.__dataclass_fields__ if name != "cached"]


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def load_fresh(
    engine: AsyncEngine, numbers: Sequence[str], since: datetime
) -> dict[str, Answer]:
    found: dict[str, Answer] = {}
    async with engine.connect() as conn:
        for start in range(0, len(numbers), _CHUNK):
            rows = await conn.execute(
                select(*_COLUMNS).where(
                    NUMBER_LOOKUPS.c.msisdn.in_(numbers[start : start + _CHUNK]),
                    NUMBER_LOOKUPS.c.looked_up_at > since,
                )
            )
            for row in rows.all():
                found[row.msisdn] = Answer(**row._mapping, cached=True)
    return found


async def keep(engine: AsyncEngine, answers: Sequence[Answer]) -> None:
    if not answers:
        return
    async with engine.begin() as conn:
        insert = _insert(conn)
        for start in range(0, len(answers), 1000):
            rows = [
                {column.name: getattr(answer, column.name) for column in _COLUMNS}
                for answer in answers[start : start + 1000]
            ]
            statement = insert(NUMBER_LOOKUPS).values(rows)
            replaced = {
                column.name: statement.excluded[column.name]
                for column in _COLUMNS
                if column.name != "msisdn"
            }
            await conn.execute(
                statement.on_conflict_do_update(index_elements=["msisdn"], set_=replaced)
            )


async def take_budget(engine: AsyncEngine, day: str, count: int, limit: int) -> int | None:
    """Count `count` numbers against `day`; None (nothing taken) when they would pass `limit`,
    else the day's new total."""
    usage = LOOKUP_USAGE.c
    async with engine.begin() as conn:
        insert = _insert(conn)
        await conn.execute(
            insert(LOOKUP_USAGE)
            .values(day=day, used=0)
            .on_conflict_do_nothing(index_elements=["day"])
        )
        total = await conn.execute(
            update(LOOKUP_USAGE)
            .where(usage.day == day, usage.used + count <= limit)
            .values(used=usage.used + count)
            .returning(usage.used)
        )
        used: int | None = total.scalar_one_or_none()
        return used


async def give_back(engine: AsyncEngine, day: str, count: int) -> None:
    if count <= 0:
        return
    usage = LOOKUP_USAGE.c
    async with engine.begin() as conn:
        await conn.execute(
            update(LOOKUP_USAGE).where(usage.day == day).values(used=usage.used - count)
        )


async def used_on(engine: AsyncEngine, day: str) -> int:
    async with engine.connect() as conn:
        used = await conn.scalar(select(LOOKUP_USAGE.c.used).where(LOOKUP_USAGE.c.day == day))
        return int(used or 0)
