"""The secret path segment of the webhook URLs.

`WEBHOOK_SECRET` wins when set. Otherwise a random secret is generated once and kept in the
database, so every replica and every restart serves the same URLs.
"""

import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import ServiceSetting
from app.mobivate.vocabulary import WebhookKind

SETTING_KEY = "webhook_secret"


async def resolve_webhook_secret(engine: AsyncEngine, configured: str | None) -> str:
    if configured:
        return configured
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    async with engine.begin() as conn:
        await conn.execute(
            insert(ServiceSetting)
            .values(key=SETTING_KEY, value=secrets.token_urlsafe(32), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        stored = await conn.scalar(
            select(ServiceSetting.value).where(ServiceSetting.key == SETTING_KEY)
        )
    assert stored is not None
    return stored


def secret_matches(candidate: str, secret: str) -> bool:
    return hmac.compare_digest(candidate.encode(), secret.encode())


def mask_secret(secret: str) -> str:
    return f"{secret[:3]}…" if len(secret) >= 12 else "…"


def webhook_urls(base_url: str, secret: str) -> dict[WebhookKind, str]:
    base = base_url.rstrip("/")
    return {kind: f"{base}/webhooks/{secret}/{kind.value}" for kind in WebhookKind}
