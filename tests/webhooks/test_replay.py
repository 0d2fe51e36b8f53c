"""Replay of bodies kept as unparsed: each is stored once the parser accepts it."""

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Receipt, WebhookRequest
from app.webhooks.ingest import IngestWriter
from app.webhooks.replay import reprocess_unparsed
from tests.support.rows import count_rows


async def test_reprocess_stores_events_of_bodies_that_failed_to_parse_once(
    database_url: str, engine: AsyncEngine
) -> None:
    """A body kept as unparsed by an older parser is stored once the parser accepts it."""
    parseable = json.dumps({"deliveryMessageId": "9A85B95E", "status": "DELIVERED"}).encode()
    still_bad = b'{"statusCode": "abc"}'
    async with engine.begin() as conn:
        for body in (parseable, still_bad):
            await conn.execute(
                insert(WebhookRequest).values(
                    id=uuid.uuid4(),
                    kind="receipt",
                    received_at=datetime.now(UTC),
                    content_type="application/json",
                    client_addr="203.0.113.7",
                    body=body,
                    body_size=len(body),
                    truncated=False,
                    outcome="unparsed",
                    error="rejected by an older parser",
                    event_count=0,
                )
            )
    writer = IngestWriter(engine)
    await writer.start()
    try:
        first = await reprocess_unparsed(engine, writer, page_size=1)
        second = await reprocess_unparsed(engine, writer)
    finally:
        await writer.stop()
    assert (first.examined, first.stored, first.still_unparsed) == (2, 1, 1)
    assert (second.examined, second.stored, second.still_unparsed) == (1, 0, 1)
    assert await count_rows(engine, Receipt) == 1
    async with engine.connect() as conn:
        outcomes = dict(
            (await conn.execute(select(WebhookRequest.body, WebhookRequest.outcome))).all()
        )
        [receipt] = (await conn.execute(select(Receipt))).all()
    assert outcomes == {parseable: "stored", still_bad: "unparsed"}
    assert receipt.status == "DELIVERED"
