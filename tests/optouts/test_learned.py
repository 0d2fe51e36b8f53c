"""Opt-outs learned from Mobivate, on both backends: a send Mobivate refuses because the recipient
opted out, and a receipt saying the recipient is blacklisted, opt the number out here (source
`mobivate`), so the next send is refused before Mobivate is called, and nothing is pushed back."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Optout, OptoutEvent, OutboxMessage
from tests.support.bodies import receipt
from tests.support.harness import Harness, send_message
from tests.support.rows import count_rows
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"
E164 = f"+{NUMBER}"


async def state(engine: AsyncEngine) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(Optout).where(Optout.msisdn == E164))).first()


async def events(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        query = select(OptoutEvent).where(OptoutEvent.msisdn == E164).order_by(OptoutEvent.id)
        return list((await conn.execute(query)).all())


async def assert_next_send_refused_here(harness: Harness) -> None:
    sends_before = len(harness.calls("/send/single"))
    response = await harness.send(to=f"+{NUMBER}")
    assert response.status_code == 409, response.text
    assert "by mobivate" in response.json()["reason"]
    assert len(harness.calls("/send/single")) == sends_before


@pytest.mark.parametrize(
    "refusal",
    [(403, "Recipient has opted out"), (400, "Recipient is on the opt-out list")],
    ids=["documented 403", "400 that says so"],
)
async def test_a_send_mobivate_refuses_as_opted_out_opts_the_number_out_here(
    harness: Harness, refusal: tuple[int, str]
) -> None:
    harness.fake.add_optout(NUMBER)
    harness.fake.optout_refusal = refusal

    first = await harness.send(to=f"+{NUMBER}")

    assert first.status_code == 409, first.text
    opted = await state(harness.engine)
    assert (opted.opted_out, opted.source) == (True, "mobivate")
    message_id = first.json()["message"]["id"]
    assert opted.reason == f"Mobivate refused message {message_id}: {refusal[1]}"
    await assert_next_send_refused_here(harness)
    assert await count_rows(harness.engine, OutboxMessage) == 0


async def test_a_refusal_about_the_api_key_teaches_nothing(harness: Harness) -> None:
    harness.fake.add_optout(NUMBER)
    harness.fake.optout_refusal = (403, "Forbidden")

    response = await harness.send(to=f"+{NUMBER}")

    assert response.status_code == 502, response.text
    assert await state(harness.engine) is None


@pytest.mark.parametrize(
    ("status", "code"),
    [("FAILED_RECIPIENT_BLACKLISTED", 19), (None, 19), ("OPTED_OUT", 99)],
    ids=["documented status", "code alone", "undocumented name"],
)
async def test_a_receipt_saying_the_recipient_is_blacklisted_opts_the_number_out(
    harness: Harness, status: str | None, code: int
) -> None:
    sent = await send_message(harness, f"+{NUMBER}", "ref-blacklisted")
    message = harness.by_reference("ref-blacklisted")

    for _ in range(2):  # a redelivery records nothing twice
        body = receipt(message.id, status, code, reference="ref-blacklisted")
        await post_accepted(harness.client, "receipt", body)

    opted = await state(harness.engine)
    assert (opted.opted_out, opted.source) == (True, "mobivate")
    [event] = await events(harness.engine)
    assert (
        event.reason == f"Mobivate reported {status or 'status code 19'} for message {sent['id']}"
    )
    await assert_next_send_refused_here(harness)
    assert await count_rows(harness.engine, OutboxMessage) == 0


async def test_the_fake_blacklist_is_learned_from_its_receipts(harness: Harness) -> None:
    harness.fake.blacklisted.add(NUMBER)
    await send_message(harness, f"+{NUMBER}", "ref-1")
    await send_message(harness, "+447700900124", "ref-2")

    await harness.fake.deliver_receipts()

    assert (await state(harness.engine)).source == "mobivate"
    assert await harness.message((await send_message(harness, "+447700900124", "ref-3"))["id"])
    await assert_next_send_refused_here(harness)


async def test_other_failures_in_receipts_teach_nothing(harness: Harness) -> None:
    await send_message(harness, f"+{NUMBER}", "ref-undeliverable")
    message = harness.by_reference("ref-undeliverable")

    await harness.fake.send_receipt(message, "UNDELIVERABLE")
    await harness.fake.send_receipt(message, "FAILED_NOROUTE")

    assert await state(harness.engine) is None
    assert (await harness.send(to=f"+{NUMBER}")).status_code == 201


async def test_a_blacklisted_receipt_that_arrives_before_the_send_is_recorded_is_learned(
    harness: Harness,
) -> None:
    """The receipt (by reference only) matches nothing yet; the send links it and learns."""
    early = receipt("", None, 19, reference="ref-early")
    await post_accepted(harness.client, "receipt", early)
    assert await state(harness.engine) is None

    await send_message(harness, f"+{NUMBER}", "ref-early")

    assert (await state(harness.engine)).source == "mobivate"
    await assert_next_send_refused_here(harness)


async def test_a_stop_after_a_learned_opt_out_is_recorded_and_a_start_opts_back_in(
    harness: Harness,
) -> None:
    harness.fake.add_optout(NUMBER)
    assert (await harness.send(to=f"+{NUMBER}")).status_code == 409
    # A second later: a learned opt-out and a START in one second leave the number opted out.
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    await harness.fake.send_incoming(NUMBER, "START", created=later)

    opted = await state(harness.engine)
    assert (opted.opted_out, opted.source) == (False, "incoming_sms")
    # The START is pushed so Mobivate removes the number from its list too.
    async with harness.engine.connect() as conn:
        operations = (await conn.execute(select(OutboxMessage.operation))).scalars().all()
    assert list(operations) == ["optout_delete"]
