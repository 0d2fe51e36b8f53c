"""The silence alarm: receipts stop while messages wait (another system took the receipt URL),
so the service warns once, shows it on /readyz and /metrics, and registers its URLs again,
one replica per kind."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.core.db import utcnow
from app.core.tables import Batch, Receipt
from app.delivery.silence import assess_silence
from tests.support.app import WEBHOOK_SECRET, start_app
from tests.support.harness import Harness, send_message, sending_settings, start_harness
from tests.support.registration import registration_calls
from tests.support.waiting import eventually

OURS = f"http://app/webhooks/{WEBHOOK_SECRET}/receipt"
THEIRS = "https://other-system.example/dlr"
KINDS = ("receipt", "incoming", "click")


def silence_settings(database_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "register_webhooks": True,
        "public_base_url": "http://app",
        "receipt_silence_minutes": 0.01,  # 0.6 s, checked every 0.15 s
    }
    values.update(overrides)
    return sending_settings(database_url, **values)


@pytest.fixture
async def watched(database_url: str) -> AsyncIterator[Harness]:
    async with start_harness(silence_settings(database_url)) as harness:
        registration = harness.running.runtime.registration
        assert registration is not None
        assert registration.task is not None
        await registration.task
        yield harness


async def stolen_and_waiting(harness: Harness) -> dict[str, Any]:
    """Another system registers its receipt URL; a message then waits two minutes."""
    harness.fake.webhooks["receipt"] = THEIRS
    sent = await send_message(harness, "+447700900123", "silence-1")
    await harness.age(sent["id"], utcnow() - timedelta(minutes=2))
    return sent


async def metric(harness: Harness, name: str) -> float:
    text = (await harness.client.get("/metrics")).text
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


async def test_silence_is_detected_and_the_urls_registered_again(
    watched: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert len(registration_calls(watched.fake)) == 3
    sent = await stolen_and_waiting(watched)

    await eventually(lambda: _count(watched, 6), within=15, what="registering again")
    assert watched.fake.webhooks["receipt"] == OURS
    again = registration_calls(watched.fake)[3:]
    assert sorted(call.path for call in again[:3]) == sorted(f"/webhooks/{k}" for k in KINDS)

    ready = (await watched.client.get("/readyz")).json()
    assert ready["status"] == "ready"
    receipts = ready["receipts"]
    assert receipts["silent"] is True
    assert "no delivery receipt for 1 messages waiting 0.01 minutes" in receipts["detail"]
    assert receipts["since"].endswith("Z")
    assert "registered" in receipts["reregistration"]
    assert await metric(watched, "receipt_silence_alarm") == 1

    # Receipts come back: the alarm clears.
    response = await watched.fake.send_receipt(sent["mobivate_id"], "DELIVERED")
    assert response.status_code == 200

    async def cleared() -> bool:
        body = (await watched.client.get("/readyz")).json()
        return body["receipts"]["silent"] is False

    await eventually(cleared, within=5, what="the alarm clearing")
    assert await metric(watched, "receipt_silence_alarm") == 0
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "delivery receipt" in r.message
    ]
    assert len(warnings) == 1
    assert "registering the webhook URLs with Mobivate again" in warnings[0].message
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app."))
    assert WEBHOOK_SECRET not in ours
    assert "447700900123" not in ours
    assert "receipts arrive again" in caplog.text


async def test_replicas_register_each_kind_once_per_silence(database_url: str) -> None:
    settings = silence_settings(database_url, receipt_silence_minutes=0.05)  # 3 s
    async with start_harness(settings) as first:
        assert first.running.runtime.registration is not None
        await eventually(lambda: _count(first, 3), within=15, what="the registration at startup")
        async with start_app(settings, mobivate_transport=first.fake.transport()):
            await stolen_and_waiting(first)
            await eventually(lambda: _count(first, 6), within=15, what="registering again")
            await eventually(lambda: _stays(first, 6), within=15, what="no second registration")
    per_kind = [call.path for call in registration_calls(first.fake)[3:]]
    assert sorted(per_kind) == sorted(f"/webhooks/{k}" for k in KINDS)


async def _count(harness: Harness, calls: int) -> bool:
    return len(registration_calls(harness.fake)) >= calls


async def _stays(harness: Harness, calls: int) -> bool:
    """True once the calls have stayed at `calls` for a while (one silence check later)."""
    await asyncio.sleep(1.0)
    return len(registration_calls(harness.fake)) == calls


async def test_without_registration_the_alarm_still_warns(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = silence_settings(database_url, register_webhooks=False)
    async with start_harness(settings) as harness:
        await stolen_and_waiting(harness)

        async def warned() -> bool:
            return "not registering the webhook URLs again" in caplog.text

        await eventually(warned, within=5, what="the warning")
        assert "REGISTER_WEBHOOKS is false" in caplog.text
        assert registration_calls(harness.fake) == []
        assert (await harness.client.get("/readyz")).json()["receipts"]["silent"] is True


async def test_a_fresh_message_or_receipts_after_it_are_not_silence(harness: Harness) -> None:
    engine, now = harness.engine, utcnow()
    period = timedelta(minutes=30)
    sent = await send_message(harness, "+447700900123", "quiet-1")
    assert not (await assess_silence(engine, period, now)).silent

    await harness.age(sent["id"], now - timedelta(minutes=45))
    silence = await assess_silence(engine, period, utcnow())
    assert (silence.silent, silence.waiting, silence.last_receipt_at) == (True, 1, None)

    await harness.fake.send_receipt(sent["mobivate_id"], "ACCEPTED")
    assert not (await assess_silence(engine, period, utcnow())).silent


async def test_receipts_stopping_for_a_batch_still_sending_is_silence(harness: Harness) -> None:
    engine, period = harness.engine, timedelta(minutes=30)
    messages = [{"to": f"4477009000{i:02d}", "text": "x"} for i in range(3)]
    batch = await harness.send_batch(messages, spread_hours=6)
    first = harness.by_reference(batch["messages"][0]["reference"])
    await harness.fake.send_receipt(first, "DELIVERED")
    assert not (await assess_silence(engine, period, utcnow())).silent

    an_hour_ago = utcnow() - timedelta(hours=1)
    async with engine.begin() as conn:
        await conn.execute(update(Batch).values(created_at=an_hour_ago))
        await conn.execute(update(Receipt).values(received_at=an_hour_ago))
    # The other messages went out with the spread, just now: only the batch rule sees it.
    silence = await assess_silence(engine, period, utcnow())
    assert (silence.waiting, silence.stopped_batches) == (0, (batch["id"],))

    async with engine.begin() as conn:
        await conn.execute(update(Batch).values(created_at=utcnow() - timedelta(hours=7)))
    assert not (await assess_silence(engine, period, utcnow())).silent
