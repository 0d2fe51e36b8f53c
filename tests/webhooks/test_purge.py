"""Retention purge: old bodies and events go, the opt-out history stays."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import IncomingMessage, Optout, OptoutEvent, Receipt, WebhookRequest
from app.webhooks.purge import purge_before
from tests.support.cli import run_command
from tests.support.rows import count_rows
from tests.support.webhooks import post_webhook


async def test_purge_deletes_old_bodies_and_events_and_keeps_optout_history(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for index in range(3):
        payload = {"id": f"OLD{index}", "originator": "447700900123", "body": "STOP"}
        response = await post_webhook(client, "incoming", payload)
        assert response.status_code == 200
    long_ago = datetime.now(UTC) - timedelta(days=100)
    async with engine.begin() as conn:
        for model in (WebhookRequest, IncomingMessage):
            await conn.execute(update(model).values(received_at=long_ago))
    receipt = {"deliveryMessageId": "NEW1", "status": "DELIVERED", "statusCode": 1}
    await post_webhook(client, "receipt", receipt)

    deleted = await purge_before(engine, datetime.now(UTC) - timedelta(days=90), chunk=2)

    assert deleted == {"receipts": 0, "incoming_messages": 3, "clicks": 0, "webhook_requests": 3}
    assert await count_rows(engine, IncomingMessage) == 0
    assert await count_rows(engine, WebhookRequest) == 1
    assert await count_rows(engine, Receipt) == 1
    assert await count_rows(engine, Optout) == 1
    assert await count_rows(engine, OptoutEvent) == 3


async def test_purge_command_reports_counts_and_refuses_a_bad_period(
    database_url: str, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(WebhookRequest).values(
                id=uuid.uuid4(),
                kind="click",
                received_at=datetime.now(UTC) - timedelta(days=10),
                content_type="application/json",
                client_addr=None,
                body=b"{}",
                body_size=2,
                truncated=False,
                outcome="unparsed",
                error="x",
                event_count=0,
            )
        )
    code, out, _ = await run_command(database_url, "purge", "--older-than", "7d")
    assert code == 0
    assert "webhook_requests: 1" in out
    code, _, err = await run_command(database_url, "purge", "--older-than", "soon")
    assert code == 2
    assert "is not a duration" in err
