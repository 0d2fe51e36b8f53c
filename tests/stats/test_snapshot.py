"""A statistics read over two connections sees one snapshot: what commits meanwhile is seen by
neither, and a request finding no pair free reads on one connection."""

from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import OPTOUT_EVENTS
from app.stats.snapshot import snapshot

EVENT = {
    "msisdn": "+447700900001",
    "action": "opt_out",
    "source": "operator",
    "event_at": datetime(2026, 11, 20, tzinfo=UTC),
    "recorded_at": datetime(2026, 11, 20, tzinfo=UTC),
}


async def count(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(OPTOUT_EVENTS)) or 0)


async def test_both_connections_read_the_snapshot_of_the_first(
    engine: AsyncEngine, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite reads on one connection")
    async with engine.begin() as conn:
        await conn.execute(insert(OPTOUT_EVENTS), [EVENT])
    async with snapshot(engine) as (first, second):
        assert second is not None
        async with engine.begin() as conn:
            await conn.execute(insert(OPTOUT_EVENTS), [EVENT])
        assert (await count(first), await count(second)) == (1, 1)
    async with engine.connect() as conn:
        assert await count(conn) == 2


async def test_a_read_finding_no_pair_free_uses_one_connection(
    engine: AsyncEngine, backend: str
) -> None:
    async with AsyncExitStack() as stack:
        pairs = []
        for _ in range(engine.pool.size() if hasattr(engine.pool, "size") else 1):
            _, second = await stack.enter_async_context(snapshot(engine))
            pairs.append(second is not None)
            if second is None:
                break
        assert pairs[-1] is False
        assert (backend == "postgresql") == any(pairs)
