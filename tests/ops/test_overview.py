"""`GET /api/v1/overview`, what the ops page shows first, and the gauges behind the alerts:
readiness, registrations, the opt-out outbox, the spool, the messages in flight and the batches
being sent."""

import asyncio

import httpx

from app.fake_mobivate import FakeMobivate
from tests.support.app import RunningApp, client_from
from tests.support.harness import Harness, send_message, sending_settings, start_harness
from tests.support.metrics import metric_value
from tests.support.waiting import eventually


async def test_the_overview_shows_the_outbox_waiting_for_mobivate(running: RunningApp) -> None:
    # No MOBIVATE_API_KEY here: the opt-out waits in the outbox.
    response = await running.client.post("/api/v1/optouts", json={"msisdn": "+447700900123"})
    assert response.status_code == 201, response.text
    overview = (await running.client.get("/api/v1/overview")).json()
    assert (overview["status"], overview["ready"]) == ("ready", True)
    assert overview["checks"] == {"database": "ok", "schema": "ok"}
    assert overview["spool"]["entries"] == 0
    assert overview["outbox"]["pending"] == 1
    assert overview["outbox"]["failed"] == 0
    assert overview["outbox"]["oldest_pending_at"].endswith("Z")
    assert overview["outbox"]["oldest_pending_age_seconds"] >= 0
    assert [r["kind"] for r in overview["registrations"]["registrations"]] == [
        "receipt",
        "incoming",
        "click",
    ]
    assert overview["messages_in_flight"] == 0
    metrics = (await running.client.get("/metrics")).text
    assert metric_value(metrics, "outbox_pending") == 1
    assert metric_value(metrics, "optouts_opted_out") == 1


async def test_messages_waiting_for_receipts_are_in_flight(harness: Harness) -> None:
    await send_message(harness, "+447700900123", "r-1")
    overview = (await harness.client.get("/api/v1/overview")).json()
    assert overview["messages_in_flight"] == 1
    metrics = (await harness.client.get("/metrics")).text
    assert metric_value(metrics, "messages_in_flight") == 1


async def test_the_overview_needs_the_token(running: RunningApp) -> None:
    async with client_from(running.app, "203.0.113.9") as anonymous:
        response = await anonymous.get("/api/v1/overview")
    assert response.status_code == 401


class HeldCalls(httpx.AsyncBaseTransport):
    """Batch calls wait until the test lets them go."""

    def __init__(self, fake: FakeMobivate) -> None:
        self._inner = fake.transport()
        self.go = asyncio.Event()
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/send/batch":
            self.calls += 1
            await self.go.wait()
        return await self._inner.handle_async_request(request)


async def test_a_batch_being_sent_shows_with_its_progress_until_it_settles(
    database_url: str,
) -> None:
    held: list[HeldCalls] = []

    def hold(fake: FakeMobivate) -> HeldCalls:
        held.append(HeldCalls(fake))
        return held[0]

    settings = sending_settings(database_url, batch_chunk_size=2)
    async with start_harness(settings, wrap=hold) as harness:
        messages = [{"to": f"+4477009000{i:02d}", "text": "x"} for i in range(5)]
        response = await harness.client.post(
            "/api/v1/batches", json={"name": "Spring", "messages": messages}
        )
        assert response.status_code == 202, response.text

        async def calling() -> bool:
            return held[0].calls >= 1

        await eventually(calling, what="the first call")

        async def planned() -> list[dict[str, object]]:
            sending = (await harness.client.get("/api/v1/overview")).json()["batches_sending"]
            return [batch for batch in sending if batch["total"] is not None]

        during = await eventually(planned, what="the batch planned while its calls wait")
        held[0].go.set()
        await harness.settled_batch(response.json()["id"])
        after = (await harness.client.get("/api/v1/overview")).json()["batches_sending"]

    [batch] = during
    assert (batch["id"], batch["name"], batch["state"]) == (
        response.json()["id"],
        "Spring",
        "submitting",
    )
    assert (batch["requested"], batch["checked"], batch["total"]) == (5, 5, 5)
    assert (batch["submitted"], batch["not_submitted"]) == (0, 0)
    assert after == []
