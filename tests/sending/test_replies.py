"""The HELP auto-reply and the one-time STOP confirmation: off by default, sent through the
sending path, the confirmation the only message an opted-out number ever gets."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.fake_mobivate.records import FakeMessage
from tests.support.bodies import incoming
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"
HELP = "Shop alerts: help at shop.example/help. Msg&data rates may apply. Reply STOP to end."
CONFIRM = "Shop alerts: you are unsubscribed and will get no more messages. Reply START to rejoin."


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    settings = sending_settings(database_url, help_reply_text=HELP, stop_confirmation_text=CONFIRM)
    async with start_harness(settings) as harness:
        yield harness


def sent_to(harness: Harness, number: str) -> list[FakeMessage]:
    return [message for message in harness.fake.sent if message.recipient == number]


async def texts_sent(harness: Harness, number: str, count: int) -> list[str]:
    async def enough() -> list[str]:
        texts = [message.body for message in sent_to(harness, number)]
        return texts if len(texts) >= count else []

    return await eventually(enough, what=f"{count} messages to {number}")


async def settle() -> None:
    """Long enough for a reply that must not be sent to have been sent (one arrives within
    tens of milliseconds)."""
    await asyncio.sleep(0.5)


async def test_stop_is_confirmed_once_and_nothing_else_is_sent(harness: Harness) -> None:
    await post_accepted(harness.client, "incoming", incoming(NUMBER, "STOP", recipient="SHOP"))
    assert await texts_sent(harness, NUMBER, 1) == [CONFIRM]
    [confirmation] = sent_to(harness, NUMBER)
    assert confirmation.originator == "SHOP"
    # The number stays opted out: an ordinary send is refused.
    refused = await harness.send(to=NUMBER, text="Sale!")
    assert refused.status_code == 409
    # A redelivered STOP and a second STOP are not new opt-outs.
    await post_accepted(harness.client, "incoming", incoming(NUMBER, "STOP", recipient="SHOP"))
    await post_accepted(harness.client, "incoming", incoming(NUMBER, "stop"))
    await settle()
    assert [message.body for message in sent_to(harness, NUMBER)] == [CONFIRM]
    # The confirmation is a message like any other: stored and listed.
    listed = (await harness.client.get("/api/v1/messages")).json()["items"]
    assert [item["text"] for item in listed] == [CONFIRM]


async def test_a_new_opt_out_after_start_is_confirmed_again(harness: Harness) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await post_accepted(
        harness.client, "incoming", incoming(NUMBER, "STOP", created=now - timedelta(seconds=20))
    )
    await texts_sent(harness, NUMBER, 1)
    await post_accepted(
        harness.client, "incoming", incoming(NUMBER, "START", created=now - timedelta(seconds=10))
    )
    await post_accepted(
        harness.client, "incoming", incoming(NUMBER, "STOP", created=now + timedelta(seconds=5))
    )
    assert await texts_sent(harness, NUMBER, 2) == [CONFIRM, CONFIRM]


async def test_help_gets_the_help_text_but_never_while_opted_out(harness: Harness) -> None:
    await post_accepted(harness.client, "incoming", incoming(NUMBER, "HELP"))
    assert await texts_sent(harness, NUMBER, 1) == [HELP]
    other = "447700900124"
    await harness.opt_out(other)
    await post_accepted(harness.client, "incoming", incoming(other, "HELP"))
    await settle()
    assert sent_to(harness, other) == []


async def test_an_old_stop_reprocessed_now_is_not_confirmed(harness: Harness) -> None:
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    await post_accepted(harness.client, "incoming", incoming(NUMBER, "STOP", created=old))
    await settle()
    assert sent_to(harness, NUMBER) == []


@pytest.mark.parametrize("texts", [{}, {"help_reply_text": HELP}])
async def test_replies_are_off_until_their_text_is_set(
    database_url: str, texts: dict[str, Any]
) -> None:
    async with start_harness(sending_settings(database_url, **texts)) as harness:
        await post_accepted(harness.client, "incoming", incoming(NUMBER, "STOP"))
        await settle()
        assert sent_to(harness, NUMBER) == []
