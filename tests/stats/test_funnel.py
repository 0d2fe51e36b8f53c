"""`GET /api/v1/stats/funnel`: how far the messages of the last 24 hours, 7 days, or one batch got,
against counts known by construction."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from app.core.db import utcnow
from app.core.tables import OutboundMessage
from tests.support.harness import Harness, send_message
from tests.support.webhooks import post_click, post_incoming, post_receipt


async def _created(harness: Harness, message_id: int, created_at: datetime) -> None:
    async with harness.engine.begin() as conn:
        await conn.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(created_at=created_at)
        )


async def _funnel(harness: Harness, **params: str | int) -> dict[str, Any]:
    response = await harness.client.get("/api/v1/stats/funnel", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_window_funnel_follows_each_message_to_its_stage(harness: Harness) -> None:
    sent = [await send_message(harness, f"+4477009001{n:02}", f"f-{n}") for n in range(6)]
    now = datetime.now(UTC)  # after the sends: the STOP below must not predate them
    receipts = [
        (sent[0], "DELIVERED", 1),
        (sent[1], "DELIVERED", 1),
        (sent[2], "EXPIRED", 3),
        (sent[3], "UNDELIVERABLE", 5),
        (sent[4], "ACCEPTED", 2),
    ]  # sent[5]: no receipt yet
    for message, status, code in receipts:
        await post_receipt(harness.client, message["mobivate_id"], status, code, now)
    await post_click(harness.client, sent[0]["to"], sent[0]["mobivate_id"])
    await post_click(harness.client, sent[1]["to"], sent[1]["mobivate_id"])
    await post_incoming(
        harness.client, "1C9A658F0A931B317B6A53BB42EC0002", sent[0]["to"], "STOP", now,
        in_reply_to=sent[0]["mobivate_id"],
    )  # fmt: skip
    old = await send_message(harness, "+447700900199", "old")
    await _created(harness, old["id"], utcnow() - timedelta(days=3))

    day = await _funnel(harness, window="24h")
    stages = ("sent", "accepted", "delivered", "failed", "expired", "pending")
    assert tuple(day[name] for name in stages) == (6, 5, 2, 1, 1, 2)
    assert (day["clicks"], day["replies"], day["opt_outs"]) == (2, 1, 1)
    assert day["window"] == "24h"
    assert day["batch_id"] is None
    assert str(day["until"]).endswith("Z")
    week = await _funnel(harness, window="7d")
    assert (week["sent"], week["pending"]) == (7, 3)


async def test_a_batch_funnel_counts_its_own_messages(harness: Harness) -> None:
    await send_message(harness, "+447700900150", "not-in-the-batch")
    messages = [{"to": "+447700900151", "text": "Sale"}, {"to": "+447700900152", "text": "Sale"}]
    response = await harness.client.post("/api/v1/batches", json={"messages": messages})
    assert response.status_code == 202, response.text
    batch = await harness.settled_batch(response.json()["id"])
    [first] = [m for m in harness.fake.sent if m.recipient == "447700900151"]
    when = datetime.now(UTC) + timedelta(seconds=30)
    await post_receipt(
        harness.client, first.id, "DELIVERED", 1, when,
        batch=first.batch_id, reference=first.reference,
    )  # fmt: skip
    await post_click(harness.client, "447700900151", first.id)
    await harness.opt_out("447700900152")
    funnel = await _funnel(harness, batch_id=batch["id"])
    assert funnel["batch_id"] == batch["id"]
    stages = ("sent", "accepted", "delivered", "pending")
    assert tuple(funnel[name] for name in stages) == (2, 1, 1, 1)
    assert (funnel["clicks"], funnel["replies"], funnel["opt_outs"]) == (1, 0, 1)


async def test_the_funnel_says_what_was_wrong(harness: Harness) -> None:
    cases: list[tuple[dict[str, str | int], int, str]] = [
        ({}, 422, "window"),
        ({"window": "24h", "batch_id": 1}, 422, "either"),
        ({"window": "1y"}, 422, "window"),
        ({"batch_id": 999}, 404, "no batch with id 999"),
        ({"batch_id": 0}, 422, "batch_id"),
    ]
    for params, status, word in cases:
        response = await harness.client.get("/api/v1/stats/funnel", params=params)
        assert response.status_code == status, (params, response.text)
        assert word in response.text, (params, response.text)
