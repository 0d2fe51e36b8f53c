"""The webhook secret the service generates when none is configured: kept in the database,
shared by instances, never logged."""

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import ServiceSetting
from tests.support.app import make_settings, start_app
from tests.support.webhooks import post_webhook


async def test_generated_secret_is_kept_and_shared_by_instances(
    database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, webhook_secret=None, public_base_url="https://h.example")
    caplog.set_level(logging.INFO)
    secrets = []
    for _ in range(2):
        async with start_app(settings) as running:
            secrets.append(running.runtime.webhook_secret)
            response = await post_webhook(
                running.client,
                "receipt",
                {"deliveryMessageId": "AB12", "statusCode": 1},
                secret=running.runtime.webhook_secret,
            )
            assert response.status_code == 200
    assert secrets[0] == secrets[1]
    assert len(secrets[0]) >= 32
    async with engine.connect() as conn:
        stored = await conn.scalar(select(ServiceSetting.value))
    assert stored == secrets[0]
    startup = [r.getMessage() for r in caplog.records if "webhook URLs" in r.getMessage()]
    assert startup
    assert "https://h.example/webhooks/" in startup[0]
    assert all(secrets[0] not in line for line in startup)
