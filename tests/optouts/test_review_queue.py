"""The review queue, on both backends: a reply that holds an opt-out keyword but is not confidently
an opt-out waits for an operator, who opts the number out or dismisses it in one call."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import OptoutReview
from app.fake_mobivate import FakeMobivate
from tests.support.app import RunningApp, start_app
from tests.support.bodies import incoming
from tests.support.fake import fake_mobivate, optout_calls
from tests.support.metrics import metric_value
from tests.support.optouts import all_settled, optout_settings, pushes
from tests.support.rows import count_rows
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"
REVIEW = "/api/v1/optouts/review"


@dataclass
class Service:
    running: RunningApp
    fake: FakeMobivate

    @property
    def client(self) -> httpx.AsyncClient:
        return self.running.client

    async def reply(self, body: str, message_id: str, *, minutes_ago: float = 0) -> None:
        created = utcnow() - timedelta(minutes=minutes_ago)
        message = incoming(NUMBER, body, message_id=message_id, created=created)
        await post_accepted(self.client, "incoming", message)

    async def pending(self) -> list[dict[str, Any]]:
        response = await self.client.get(REVIEW)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        yield Service(running, fake)


async def test_an_unclear_reply_waits_in_the_queue_and_changes_nothing(
    service: Service, engine: AsyncEngine
) -> None:
    await service.reply("stop the deals", "1C9A658F0A931B317B6A53BB42EC3571")
    await service.reply("stop the deals", "1C9A658F0A931B317B6A53BB42EC3571")  # redelivered
    await service.reply("don't stop the deals", "1C9A658F0A931B317B6A53BB42EC3572")

    [item] = await service.pending()
    assert (item["msisdn"], item["body"], item["keyword"], item["state"]) == (
        f"+{NUMBER}",
        "stop the deals",
        "STOP",
        "pending",
    )
    assert item["decided_at"] is None
    assert (await service.client.get(f"/api/v1/optouts/{NUMBER}")).status_code == 404
    assert await pushes(engine) == []
    metrics = (await service.client.get("/metrics")).text
    assert metric_value(metrics, "optout_reviews_pending") == 1


async def test_opting_out_from_the_queue_records_the_reply_and_pushes_it(
    service: Service, engine: AsyncEngine
) -> None:
    await service.reply("please stop the deals", "1C9A658F0A931B317B6A53BB42EC3571", minutes_ago=3)
    [item] = await service.pending()

    response = await service.client.post(
        f"{REVIEW}/{item['id']}", json={"decision": "opt_out", "reason": "reads as stop"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opted_out"] is True
    assert body["review"]["state"] == "opted_out"
    assert body["review"]["reason"] == "reads as stop"
    number = (await service.client.get(f"/api/v1/optouts/{NUMBER}")).json()
    [event] = number["history"]
    assert (event["action"], event["source"], event["keyword"]) == (
        "opt_out",
        "incoming_sms",
        "STOP",
    )
    assert event["reason"] == "confirmed from the review queue: reads as stop"
    assert event["event_at"] == item["occurred_at"]
    assert event["incoming_message_id"] == item["incoming_message_id"]
    await eventually(lambda: all_settled(engine), what="the push was delivered")
    assert optout_calls(service.fake) == [("POST", NUMBER)]
    assert await service.pending() == []
    decided = (await service.client.get(REVIEW, params={"state": "opted_out"})).json()["items"]
    assert [entry["id"] for entry in decided] == [item["id"]]
    metrics = (await service.client.get("/metrics")).text
    assert metric_value(metrics, "optout_reviews_pending") == 0


async def test_dismissing_records_nothing_and_a_second_decision_is_refused(
    service: Service, engine: AsyncEngine
) -> None:
    await service.reply("cancel my appointment", "1C9A658F0A931B317B6A53BB42EC3571")
    [item] = await service.pending()

    dismissed = await service.client.post(f"{REVIEW}/{item['id']}", json={"decision": "dismiss"})
    again = await service.client.post(f"{REVIEW}/{item['id']}", json={"decision": "opt_out"})

    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["opted_out"] is False
    assert dismissed.json()["review"]["state"] == "dismissed"
    assert again.status_code == 409
    assert "already decided (dismissed" in again.json()["detail"]
    assert (await service.client.get(f"/api/v1/optouts/{NUMBER}")).status_code == 404
    assert await pushes(engine) == []


async def test_a_start_sent_after_the_reply_still_wins_over_the_decision(
    service: Service,
) -> None:
    await service.reply("stop the deals", "1C9A658F0A931B317B6A53BB42EC3571", minutes_ago=10)
    await service.reply("START", "1C9A658F0A931B317B6A53BB42EC3572", minutes_ago=5)
    [item] = await service.pending()

    response = await service.client.post(f"{REVIEW}/{item['id']}", json={"decision": "opt_out"})

    assert response.status_code == 200, response.text
    assert response.json()["opted_out"] is False
    history = (await service.client.get(f"/api/v1/optouts/{NUMBER}")).json()["history"]
    # Oldest first: the reply, then the START that still decides the state.
    assert [entry["action"] for entry in history] == ["opt_out", "opt_in"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        (f"{REVIEW}/999", {"decision": "opt_out"}, 404, "no reply with id 999"),
        (f"{REVIEW}/1", {"decision": "delete"}, 422, "decision"),
        (f"{REVIEW}/1", {}, 422, "decision"),
        (f"{REVIEW}/1", {"decision": "dismiss", "extra": 1}, 422, "extra"),
        (f"{REVIEW}/0", {"decision": "dismiss"}, 422, "review_id"),
        (f"{REVIEW}/{2**63}", {"decision": "dismiss"}, 422, "review_id"),
        (f"{REVIEW}/abc", {"decision": "dismiss"}, 422, "review_id"),
        (f"{REVIEW}/1", {"decision": "dismiss", "reason": "x" * 1001}, 422, "reason"),
    ],
)
async def test_bad_decisions_get_4xx_saying_what_was_wrong(
    service: Service, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    response = await service.client.post(path, json=body)
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])


async def test_the_review_list_is_not_taken_for_a_number_and_checks_its_filters(
    service: Service, engine: AsyncEngine
) -> None:
    for index in range(3):
        await service.reply(f"stop the deals {index}x", f"1C9A658F0A931B317B6A53BB42EC357{index}")

    first = await service.client.get(REVIEW, params={"limit": 2})
    rest = await service.client.get(REVIEW, params={"cursor": first.json()["next_cursor"]})
    every = await service.client.get(REVIEW, params={"state": "all", "format": "csv"})
    wrong = await service.client.get(REVIEW, params={"state": "open"})

    assert [item["body"] for item in first.json()["items"]] == [
        "stop the deals 2x",
        "stop the deals 1x",
    ]
    assert [item["body"] for item in rest.json()["items"]] == ["stop the deals 0x"]
    assert rest.json()["next_cursor"] is None
    assert every.headers["content-type"].startswith("text/csv")
    assert every.text.count("stop the deals") == 3
    assert wrong.status_code == 422
    assert await count_rows(engine, OptoutReview) == 3
