"""Settings for the opt-out tests, and reading the outbox of pushes to Mobivate."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.tables import OutboxMessage
from tests.support.app import make_settings
from tests.support.fake import FAKE_API_KEY


def optout_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings whose outbox worker polls and backs off in milliseconds."""
    values: dict[str, Any] = {
        "mobivate_api_key": FAKE_API_KEY,
        "register_webhooks": False,
        "outbox_poll_interval_seconds": 0.05,
        "outbox_backoff_initial_seconds": 0.01,
        "outbox_backoff_max_seconds": 0.05,
        "outbox_lease_seconds": 5.0,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


async def pushes(engine: AsyncEngine, msisdn: str | None = None) -> list[Any]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if msisdn is not None:
        query = query.where(OutboxMessage.msisdn == msisdn)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def all_settled(engine: AsyncEngine) -> bool:
    rows = await pushes(engine)
    return bool(rows) and all(row.state != "pending" for row in rows)
