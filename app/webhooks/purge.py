"""Retention: delete raw webhook bodies and webhook events received before a cutoff.

Opt-out state and history, outbound messages and their batches are kept: the opt-out audit
trail must outlive any retention period. Events point at their raw request with ON DELETE SET
NULL, and opt-out history at its incoming message likewise, so nothing dangles. Rows go in
chunks, so a long purge never holds one huge transaction.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Click, IncomingMessage, Receipt, WebhookRequest

# Events before the raw requests they point at, so each chunk sets fewer links to NULL.
PURGED: tuple[Any, ...] = (Receipt, IncomingMessage, Click, WebhookRequest)


async def purge_before(
    engine: AsyncEngine,
    cutoff: datetime,
    *,
    chunk: int = 5000,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    deleted: dict[str, int] = {}
    for model in PURGED:
        name = model.__tablename__
        deleted[name] = 0
        while True:
            ids = select(model.id).where(model.received_at < cutoff).limit(chunk)
            async with engine.begin() as conn:
                result = await conn.execute(
                    delete(model).where(model.id.in_(ids.scalar_subquery()))
                )
            count = int(result.rowcount or 0)
            deleted[name] += count
            if progress is not None and count:
                progress(name, deleted[name])
            if count < chunk:
                break
    return deleted
