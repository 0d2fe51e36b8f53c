"""STOP, START and HELP arriving as incoming messages, through the webhook endpoint."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import IncomingMessage, OptoutEvent
from tests.support.app import start_app
from tests.support.bodies import incoming
from tests.support.fake import fake_mobivate, optout_calls
from tests.support.optouts import all_settled, optout_settings, pushes
from tests.support.rows import count_rows
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"


async def test_stop_opts_out_and_reaches_mobivate_without_waiting_for_a_poll(
    database_url: str, engine: AsyncEngine
) -> None:
    # A poll interval far longer than the test: only the wake-up after the commit can deliver.
    settings = optout_settings(database_url, outbox_poll_interval_seconds=60)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await running.client.get("/healthz")
        await post_accepted(running.client, "incoming", incoming("+44 7700 900123", "Stop"))

        async def delivered() -> bool:
            if NUMBER not in fake.optouts:
                return False
            state = await running.client.get(f"/api/v1/optouts/{NUMBER}")
            return bool(state.json()["pushes"][0]["state"] == "delivered")

        # Far sooner than the 60 s poll: only the wake-up after the commit can have delivered it.
        await eventually(delivered, within=20.0, what="the opt-out delivered to Mobivate")
        response = await running.client.get(f"/api/v1/optouts/{NUMBER}")

    assert optout_calls(fake) == [("POST", NUMBER)]
    body = response.json()
    assert body["opted_out"] is True
    assert body["state"]["source"] == "incoming_sms"
    assert body["state"]["keyword"] == "STOP"
    async with engine.connect() as conn:
        message_id = await conn.scalar(select(IncomingMessage.id))
    [event] = body["history"]
    assert event["action"] == "opt_out"
    assert event["source"] == "incoming_sms"
    assert event["incoming_message_id"] == message_id
    [push] = body["pushes"]
    assert push["operation"] == "optout_add"
    assert push["state"] == "delivered"
    assert push["event_id"] == event["id"]
    assert push["mobivate_status"] == 200


async def test_start_opts_back_in_and_deletes_at_mobivate(database_url: str) -> None:
    settings = optout_settings(database_url)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        sent = datetime.now(UTC).replace(microsecond=0)
        await post_accepted(
            running.client,
            "incoming",
            incoming(NUMBER, "STOP", created=sent - timedelta(seconds=1)),
        )
        await post_accepted(
            running.client, "incoming", incoming(NUMBER, "start please", created=sent)
        )

        async def both_delivered() -> bool:
            if len(optout_calls(fake)) < 2:
                return False
            state = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()
            return all(p["state"] == "delivered" for p in state["pushes"])

        await eventually(both_delivered, what="both pushes")
        body = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()

    assert optout_calls(fake) == [("POST", NUMBER), ("DELETE", NUMBER)]
    assert NUMBER not in fake.optouts
    assert body["opted_out"] is False
    assert body["state"]["keyword"] == "START"
    assert [e["action"] for e in body["history"]] == ["opt_out", "opt_in"]
    assert [p["operation"] for p in body["pushes"]] == ["optout_add", "optout_delete"]
    assert all(p["state"] == "delivered" for p in body["pushes"])


async def test_redelivered_stop_makes_one_history_entry_and_one_push(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    payload = incoming(NUMBER, "STOP")
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        first = await post_accepted(running.client, "incoming", payload)
        second = await post_accepted(running.client, "incoming", payload)

        async def delivered() -> bool:
            return [p.state for p in await pushes(engine)] == ["delivered"]

        await eventually(delivered, what="the push")
    assert first.json() == {"status": "stored"}
    assert second.json() == {"status": "duplicate"}
    assert await count_rows(engine, OptoutEvent) == 1
    assert optout_calls(fake) == [("POST", NUMBER)]


async def test_help_is_recorded_without_changing_the_state(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await post_accepted(running.client, "incoming", incoming(NUMBER, "help"))
        body = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()
        listed = (await running.client.get("/api/v1/optouts")).json()
    assert body["opted_out"] is False
    assert body["state"] is None
    assert [(e["action"], e["keyword"]) for e in body["history"]] == [("help", "HELP")]
    assert body["pushes"] == []
    assert listed["items"] == []
    assert await pushes(engine) == []
    assert optout_calls(fake) == []


async def test_messages_that_only_contain_a_keyword_record_nothing(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        for body in ("Don't stop", "stopwatch", "Stop by the shop on Friday to collect it"):
            await post_accepted(running.client, "incoming", incoming(NUMBER, body))
        missing = await running.client.get(f"/api/v1/optouts/{NUMBER}")
    assert missing.status_code == 404
    assert await count_rows(engine, IncomingMessage) == 3
    assert await count_rows(engine, OptoutEvent) == 0


async def test_configured_keywords_replace_the_defaults(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(
        database_url, optout_keywords="ARRET, STOPP", optin_keywords="", help_keywords="AIDE"
    )
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await post_accepted(running.client, "incoming", incoming("447700900001", "arret!"))
        await post_accepted(running.client, "incoming", incoming("447700900002", "STOP"))
        await post_accepted(running.client, "incoming", incoming("447700900003", "Aide"))
        await post_accepted(running.client, "incoming", incoming("447700900004", "START"))
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                select(OptoutEvent.msisdn, OptoutEvent.action, OptoutEvent.keyword).order_by(
                    OptoutEvent.msisdn
                )
            )
        ).all()
    # STOP is no longer an opt-out keyword; the opt-in list was left empty, so keeps its defaults.
    assert [tuple(event) for event in events] == [
        ("+447700900001", "opt_out", "ARRET"),
        ("+447700900003", "help", "AIDE"),
        ("+447700900004", "opt_in", "START"),
    ]


async def test_a_late_stop_does_not_undo_a_newer_start(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    now = datetime.now(UTC).replace(microsecond=0)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await post_accepted(running.client, "incoming", incoming(NUMBER, "START", created=now))
        # Mobivate delivers an earlier STOP only now.
        await post_accepted(
            running.client, "incoming", incoming(NUMBER, "STOP", created=now - timedelta(minutes=5))
        )
        await eventually(lambda: all_settled(engine), what="pushes to settle")
        body = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()
    assert body["opted_out"] is False
    assert [e["action"] for e in body["history"]] == ["opt_out", "opt_in"]
    [push] = body["pushes"]
    assert push["operation"] == "optout_delete"
    # Mobivate never had the number: both delete paths answer 404, which counts as delivered.
    assert (push["state"], push["mobivate_status"]) == ("delivered", 404)
    assert optout_calls(fake) == [("DELETE", NUMBER), ("DELETE", NUMBER)]


async def test_one_request_with_several_messages_applies_the_newest_per_number(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    now = datetime.now(UTC).replace(microsecond=0)
    batch = [
        incoming(NUMBER, "STOP", created=now - timedelta(seconds=2)),
        incoming(NUMBER, "START", created=now - timedelta(seconds=1)),
        incoming("447700900999", "UNSUBSCRIBE", created=now),
    ]
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        response = await post_accepted(running.client, "incoming", batch)
        await eventually(lambda: all_settled(engine), what="pushes to settle")
        first = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()
        second = (await running.client.get("/api/v1/optouts/447700900999")).json()
    assert response.json()["stored"] == 3
    assert first["opted_out"] is False
    assert [e["action"] for e in first["history"]] == ["opt_out", "opt_in"]
    assert second["opted_out"] is True
    assert second["state"]["keyword"] == "UNSUBSCRIBE"
    assert "447700900999" in fake.optouts
