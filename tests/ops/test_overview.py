"""`GET /api/v1/overview`, what the ops page shows first, and the gauges behind the alerts:
readiness, registrations, the opt-out outbox, the spool and the messages in flight."""

from tests.support.app import RunningApp, client_from
from tests.support.harness import Harness, send_message
from tests.support.metrics import metric_value


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
