"""The audit of sends after an opt-out: `mobivate-hooks audit-optouts` and
`GET /api/v1/compliance/sends-after-optout`. The service never makes such a send, so these tests
store them directly, and bypass the standing audit that every other test is held to."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import OPTOUT_EVENTS, OUTBOUND_MESSAGES
from app.optouts.audit import confirmation_reference
from app.optouts.registry import OptoutChange, record_changes
from tests.support.cli import run_command
from tests.support.harness import Harness

PERSON = "+447700900123"
NOW = datetime.now(UTC).replace(microsecond=0)


def message(
    msisdn: str, sent_at: datetime, submission: str = "submitted", reference: str | None = None
) -> dict[str, Any]:
    return {
        "msisdn": msisdn,
        "originator": "Shop",
        "body": "Offer",
        "route_id": "mglobal",
        "reference": reference or f"ref-{msisdn}-{sent_at.timestamp()}-{submission}",
        "encoding": "GSM-7",
        "parts": 1,
        "shorten_urls": False,
        "submission": submission,
        "status": submission,
        "status_at": sent_at,
        "status_rank": 0,
        "final": False,
        "created_at": sent_at,
        "updated_at": sent_at,
    }


async def store(engine: AsyncEngine, *messages: dict[str, Any]) -> list[int]:
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(OUTBOUND_MESSAGES).returning(OUTBOUND_MESSAGES.c.id), list(messages)
        )
        return [row.id for row in result]


@pytest.mark.sends_after_optout
async def test_a_send_while_opted_out_is_listed_and_the_command_exits_1(
    harness: Harness, engine: AsyncEngine, database_url: str
) -> None:
    # The person opted out by STOP (written with the trunk digit) an hour ago, and back in
    # ten minutes ago; another person stayed opted out.
    response = await harness.client.post(
        "/api/v1/optouts", json={"msisdn": "+44 (0)7700 900123", "source": "operator"}
    )
    assert response.status_code == 201
    async with engine.begin() as conn:
        await record_changes(
            conn,
            [
                OptoutChange(PERSON, "opt_out", "incoming_sms", NOW - timedelta(hours=1)),
                OptoutChange(PERSON, "opt_in", "incoming_sms", NOW - timedelta(minutes=10)),
                OptoutChange("+447700900999", "opt_out", "imported", NOW - timedelta(days=2)),
            ],
        )
    listed_ids = await store(
        engine,
        message(PERSON, NOW - timedelta(minutes=30)),  # while opted out
        message("+447700900999", NOW - timedelta(days=1)),  # while opted out
    )
    await store(
        engine,
        message(PERSON, NOW - timedelta(hours=2)),  # before the opt-out
        message(PERSON, NOW - timedelta(minutes=5)),  # opted back in
        message(PERSON, NOW - timedelta(minutes=30), "refused"),  # Mobivate refused it
        message("+447700900555", NOW - timedelta(minutes=30)),  # never opted out
    )

    answer = (await harness.client.get("/api/v1/compliance/sends-after-optout")).json()
    assert answer["count"] == 2
    assert [item["message_id"] for item in answer["items"]] == list(reversed(listed_ids))
    first = answer["items"][1]
    assert (first["msisdn"], first["optout_source"]) == (PERSON, "incoming_sms")
    assert datetime.fromisoformat(first["opted_out_at"]) == NOW - timedelta(hours=1)
    recent = await harness.client.get(
        "/api/v1/compliance/sends-after-optout",
        params={"since": (NOW - timedelta(hours=12)).isoformat()},
    )
    assert [item["message_id"] for item in recent.json()["items"]] == [listed_ids[0]]

    code, out, err = await run_command(database_url, "audit-optouts", "--since", "30d")
    assert code == 1, err
    assert out.count("\n") == 2
    assert f"message {listed_ids[0]} to 4477******23" in out
    assert "900123" not in out  # numbers are masked
    assert "2 messages sent to opted-out people" in err
    code, out, _ = await run_command(database_url, "audit-optouts", "--since", "12h")
    assert code == 1
    code, out, _ = await run_command(database_url, "audit-optouts", "--since", "20m")
    assert (code, out.startswith("no message was sent to an opted-out person")) == (0, True)


@pytest.mark.sends_after_optout
async def test_a_stop_confirmation_is_exempt_from_the_opt_out_it_confirms_only(
    harness: Harness, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await record_changes(
            conn,
            [
                OptoutChange(PERSON, "opt_out", "incoming_sms", NOW - timedelta(hours=2)),
                OptoutChange(PERSON, "opt_in", "incoming_sms", NOW - timedelta(hours=1)),
                OptoutChange(PERSON, "opt_out", "incoming_sms", NOW - timedelta(minutes=30)),
            ],
        )
        first, _, last = (
            await conn.execute(
                select(OPTOUT_EVENTS.c.id)
                .where(OPTOUT_EVENTS.c.msisdn == PERSON)
                .order_by(OPTOUT_EVENTS.c.event_at)
            )
        ).scalars()
    confirming = confirmation_reference(last)
    [misused] = await store(
        engine,
        # The confirmation of the first STOP, sent while the last one is in force: listed.
        message(PERSON, NOW - timedelta(minutes=20), reference=confirmation_reference(first)),
    )
    await store(engine, message(PERSON, NOW - timedelta(minutes=29), reference=confirming))
    answer = (await harness.client.get("/api/v1/compliance/sends-after-optout")).json()
    assert [item["message_id"] for item in answer["items"]] == [misused]


async def test_the_audit_is_empty_after_sends_the_service_made_and_refused(
    harness: Harness, database_url: str
) -> None:
    assert (await harness.send(to="+447700900123")).status_code == 201
    await harness.opt_out("+447700900123")
    assert (await harness.send(to="447700900123")).status_code == 409
    answer = (await harness.client.get("/api/v1/compliance/sends-after-optout")).json()
    assert answer == {"since": answer["since"], "count": 0, "items": []}
    code, out, _ = await run_command(database_url, "audit-optouts")
    assert code == 0
    assert "no message was sent to an opted-out person" in out


async def test_a_bad_since_is_refused(harness: Harness, database_url: str) -> None:
    naive = await harness.client.get(
        "/api/v1/compliance/sends-after-optout", params={"since": "2026-01-01T00:00:00"}
    )
    assert naive.status_code == 422
    code, _, err = await run_command(database_url, "audit-optouts", "--since", "forever")
    assert code == 2
    assert "forever" in err
