"""What `/metrics` reports after real traffic: registrations, Mobivate calls, status transitions
and the opt-out outbox, on both backends."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.db import create_engine, utcnow
from app.core.metrics import render
from app.core.tables import OutboxMessage
from app.delivery.transitions import install_transition_counting, note_transitions
from app.fake_mobivate import FakeMobivate
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateError
from app.mobivate.vocabulary import WebhookKind
from app.ops.state_metrics import render_state_metrics
from tests.support.app import WEBHOOK_SECRET, RunningApp, start_app
from tests.support.asgi import ReverseProxy
from tests.support.bodies import incoming
from tests.support.fake import fake_mobivate
from tests.support.metrics import metric_value
from tests.support.optouts import all_settled, pushes
from tests.support.registration import API_KEY, KINDS, registration_settings, wait_until_done
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted


class Metrics:
    """Differences between two `/metrics` texts."""

    def __init__(self, before: str, after: str) -> None:
        self.before = before
        self.after = after

    def value(self, name: str, **labels: str) -> float:
        return metric_value(self.after, name, **labels)

    def delta(self, name: str, **labels: str) -> float:
        return self.value(name, **labels) - metric_value(self.before, name, **labels)

    def calls(self, operation: str, outcome: str) -> float:
        return self.delta("mobivate_calls_total", operation=operation, outcome=outcome)

    def moved(self, old: str, new: str) -> float:
        return self.delta("message_status_transitions_total", from_status=old, to_status=new)


def process_metrics() -> str:
    return render()[0].decode()


async def scrape(client: httpx.AsyncClient, before: str) -> Metrics:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return Metrics(before, response.text)


def scraped(
    client: httpx.AsyncClient, before: str, holds: Callable[[Metrics], bool]
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return holds(await scrape(client, before))

    return check


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeMobivate, ReverseProxy]]:
    proxy = ReverseProxy()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy)) as callbacks,
        fake_mobivate(api_key=API_KEY, callback_client=callbacks) as fake,
    ):
        yield fake, proxy


def traffic_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "default_originator": "Shop",
        "outbox_poll_interval_seconds": 0.05,
        "outbox_backoff_initial_seconds": 0.01,
        "outbox_backoff_max_seconds": 0.05,
    }
    values.update(overrides)
    return registration_settings(database_url, **values)


@asynccontextmanager
async def started(
    database_url: str, fake: FakeMobivate, proxy: ReverseProxy, **overrides: Any
) -> AsyncIterator[RunningApp]:
    settings = traffic_settings(database_url, **overrides)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        proxy.target = running.app
        yield running


async def test_metrics_follow_registration_sending_receipts_and_optouts(
    database_url: str, fake: tuple[FakeMobivate, ReverseProxy], engine: AsyncEngine
) -> None:
    mobivate, proxy = fake
    before = process_metrics()
    async with started(database_url, mobivate, proxy) as running:
        client = running.client
        await wait_until_done(running)

        metrics = await scrape(client, before)
        assert metrics.value("database_up") == 1
        for kind in KINDS:
            assert metrics.value("webhook_registration_registered", kind=kind) == 1
            assert metrics.value("webhook_registration_state", kind=kind, state="registered") == 1
            assert metrics.value("webhook_registration_state", kind=kind, state="failed") == 0
        assert metrics.calls("register_webhook", "ok") == 3
        assert (
            metrics.delta("mobivate_call_duration_seconds_count", operation="register_webhook") == 3
        )

        sent = await client.post("/api/v1/messages", json={"to": "447700900123", "text": "Hi"})
        assert sent.status_code == 201, sent.text
        message = mobivate.find_message(sent.json()["mobivate_id"])
        for status in ("ACCEPTED", "DELIVERED", "ACCEPTED"):  # the last one arrives late
            assert (await mobivate.send_receipt(message, status)).status_code == 200
        timeline = await client.get(f"/api/v1/messages/{sent.json()['id']}")
        assert timeline.json()["status"] == "DELIVERED"

        metrics = await scrape(client, before)
        assert metrics.calls("send_single", "ok") == 1

        assert metrics.moved("submitting", "submitted") == 1
        assert metrics.moved("submitted", "ACCEPTED") == 1
        assert metrics.moved("ACCEPTED", "DELIVERED") == 1
        assert metrics.moved("DELIVERED", "ACCEPTED") == 0
        assert metrics.delta("message_status_transitions_total") == 3

        await post_accepted(client, "incoming", incoming("447700900123", "STOP"))
        await eventually(lambda: all_settled(engine), what="the opt-out push")
        metrics = await scrape(client, before)
        assert metrics.calls("add_optout", "ok") == 1
        assert metrics.value("outbox_pending") == 0
        assert metrics.value("outbox_oldest_pending_age_seconds") == 0

        mobivate.down = True
        await post_accepted(client, "incoming", incoming("447700900124", "STOP"))

        attempted = scraped(client, before, lambda m: m.calls("add_optout", "unreachable") >= 1)
        await eventually(attempted, what="a refused connection to Mobivate")
        async with engine.begin() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == "pending")
                .values(created_at=utcnow() - timedelta(minutes=5))
            )
        metrics = await scrape(client, before)
        assert metrics.value("outbox_pending") == 1
        assert 300 <= metrics.value("outbox_oldest_pending_age_seconds") < 400

        mobivate.down = False
        await eventually(lambda: all_settled(engine), what="the push after Mobivate is back")
        assert [row.state for row in await pushes(engine)] == ["delivered", "delivered"]
        metrics = await scrape(client, before)
        assert metrics.value("outbox_pending") == 0
        assert metrics.calls("add_optout", "ok") == 2
        assert WEBHOOK_SECRET not in metrics.after
        assert API_KEY not in metrics.after
        assert "447700900123" not in metrics.after


async def test_a_refused_key_shows_as_unauthorized_registrations(
    database_url: str, fake: tuple[FakeMobivate, ReverseProxy]
) -> None:
    mobivate, proxy = fake
    before = process_metrics()
    async with started(
        database_url, mobivate, proxy, mobivate_api_key="not-the-key-0123456789"
    ) as running:
        all_unauthorized = scraped(
            running.client,
            before,
            lambda m: all(
                m.value("webhook_registration_state", kind=kind, state="unauthorized") == 1
                for kind in KINDS
            ),
        )
        await eventually(all_unauthorized, what="three unauthorized registrations")
        metrics = await scrape(running.client, before)
        for kind in KINDS:
            assert metrics.value("webhook_registration_registered", kind=kind) == 0
        refused = metrics.delta(
            "mobivate_calls_total", operation="register_webhook", outcome="unauthorized"
        )
        assert refused >= 1


async def test_scrape_answers_without_the_database() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    try:
        text = (await render_state_metrics(engine)).decode()
    finally:
        await engine.dispose()
    assert metric_value(text, "database_up") == 0
    assert "outbox_pending" not in text
    assert "webhook_registration_state" not in text


@pytest.mark.parametrize("commit", [True, False])
async def test_transitions_count_only_when_their_transaction_commits(
    engine: AsyncEngine, commit: bool
) -> None:
    install_transition_counting(engine.sync_engine)
    labels = {"from_status": "submitted", "to_status": "EXPIRED"}
    before = metric_value(process_metrics(), "message_status_transitions_total", **labels)
    async with engine.connect() as conn:
        await conn.begin()
        note_transitions(conn, [("submitted", "EXPIRED"), ("submitted", "EXPIRED")])
        note_transitions(conn, [("EXPIRED", "EXPIRED")])
        await (conn.commit() if commit else conn.rollback())
        await conn.begin()  # a later transaction on the same connection starts clean
        await conn.commit()
    after = metric_value(process_metrics(), "message_status_transitions_total", **labels)
    assert after - before == (2 if commit else 0)


async def test_unknown_status_names_share_one_label(engine: AsyncEngine) -> None:
    install_transition_counting(engine.sync_engine)
    before = process_metrics()
    async with engine.begin() as conn:
        note_transitions(conn, [("ACCEPTED", "SOMETHING_NEW_1"), ("ACCEPTED", "SOMETHING_NEW_2")])
    metrics = Metrics(before, process_metrics())
    labels = {"from_status": "ACCEPTED", "to_status": "OTHER"}
    assert metrics.delta("message_status_transitions_total", **labels) == 2
    assert "SOMETHING_NEW" not in metrics.after


def _answer(response: httpx.Response | Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("answer", "outcome", "calls"),
    [
        (httpx.Response(200, json={"message": "ok"}), "ok", 1),
        (httpx.Response(401, json={"message": "Invalid API key"}), "unauthorized", 1),
        (httpx.Response(422, json={"message": "url is invalid"}), "refused", 1),
        (httpx.Response(403, json={"message": "Recipient opted out"}), "opted_out", 1),
        (httpx.Response(503, text="busy"), "unavailable", 3),
        (httpx.Response(200, text="<html>"), "bad_response", 3),
        (httpx.ConnectError("refused"), "unreachable", 3),
        (httpx.ReadTimeout("slow"), "timeout", 3),
    ],
)
async def test_every_mobivate_call_is_observed_with_its_outcome(
    answer: httpx.Response | Exception, outcome: str, calls: int
) -> None:
    seen: list[tuple[str, str, float]] = []
    async with httpx.AsyncClient(transport=_answer(answer)) as http:
        client = MobivateClient(
            http,
            base_url="https://mobivate.test/v1",
            api_key=SecretStr(API_KEY),
            retry_attempts=3,
            retry_wait_seconds=0.001,
            on_call=lambda *call: seen.append(call),
        )
        try:
            await client.register_webhook(WebhookKind.RECEIPT, "https://hooks.example/x")
        except MobivateError:
            assert outcome != "ok"
    assert [(operation, result) for operation, result, _ in seen] == [
        ("register_webhook", outcome)
    ] * calls
    assert all(seconds >= 0 for _, _, seconds in seen)
