"""Time you can trust: an event time far ahead of its receipt does not outrank later changes, an
operator's change takes effect at once, and two changes in the same second leave the number
opted out."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.optouts.registry import OptoutChange, record_changes
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.webhooks import post_incoming

NUMBER = "+447700900123"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def detail(harness: Harness) -> dict[str, Any]:
    response = await harness.client.get(f"/api/v1/optouts/{NUMBER}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_future_dated_opt_in_does_not_outrank_a_later_stop(harness: Harness) -> None:
    sent_at = now()
    await post_incoming(harness.client, "IN-START", NUMBER, "START", sent_at + timedelta(days=3))
    state = await detail(harness)
    [start] = state["history"]
    received = datetime.fromisoformat(start["recorded_at"])
    # Ordered by its receipt time, and the history says why.
    assert abs(datetime.fromisoformat(start["event_at"]) - received) < timedelta(seconds=5)
    claimed = (sent_at + timedelta(days=3)).isoformat()
    assert start["reason"].startswith(f"event time {claimed} was 2 d 23 h ahead of its receipt")
    assert start["reason"].endswith("; ordered by the receipt time")

    await post_incoming(harness.client, "IN-STOP", NUMBER, "STOP", now() + timedelta(seconds=2))
    state = await detail(harness)
    assert state["opted_out"] is True
    refused = await harness.send(to=NUMBER)
    assert refused.status_code == 409, refused.text
    assert harness.calls("/send/single") == []


async def test_an_event_within_the_tolerance_keeps_its_own_time(database_url: str) -> None:
    settings = sending_settings(database_url, event_time_tolerance_seconds=600)
    async with start_harness(settings) as harness:
        ahead = now() + timedelta(minutes=9)
        await post_incoming(harness.client, "IN-STOP", NUMBER, "STOP", ahead)
        [stop] = (await detail(harness))["history"]
    assert datetime.fromisoformat(stop["event_at"]) == ahead
    assert stop["reason"] is None


@pytest.mark.parametrize("source", ["operator", "api"])
async def test_an_operator_opt_out_takes_effect_after_a_future_dated_event(
    harness: Harness, engine: AsyncEngine, source: str
) -> None:
    # Stored by an older version or an import: an opt-in dated a year ahead.
    async with engine.begin() as conn:
        await record_changes(
            conn, [OptoutChange(NUMBER, "opt_in", "imported", now() + timedelta(days=365))]
        )
    response = await harness.client.post(
        "/api/v1/optouts", json={"msisdn": "+44 7700 900123", "source": source}
    )
    assert response.status_code == 201, response.text
    assert response.json()["opted_out"] is True
    assert response.json()["state"]["source"] == source
    assert [entry["action"] for entry in response.json()["history"]] == ["opt_out", "opt_in"]
    assert (await harness.send(to=NUMBER)).status_code == 409

    back_in = await harness.client.delete(f"/api/v1/optouts/{NUMBER}")
    assert back_in.json()["opted_out"] is False
    again = await harness.client.post("/api/v1/optouts", json={"msisdn": NUMBER})
    assert again.json()["opted_out"] is True
    assert harness.calls("/send/single") == []


@pytest.mark.parametrize("order", [("STOP", "START"), ("START", "STOP")])
async def test_a_stop_and_a_start_in_the_same_second_leave_the_number_opted_out(
    harness: Harness, order: tuple[str, str]
) -> None:
    second = now()
    for index, word in enumerate(order):
        await post_incoming(harness.client, f"IN-{index}", NUMBER, word, second)
    state = await detail(harness)
    assert state["opted_out"] is True
    assert [entry["keyword"] for entry in state["history"]] == list(order)
    # A START one second later is newer: it opts back in.
    await post_incoming(harness.client, "IN-LATER", NUMBER, "START", second + timedelta(seconds=1))
    assert (await detail(harness))["opted_out"] is False
