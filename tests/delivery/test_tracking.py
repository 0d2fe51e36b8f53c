"""Following each sent message to its final status as receipts arrive, in any order."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import create_engine
from app.core.tables import Receipt
from app.fake_mobivate import FakeMobivate
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows
from tests.support.webhooks import post_webhook

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def sent_message(harness: Harness, **body: Any) -> dict[str, Any]:
    response = await harness.send(**body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def receipt(harness: Harness, mobivate_id: str, status: str, minutes: int) -> str:
    response = await harness.fake.send_receipt(mobivate_id, status, created=at(minutes))
    assert response.status_code == 200, response.text
    outcome: str = response.json()["status"]
    return outcome


async def test_receipts_in_order_make_the_message_delivered(harness: Harness) -> None:
    message = await sent_message(harness)
    await receipt(harness, message["mobivate_id"], "ACCEPTED", 0)
    accepted = await harness.message(message["id"])
    assert (accepted["status"], accepted["status_code"], accepted["final"]) == (
        "ACCEPTED",
        2,
        False,
    )
    await receipt(harness, message["mobivate_id"], "DELIVERED", 1)
    delivered = await harness.message(message["id"])
    assert delivered["status"] == "DELIVERED"
    assert delivered["status_code"] == 1
    assert delivered["final"] is True
    assert datetime.fromisoformat(delivered["status_at"]) == at(1)
    assert datetime.fromisoformat(delivered["delivered_at"]) == at(1)
    assert delivered["parts"] == 1


async def test_late_in_flight_receipt_never_replaces_delivered(harness: Harness) -> None:
    message = await sent_message(harness)
    await receipt(harness, message["mobivate_id"], "DELIVERED", 1)
    await receipt(harness, message["mobivate_id"], "ACCEPTED", 0)
    await receipt(harness, message["mobivate_id"], "RETRY", 5)
    stored = await harness.message(message["id"])
    assert stored["status"] == "DELIVERED"
    assert stored["final"] is True
    effects = [e["details"]["effect"] for e in stored["timeline"] if e["event"] == "receipt"]
    assert sorted(effects) == ["changed", "kept", "kept"]


async def test_duplicate_receipt_is_stored_once(harness: Harness) -> None:
    message = await sent_message(harness)
    assert await receipt(harness, message["mobivate_id"], "DELIVERED", 1) == "stored"
    assert await receipt(harness, message["mobivate_id"], "DELIVERED", 1) == "duplicate"
    assert await count_rows(harness.engine, Receipt) == 1
    assert (await harness.message(message["id"]))["status"] == "DELIVERED"


async def test_between_two_final_statuses_the_later_event_wins(harness: Harness) -> None:
    message = await sent_message(harness)
    await receipt(harness, message["mobivate_id"], "DELIVERED", 2)
    await receipt(harness, message["mobivate_id"], "EXPIRED", 1)
    assert (await harness.message(message["id"]))["status"] == "DELIVERED"
    await receipt(harness, message["mobivate_id"], "FAILED_NACK", 3)
    stored = await harness.message(message["id"])
    assert stored["status"] == "FAILED_NACK"
    assert stored["status_code"] == 11
    assert stored["delivered_at"] is None
    receipts = [e["details"] for e in stored["timeline"] if e["event"] == "receipt"]
    assert [(r["status"], r["effect"], r["previous_status"]) for r in receipts] == [
        ("EXPIRED", "kept", "DELIVERED"),
        ("DELIVERED", "changed", "submitted"),
        ("FAILED_NACK", "changed", "DELIVERED"),
    ]


class ReceiptBeforeAnswer(httpx.AsyncBaseTransport):
    """Mobivate's receipt reaches the app before Mobivate's answer to the send does."""

    def __init__(self, fake: FakeMobivate, *, with_reference: bool) -> None:
        self._fake = fake
        self._inner = fake.transport()
        self._with_reference = with_reference
        self.receipt_outcome: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path == "/send/single" and response.status_code == 200:
            message = self._fake.sent[-1]
            if not self._with_reference:
                message.reference = None
            posted = await self._fake.send_receipt(message, "DELIVERED", created=at(1))
            self.receipt_outcome = posted.json()["status"]
        return response


@pytest.mark.parametrize("with_reference", [True, False])
async def test_receipt_arriving_before_the_send_answer_is_applied(
    database_url: str, with_reference: bool
) -> None:
    transports: list[ReceiptBeforeAnswer] = []

    def wrap(fake: FakeMobivate) -> httpx.AsyncBaseTransport:
        transports.append(ReceiptBeforeAnswer(fake, with_reference=with_reference))
        return transports[0]

    async with start_harness(sending_settings(database_url), wrap=wrap) as harness:
        message = await sent_message(harness)
        assert transports[0].receipt_outcome == "stored"
        assert message["status"] == "DELIVERED"
        assert message["submission"] == "submitted"
        stored = await harness.message(message["id"])
        assert stored["status"] == "DELIVERED"
        assert stored["final"] is True
        assert [e["event"] for e in stored["timeline"]].count("receipt") == 1


async def test_receipt_for_an_unknown_message_is_kept_unlinked(harness: Harness) -> None:
    payload = {
        "deliveryMessageId": "9A85B95E0A000A9D2FBD46710388AD54",
        "clientReference": "not-ours",
        "created": "2023-07-28T03:23:22.000+00:00",
        "status": "DELIVERED",
        "statusCode": 1,
    }
    response = await post_webhook(harness.client, "receipt", payload)
    assert response.status_code == 200
    async with harness.engine.connect() as conn:
        linked = await conn.scalar(select(Receipt.outbound_message_id))
    assert linked is None


async def test_batch_messages_are_matched_by_reference(harness: Harness) -> None:
    batch = await harness.send_batch(
        [
            {"to": "447700900001", "text": "one"},
            {"to": "447700900002", "text": "two", "reference": "mine-2"},
        ]
    )
    messages = batch["messages"]
    assert messages[1]["reference"] == "mine-2"
    fakes = [harness.by_reference(m["reference"]) for m in messages]
    assert fakes[0].id != fakes[1].id
    await harness.fake.deliver_receipts(fakes[:1])
    await harness.fake.deliver_receipts(fakes[1:], final_status="UNDELIVERABLE")
    first, second = [await harness.message(m["id"]) for m in messages]
    assert first["status"] == "DELIVERED"
    assert first["mobivate_id"] == fakes[0].id
    assert second["status"] == "UNDELIVERABLE"
    assert second["final"] is True
    batch = (await harness.client.get(f"/api/v1/batches/{batch['id']}")).json()
    assert batch["counts"] == {"DELIVERED": 1, "UNDELIVERABLE": 1}
    assert batch["final"] == 2


async def test_replies_and_clicks_are_linked_and_the_timeline_is_in_time_order(
    harness: Harness,
) -> None:
    message = await sent_message(harness, shorten_urls=True)
    mobivate_id = message["mobivate_id"]
    await receipt(harness, mobivate_id, "ACCEPTED", 0)
    await receipt(harness, mobivate_id, "DELIVERED", 2)
    reply = await harness.fake.send_incoming(
        "447700900123", "Thanks!", in_reply_to=harness.fake_message(mobivate_id), created=at(3)
    )
    assert reply.status_code == 200, reply.text
    click = await harness.fake.send_click(mobivate_id)
    assert click.status_code == 200, click.text

    stored = await harness.message(message["id"])
    events = [e["event"] for e in stored["timeline"]]
    assert events[:2] == ["receipt", "receipt"]  # both happened before the send, at T0
    assert events[2:] == ["reply", "created", "submission", "click"]
    times = [datetime.fromisoformat(e["at"]) for e in stored["timeline"]]
    assert times == sorted(times)
    reply_entry = stored["timeline"][2]["details"]
    assert reply_entry["text"] == "Thanks!"
    assert reply_entry["from"] == "+447700900123"
    submission = stored["timeline"][4]["details"]
    assert submission == {"outcome": "submitted", "mobivate_id": mobivate_id}


async def test_many_receipts_at_once_end_in_the_right_status(harness: Harness) -> None:
    messages = [await sent_message(harness, to=f"+4477009{i:05d}") for i in range(20)]
    posts = []
    for m in messages:
        for status, minutes in (("DELIVERED", 2), ("ACCEPTED", 0), ("INTERIM_QUEUED", 1)):
            posts.append(harness.fake.send_receipt(m["mobivate_id"], status, created=at(minutes)))
    responses = await asyncio.gather(*posts)
    assert all(r.status_code == 200 for r in responses)
    for m in messages:
        assert (await harness.message(m["id"]))["status"] == "DELIVERED"


class ReceiptStoredMeanwhile(httpx.AsyncBaseTransport):
    """While Mobivate's answer is on its way, another connection is storing a receipt for the
    message (without our reference) and commits only a little later."""

    def __init__(self, fake: FakeMobivate, engine: AsyncEngine) -> None:
        self._fake = fake
        self._inner = fake.transport()
        self._engine = engine
        self.committed: asyncio.Task[None] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path == "/send/single":
            started = asyncio.Event()
            self.committed = asyncio.create_task(self._store(self._fake.sent[-1].id, started))
            await started.wait()
        return response

    async def _store(self, mobivate_id: str, started: asyncio.Event) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(Receipt).values(
                    source="webhook",
                    dedupe_key=f"meanwhile-{mobivate_id}",
                    received_at=at(1),
                    event_at=at(1),
                    delivery_message_id=mobivate_id,
                    message_id_norm=mobivate_id,
                    status="DELIVERED",
                    status_code=1,
                )
            )
            started.set()
            await asyncio.sleep(0.2)


async def test_receipt_committed_while_the_answer_is_recorded_is_not_missed(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    transports: list[ReceiptStoredMeanwhile] = []

    def wrap(fake: FakeMobivate) -> httpx.AsyncBaseTransport:
        transports.append(ReceiptStoredMeanwhile(fake, engine))
        return transports[0]

    try:
        async with start_harness(sending_settings(database_url), wrap=wrap) as harness:
            message = await sent_message(harness)
            assert transports[0].committed is not None
            await transports[0].committed
            stored = await harness.message(message["id"])
    finally:
        await engine.dispose()
    assert stored["status"] == "DELIVERED"
