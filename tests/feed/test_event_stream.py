"""The live feed: events stored through the webhooks arrive as Server-Sent Events, in id order,
and a client reconnecting with Last-Event-ID gets exactly what it missed."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import utcnow
from app.core.tables import FEED_EVENTS as FEED
from app.feed.entries import append, entry
from app.feed.watch import FeedWatcher
from tests.support.bodies import at
from tests.support.harness import Harness, send_message, sending_settings, start_harness
from tests.support.sse import Event, open_stream
from tests.support.webhooks import post_click, post_incoming, post_receipt

A = "447700900111"


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    overrides = {"event_stream_keepalive_seconds": 0.2, "event_stream_poll_seconds": 0.05}
    async with start_harness(sending_settings(database_url, **overrides)) as harness:
        yield harness


async def test_webhook_events_arrive_live_and_resume_after_last_event_id(
    harness: Harness,
) -> None:
    app, client = harness.running.app, harness.client
    await post_receipt(client, "OLD-1", "DELIVERED", 1, at(0))
    async with open_stream(app) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        await post_receipt(client, "MSG-1", "DELIVERED", 1, at(1), reference="r1")
        await post_incoming(client, "IN-1", A, "Thanks", at(2))
        await post_click(client, A, "MSG-1")
        events = await stream.events(3)
        await stream.nothing_more()
    # The receipt stored before the stream opened is not replayed.
    assert [e.event for e in events] == ["receipt", "incoming", "click"]
    ids = [e.id for e in events]
    assert ids == sorted(ids)
    assert [e.data["id"] for e in events] == ids
    receipt = events[0].data["data"]
    assert receipt["status"] == "DELIVERED"
    assert receipt["mobivate_id"] == "MSG1"
    assert receipt["reference"] == "r1"
    assert events[1].data["data"]["body"] == "Thanks"
    assert events[2].data["data"]["msisdn"] == "+" + A

    # Missed while disconnected: two more; resuming after the click gets those two only.
    await post_receipt(client, "MSG-2", "ACCEPTED", 2, at(3))
    await post_incoming(client, "IN-2", A, "Hello again", at(4))
    async with open_stream(app, headers={"Last-Event-ID": str(ids[-1])}) as stream:
        missed = await stream.events(2)
        await stream.nothing_more()
    assert [e.event for e in missed] == ["receipt", "incoming"]
    assert min(e.id for e in missed) > ids[-1]

    # Resuming from the first event replays everything after it, once.
    async with open_stream(app, params={"last_event_id": ids[0]}) as stream:
        replay = await stream.events(4)
        await stream.nothing_more()
    assert [e.id for e in replay] == [*ids[1:], *(e.id for e in missed)]


async def test_stream_filters(harness: Harness) -> None:
    app, client = harness.running.app, harness.client
    params = {"kind": ["incoming", "click"], "msisdn": "+44 7700 900111"}
    async with open_stream(app, params=params) as stream:
        await post_receipt(client, "MSG-1", "DELIVERED", 1, at(1))
        await post_incoming(client, "IN-1", "447700900999", "Other", at(2))
        await post_incoming(client, "IN-2", A, "Mine", at(3))
        await post_click(client, A, "MSG-1")
        events = await stream.events(2)
        await stream.nothing_more()
    assert [e.event for e in events] == ["incoming", "click"]
    assert events[0].data["data"]["body"] == "Mine"

    async with open_stream(app, params={"mobivate_id": "msg-1", "last_event_id": 0}) as stream:
        events = await stream.events(2)
        await stream.nothing_more()
    assert [e.event for e in events] == ["receipt", "click"]


async def test_idle_stream_gets_keep_alive_comments(harness: Harness) -> None:
    async with open_stream(harness.running.app) as stream:
        comment = await stream.next_comment(2)
    assert comment.comment == "keep-alive"
    assert stream.body.startswith("retry: ")


@pytest.mark.parametrize(
    ("params", "headers", "name"),
    [
        ({"kind": "sms"}, {}, "kind"),
        ({"msisdn": "nope"}, {}, "msisdn"),
        ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
    ],
)
async def test_invalid_stream_parameters_get_422(
    harness: Harness, params: dict[str, str], headers: dict[str, str], name: str
) -> None:
    response = await harness.client.get("/api/v1/events/stream", params=params, headers=headers)
    assert response.status_code == 422
    assert name in response.text


async def _open_writer(harness: Harness, ref_id: int) -> tuple[AsyncConnection, int]:
    """A transaction that has appended a feed entry and not committed yet."""
    conn = await harness.engine.connect()
    await conn.begin()
    await append(conn, [entry("status", ref_id, {"status": "DELIVERED"}, now=utcnow())])
    new_id = await conn.scalar(select(func.max(FEED.c.id)))
    return conn, int(new_id)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_an_id_is_never_served_while_a_smaller_one_can_still_commit(
    harness: Harness, backend: str, outcome: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    # The slow writer commits (or rolls back) last, though it took the smaller id.
    watcher: FeedWatcher = harness.running.runtime.feed
    async with open_stream(harness.running.app, params={"kind": "status"}) as stream:
        slow, first = await _open_writer(harness, 1)
        fast, second = await _open_writer(harness, 2)
        assert first < second
        await fast.commit()
        await fast.close()
        await watcher.refresh()
        assert watcher.horizon < first
        await stream.nothing_more()
        await getattr(slow, outcome)()
        await slow.close()
        events = await stream.events(2 if outcome == "commit" else 1)
        await stream.nothing_more()
    expected = [first, second] if outcome == "commit" else [second]
    assert [e.id for e in events] == expected
    assert watcher.horizon == second


async def test_opt_outs_and_opt_ins_arrive_once_each(harness: Harness) -> None:
    app, client = harness.running.app, harness.client
    async with open_stream(app, params={"kind": "optout"}) as stream:
        await post_incoming(client, "IN-STOP", A, "STOP", at(1))
        with pytest.raises(AssertionError, match="duplicate"):  # redelivered: nothing new
            await post_incoming(client, "IN-STOP", A, "STOP", at(1))
        response = await client.delete(f"/api/v1/optouts/{A}")
        assert response.status_code == 200, response.text
        await post_incoming(client, "IN-HELP", A, "HELP", at(2))  # recorded, not an opt-out
        events = await stream.events(2)
        await stream.nothing_more()
    assert [e.data["data"]["action"] for e in events] == ["opt_out", "opt_in"]
    assert [e.data["data"]["source"] for e in events] == ["incoming_sms", "api"]
    assert all(e.data["data"]["msisdn"] == "+" + A for e in events)


async def test_status_changes_of_sent_messages_arrive(harness: Harness) -> None:
    app, client = harness.running.app, harness.client
    async with open_stream(app, params={"kind": "status", "msisdn": A}) as stream:
        sent = await send_message(harness, "+" + A, "ref-live")
        await post_receipt(client, sent["mobivate_id"], "ACCEPTED", 2, at(1))
        await post_receipt(client, sent["mobivate_id"], "DELIVERED", 1, at(2))
        await post_receipt(client, sent["mobivate_id"], "ACCEPTED", 2, at(1.5))  # late: no change
        events: list[Event] = []
        while not events or events[-1].data["data"]["status"] != "DELIVERED":
            events.append(await stream.next())
        await stream.nothing_more()
    statuses = [e.data["data"]["status"] for e in events]
    assert statuses[-2:] == ["ACCEPTED", "DELIVERED"]
    assert statuses[0] in ("submitting", "submitted")
    last = events[-1].data["data"]
    assert last["id"] == sent["id"]
    assert last["previous_status"] == "ACCEPTED"
    assert last["final"] is True
    assert last["delivered_at"].startswith("2026-11-20T12:02:00")
    assert last["reference"] == "ref-live"
    assert [e.id for e in events] == sorted(e.id for e in events)
