"""Reading what the service stored."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Receipt


async def count_rows(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        result = await conn.scalar(select(func.count()).select_from(model).where(*where))
    return int(result or 0)


async def all_rows(engine: AsyncEngine, model: Any) -> list[Any]:
    """Every row of `model`'s table, in id order."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(model).order_by(model.id))).all())


async def stored_receipts(engine: AsyncEngine, keys: set[str]) -> dict[str, int]:
    """How many rows each of `keys` has in `receipts`."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Receipt.message_id_norm, func.count())
            .where(Receipt.message_id_norm.in_(sorted(keys)))
            .group_by(Receipt.message_id_norm)
        )
        return {key: int(count) for key, count in rows.all() if key is not None}
