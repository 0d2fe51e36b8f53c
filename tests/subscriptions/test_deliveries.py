"""Events reach subscribers over real HTTP, signed per Standard Webhooks: at least once, across
a crash and between replicas once each, retried, replayed, and a failing subscriber disabled."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.core.db import create_engine
from app.core.tables import SUBSCRIPTION_DELIVERIES
from tests.support.app import RunningApp, make_settings, start_app
from tests.support.bodies import incoming
from tests.support.harness import sending_settings, start_harness
from tests.support.receiver import Receiver, receiving
from tests.support.waiting import eventually
from tests.support.webhooks import post_stored

FAST: dict[str, Any] = {
    "subscription_allow_private": True,
    "subscription_backoff_initial_seconds": 0.05,
    "subscription_backoff_max_seconds": 0.2,
    "subscription_poll_interval_seconds": 0.05,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    async with start_app(make_settings(database_url, **FAST)) as running:
        yield running


async def subscribe(running: RunningApp, url: str, *types: str, **extra: Any) -> dict[str, Any]:
    response = await running.client.post(
        "/api/v1/subscriptions", json={"url": url, "event_types": list(types), **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def arrived(receiver: Receiver, count: int) -> None:
    async def enough() -> bool:
        return len(receiver.received) >= count

    await eventually(enough, within=20, what=f"{count} deliveries")


async def test_an_event_arrives_signed_and_carries_the_rest_item(
    running: RunningApp, receiver: Receiver
) -> None:
    subscription = await subscribe(running, receiver.url, "incoming")
    assert subscription["secret"].startswith("whsec_")
    await post_stored(running.client, "incoming", incoming("447700900123", "Hello there"))
    await arrived(receiver, 1)
    [request] = receiver.received
    payload = Webhook(subscription["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "incoming"
    [item] = (await running.client.get("/api/v1/incoming")).json()["items"]
    assert payload["data"] == item
    assert request.headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)
    tampered = request.body.replace(b"Hello there", b"Hello thera")
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription["secret"]).verify(tampered, request.headers)


async def test_only_the_event_types_and_originator_asked_for_arrive(
    running: RunningApp, receiver: Receiver
) -> None:
    await subscribe(running, receiver.url, "optout.changed")
    await subscribe(running, receiver.url + "?only=shop", "incoming", originator="SHOP")
    await post_stored(running.client, "incoming", incoming("447700900123", "hi", recipient="12345"))
    await post_stored(running.client, "incoming", incoming("447700900124", "yo", recipient="SHOP"))
    opted = await running.client.post("/api/v1/optouts", json={"msisdn": "+447700900125"})
    assert opted.status_code == 201
    await arrived(receiver, 2)
    bodies = sorted((r.json() for r in receiver.received), key=lambda body: body["type"])
    assert [body["type"] for body in bodies] == ["incoming", "optout.changed"]
    assert bodies[0]["data"]["body"] == "yo"
    assert bodies[1]["data"]["msisdn"] == "+447700900125"
    assert bodies[1]["data"]["change"]["action"] == "opt_out"


async def test_a_receiver_answering_500_gets_retries_then_the_delivery(
    running: RunningApp, receiver: Receiver
) -> None:
    receiver.script = [500, 503]
    subscription = await subscribe(running, receiver.url, "incoming")
    await post_stored(running.client, "incoming", incoming("447700900123", "again"))
    await arrived(receiver, 3)
    assert len(set(receiver.ids())) == 1
    path = f"/api/v1/subscriptions/{subscription['id']}"

    async def attempts() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await running.client.get(f"{path}/attempts")).json()["items"]
        return items if len(items) == 3 else []

    listed = await eventually(attempts, what="three attempts recorded")
    assert [(a["outcome"], a["status_code"]) for a in listed] == [
        ("delivered", 200),
        ("retry", 503),
        ("retry", 500),
    ]
    assert listed[2]["response_excerpt"] == "answered 500"
    assert all(a["latency_ms"] >= 0 for a in listed)
    [delivery] = (await running.client.get(f"{path}/deliveries")).json()["items"]
    assert delivery["state"] == "delivered"
    assert delivery["attempts"] == 3


async def test_a_failing_subscription_is_disabled_with_its_reason(
    database_url: str, receiver: Receiver
) -> None:
    receiver.always = 500
    settings = make_settings(database_url, **FAST, subscription_retry_hours=0.0003)
    async with start_app(settings) as running:
        subscription = await subscribe(running, receiver.url, "incoming")
        await post_stored(running.client, "incoming", incoming("447700900123", "x"))
        path = f"/api/v1/subscriptions/{subscription['id']}"

        async def disabled() -> dict[str, Any] | None:
            body: dict[str, Any] = (await running.client.get(path)).json()
            return None if body["enabled"] else body

        shown = await eventually(disabled, within=20, what="the subscription disabled")
        assert shown is not None
        assert "HTTP 500" in shown["disabled_reason"]
        assert shown["disabled_at"] is not None
        [delivery] = (await running.client.get(f"{path}/deliveries")).json()["items"]
        assert delivery["state"] == "failed"
        # While disabled, new events wait; enabling it again sends them.
        count = len(receiver.received)
        await post_stored(running.client, "incoming", incoming("447700900123", "later"))
        receiver.always = None
        enabled = await running.client.patch(path, json={"enabled": True})
        assert enabled.json()["enabled"] is True
        assert enabled.json()["disabled_reason"] is None
        await arrived(receiver, count + 1)
        assert receiver.received[-1].json()["data"]["body"] == "later"


async def test_an_acknowledged_event_is_delivered_after_a_crash(
    database_url: str, receiver: Receiver
) -> None:
    settings = make_settings(database_url, **FAST)
    async with start_app(settings) as first:
        await subscribe(first, receiver.url, "incoming")
        # The process dies after acknowledging the webhook, before its worker sends anything.
        await first.runtime.subscriptions.stop()
        await post_stored(first.client, "incoming", incoming("447700900123", "kept"))
    assert receiver.received == []
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            states = (await conn.scalars(select(SUBSCRIPTION_DELIVERIES.c.state))).all()
    finally:
        await engine.dispose()
    assert states == ["pending"]
    async with start_app(settings):
        await arrived(receiver, 1)
    assert receiver.received[0].json()["data"]["body"] == "kept"


async def test_two_replicas_deliver_each_event_once(database_url: str, receiver: Receiver) -> None:
    settings = make_settings(database_url, **FAST)
    async with start_app(settings) as first, start_app(settings) as second:
        await subscribe(first, receiver.url, "incoming", "click")
        for number in range(20):
            replica = first if number % 2 else second
            body = incoming(f"4477009001{number:02d}", f"message {number}")
            await post_stored(replica.client, "incoming", body)
        await arrived(receiver, 20)
        await _settled(first)
    assert len(receiver.received) == 20
    assert len(set(receiver.ids())) == 20


async def _settled(running: RunningApp) -> None:
    async def none_pending() -> bool:
        [subscription] = (await running.client.get("/api/v1/subscriptions")).json()
        path = f"/api/v1/subscriptions/{subscription['id']}/deliveries"
        pending = (await running.client.get(path, params={"state": "pending"})).json()["items"]
        return not pending

    await eventually(none_pending, what="every delivery settled")


async def test_replay_sends_the_deliveries_since_a_time_again(
    running: RunningApp, receiver: Receiver
) -> None:
    subscription = await subscribe(running, receiver.url, "incoming")
    await post_stored(running.client, "incoming", incoming("447700900123", "one"))
    await arrived(receiver, 1)
    path = f"/api/v1/subscriptions/{subscription['id']}/replay"
    future = datetime.now(UTC) + timedelta(hours=1)
    nothing = await running.client.post(path, json={"since": future.isoformat()})
    assert nothing.json() == {"queued": 0}
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    replayed = await running.client.post(path, json={"since": since})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"queued": 1}
    await arrived(receiver, 2)
    first, again = receiver.received
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.json()["data"] == first.json()["data"]
    Webhook(subscription["secret"]).verify(again.body, again.headers)


async def test_after_a_rotation_both_secrets_verify_until_the_overlap_ends(
    running: RunningApp, receiver: Receiver
) -> None:
    subscription = await subscribe(running, receiver.url, "incoming")
    path = f"/api/v1/subscriptions/{subscription['id']}/secret"
    rotated = (await running.client.post(path, json={"overlap_hours": 1})).json()
    assert rotated["secret"] != subscription["secret"]
    await post_stored(running.client, "incoming", incoming("447700900123", "both"))
    await arrived(receiver, 1)
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (subscription["secret"], rotated["secret"]):
        Webhook(secret).verify(request.body, request.headers)
    ended = (await running.client.post(path, json={"overlap_hours": 0})).json()
    await post_stored(running.client, "incoming", incoming("447700900123", "one only"))
    await arrived(receiver, 2)
    latest = receiver.received[-1]
    assert len(latest.headers["webhook-signature"].split(" ")) == 1
    Webhook(ended["secret"]).verify(latest.body, latest.headers)


async def test_a_private_target_is_refused_unless_allowed(database_url: str) -> None:
    async with start_app(make_settings(database_url)) as running:
        for url in (
            "http://127.0.0.1:9/hooks",
            "http://localhost/hooks",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
        ):
            response = await running.client.post(
                "/api/v1/subscriptions", json={"url": url, "event_types": ["incoming"]}
            )
            assert response.status_code == 422, (url, response.text)
            assert "SUBSCRIPTION_ALLOW_PRIVATE" in response.json()["detail"], url
        listed = await running.client.get("/api/v1/subscriptions")
        assert listed.json() == []


async def test_a_redirect_is_not_followed(running: RunningApp, receiver: Receiver) -> None:
    receiver.always = 307
    subscription = await subscribe(running, receiver.url, "incoming")
    await post_stored(running.client, "incoming", incoming("447700900123", "moved"))
    await arrived(receiver, 1)
    path = f"/api/v1/subscriptions/{subscription['id']}/attempts"

    async def attempt() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await running.client.get(path)).json()["items"]
        return items

    listed = await eventually(attempt, what="an attempt recorded")
    assert listed[-1]["outcome"] == "retry"
    assert listed[-1]["status_code"] == 307


async def test_a_sent_message_announces_each_status_change(
    database_url: str, receiver: Receiver
) -> None:
    settings = sending_settings(database_url, **FAST)
    async with start_harness(settings) as harness:
        subscription = await subscribe(harness.running, receiver.url, "message.status")
        sent = await harness.send(to="+447700900123", text="Your order shipped")
        assert sent.status_code == 201, sent.text
        await harness.fake.deliver_receipts()

        async def delivered() -> list[dict[str, Any]]:
            bodies = [request.json() for request in receiver.received]
            final = [b for b in bodies if b["data"]["change"]["status"] == "DELIVERED"]
            return bodies if final else []

        await eventually(delivered, what="the DELIVERED change announced")
        await arrived(receiver, 4)
        bodies = [request.json() for request in receiver.received]
        secret = subscription["secret"]
        for request in receiver.received:
            Webhook(secret).verify(request.body, request.headers)
        changes = [
            (b["data"]["change"]["previous_status"], b["data"]["change"]["status"]) for b in bodies
        ]
        assert sorted(changes, key=str) == [
            ("ACCEPTED", "DELIVERED"),
            ("submitted", "ACCEPTED"),
            ("submitting", "submitted"),
            (None, "submitting"),
        ]
        assert all(b["type"] == "message.status" for b in bodies)
        assert all(b["data"]["id"] == sent.json()["id"] for b in bodies)
        assert all(b["data"]["to"] == "+447700900123" for b in bodies)


async def test_a_flood_of_an_answer_is_cut_to_its_excerpt(
    running: RunningApp, receiver: Receiver
) -> None:
    receiver.answer_bytes = 64 * 1024 * 1024
    subscription = await subscribe(running, receiver.url, "incoming")
    await post_stored(running.client, "incoming", incoming("447700900123", "flood"))
    path = f"/api/v1/subscriptions/{subscription['id']}/attempts"

    async def attempt() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await running.client.get(path)).json()["items"]
        return items

    [listed] = await eventually(attempt, what="the attempt recorded")
    assert listed["outcome"] == "delivered"
    assert listed["response_excerpt"] == "x" * 500
