"""Sending a campaign: queued at once, then validation, opt-outs and duplicates left out and
calls of at most 1,000 in the background."""

from typing import Any

import httpx
import pytest

from app.core.tables import OutboundMessage
from app.fake_mobivate import FakeMobivate
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows


def number(i: int) -> str:
    return f"4477009{i:05d}"


async def post_batch(
    harness: Harness, messages: list[dict[str, Any]], **fields: Any
) -> httpx.Response:
    return await harness.client.post("/api/v1/batches", json={"messages": messages, **fields})


async def test_batch_of_2500_is_sent_in_three_calls_with_opted_out_recipients_reported(
    harness: Harness,
) -> None:
    await harness.opt_out(number(10), number(1500), number(2499))
    messages: list[dict[str, Any]] = [
        {"to": "+" + number(i), "text": f"Offer {i}"} for i in range(2500)
    ]
    messages[7] = {"to": "07700 900123", "text": "national number"}
    body = await harness.send_batch(messages, name="Spring", originator="Brand")

    calls = harness.calls("/send/batch")
    assert [len(c.json["recipients"]) for c in calls] == [1000, 1000, 496]
    sent = [item for call in calls for item in call.json["recipients"]]
    assert {item["originator"] for item in sent} == {"Brand"}
    assert all(
        call.json["name"] == "Spring" and call.json["routeId"] == "mglobal" for call in calls
    )
    references = [item["reference"] for item in sent]
    assert len(set(references)) == 2496
    sent_numbers = {item["recipient"] for item in sent}
    assert number(10) not in sent_numbers
    assert number(1500) not in sent_numbers

    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (7, "invalid"),
        (10, "opted_out"),
        (1500, "opted_out"),
        (2499, "opted_out"),
    ]
    assert "asked by phone" in body["skipped"][1]["detail"]
    assert "national form" in body["skipped"][0]["detail"]
    assert body["state"] == "submitted"
    assert body["requested"] == 2500
    assert body["accepted"] == 2496
    assert body["counts"] == {"submitted": 2496}
    assert body["progress"] == {
        "checked": 2500,
        "total": 2496,
        "submitted": 2496,
        "not_submitted": 0,
    }
    assert len(body["mobivate_batch_ids"]) == 3
    assert [call.json["routeId"] for call in calls] == ["mglobal"] * 3
    assert [m["reference"] for m in body["messages"]] == references


async def test_the_answer_is_202_with_the_queued_batch_before_anything_is_sent(
    harness: Harness,
) -> None:
    response = await post_batch(harness, [{"to": number(i), "text": "x"} for i in range(3)])

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "queued"
    assert body["requested"] == 3
    assert body["progress"] == {"checked": 0, "total": None, "submitted": 0, "not_submitted": 0}
    settled = await harness.settled_batch(body["id"])
    assert settled["state"] == "submitted"
    assert settled["progress"]["submitted"] == 3


async def test_duplicates_are_left_out_unless_allowed(harness: Harness) -> None:
    messages = [
        {"to": "447700900001", "text": "a"},
        {"to": "+44 7700 900001", "text": "b"},
        {"to": "447700900002", "text": "c"},
    ]
    body = await harness.send_batch(messages)
    assert body["skipped"] == [
        {
            "index": 1,
            "to": "+44 7700 900001",
            "reason": "duplicate",
            "detail": "same number as messages[0]",
        }
    ]
    body = await harness.send_batch(messages, exclude_duplicates=False)
    assert body["skipped"] == []
    assert harness.calls("/send/batch")[-1].json["excludeDuplicates"] is False


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"messages": []}, "at least one"),
        ({"originator": "Way too long a name"}, "originator"),
        ({"schedule_at": "2020-01-01T00:00:00Z"}, "future"),
        ({"schedule_at": "2031-01-01T00:00:00"}, "timezone"),
        (
            {"messages": [{"to": "447700900001", "text": "a", "reference": "r"}] * 2},
            "unique within a batch",
        ),
    ],
)
async def test_invalid_batch_is_refused_before_mobivate(
    harness: Harness, fields: dict[str, Any], words: str
) -> None:
    payload = {"messages": [{"to": "447700900001", "text": "a"}], **fields}
    response = await harness.client.post("/api/v1/batches", json=payload)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert harness.fake.requests == []


async def test_batch_where_nothing_can_be_sent_fails_with_every_reason(
    harness: Harness,
) -> None:
    await harness.opt_out("447700900001")
    body = await harness.send_batch(
        [{"to": "447700900001", "text": "a"}, {"to": "447700900002", "text": ""}]
    )
    assert body["state"] == "failed"
    assert [s["reason"] for s in body["skipped"]] == ["opted_out", "invalid"]
    assert "all 2 were left out" in body["error"]["message"]
    assert body["progress"]["total"] == 0
    assert harness.fake.requests == []
    assert await count_rows(harness.engine, OutboundMessage) == 0


async def test_too_many_messages_are_refused(database_url: str) -> None:
    async with start_harness(sending_settings(database_url, batch_max_messages=2)) as harness:
        response = await post_batch(harness, [{"to": number(i), "text": "x"} for i in range(3)])
        assert response.status_code == 422
        assert "BATCH_MAX_MESSAGES" in response.json()["detail"]


async def test_mobivate_outage_fails_the_batch_and_keeps_its_messages(harness: Harness) -> None:
    harness.fake.down = True
    body = await harness.send_batch([{"to": number(i), "text": "x"} for i in range(3)])
    assert body["state"] == "failed"
    assert body["counts"] == {"submit_failed": 3}
    assert body["progress"]["not_submitted"] == 3
    assert body["error"]["message"]
    assert await count_rows(harness.engine, OutboundMessage) == 3


class CreditRunsOut(httpx.AsyncBaseTransport):
    """Mobivate accepts the first batch call and refuses every later one for lack of credit."""

    def __init__(self, fake: FakeMobivate) -> None:
        self._inner = fake.transport()
        self._calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/send/batch":
            self._calls += 1
            if self._calls > 1:
                return httpx.Response(402, json={"code": 402, "message": "Insufficient credit"})
        return await self._inner.handle_async_request(request)


async def test_a_failed_call_stops_the_rest_of_the_batch(database_url: str) -> None:
    messages = [{"to": number(i), "text": "x"} for i in range(2500)]
    async with start_harness(sending_settings(database_url), wrap=CreditRunsOut) as harness:
        body = await harness.send_batch(messages)
        assert len(harness.calls("/send/batch")) == 1
    assert body["state"] == "partially_submitted"
    assert body["counts"] == {"refused": 1000, "submit_failed": 500, "submitted": 1000}
    assert body["error"] == {"mobivate_status": 402, "message": "Insufficient credit"}


async def test_refused_batch_passes_mobivate_message_on(harness: Harness) -> None:
    harness.fake.fail_next(1, 402)
    body = await harness.send_batch([{"to": number(1), "text": "x"}])
    assert body["state"] == "failed"
    assert body["error"]["mobivate_status"] == 402
    assert body["counts"] == {"refused": 1}


async def test_unknown_batch_is_404(harness: Harness) -> None:
    response = await harness.client.get("/api/v1/batches/12345")
    assert response.status_code == 404


class StopsAfterFirstCall(httpx.AsyncBaseTransport):
    """Between the first batch call and the next, recipients reply STOP through the webhook
    (the fake posts their incoming messages to the app, which stores and applies them)."""

    def __init__(self, fake: FakeMobivate, stopping: list[str]) -> None:
        self._fake = fake
        self._inner = fake.transport()
        self._stopping = stopping
        self._calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path == "/send/batch":
            self._calls += 1
            if self._calls == 1:
                for msisdn in self._stopping:
                    answer = await self._fake.send_incoming(msisdn, "Stop please")
                    assert answer.status_code == 200, answer.text
        return response


async def test_a_stop_arriving_while_a_batch_is_sent_protects_the_later_calls(
    database_url: str,
) -> None:
    messages = [{"to": "+" + number(i), "text": f"Offer {i}"} for i in range(5)]
    settings = sending_settings(database_url, batch_chunk_size=2)
    stopping = [number(1), number(2), number(4)]  # number(1) was in the first call already

    async with start_harness(
        settings, wrap=lambda fake: StopsAfterFirstCall(fake, stopping)
    ) as harness:
        body = await harness.send_batch(messages)
        calls = harness.calls("/send/batch")
        stored = await count_rows(harness.engine, OutboundMessage)

    assert [[item["recipient"] for item in c.json["recipients"]] for c in calls] == [
        [number(0), number(1)],
        [number(3)],
    ]
    assert all(call.json["excludeOptouts"] is True for call in calls)
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (2, "opted_out"),
        (4, "opted_out"),
    ]
    # Planning runs beside the calls: a recipient is left out when its chunk is planned or,
    # if the STOP came later, just before its call ("while the batch was being sent").
    assert all("keyword STOP" in s["detail"] for s in body["skipped"])
    assert body["state"] == "submitted"
    assert body["counts"] == {"submitted": 3}
    # `total` counts what was planned into calls: the number left out when planned is not in
    # it, the one left out just before its call is, and counts as not submitted.
    progress = body["progress"]
    late = sum("while the batch was being sent" in s["detail"] for s in body["skipped"])
    assert progress == {
        "checked": 5,
        "total": 3 + late,
        "submitted": 3,
        "not_submitted": late,
    }
    assert stored == 3


async def test_every_batch_call_asks_mobivate_to_exclude_its_opt_outs(harness: Harness) -> None:
    harness.fake.add_optout(number(2))

    await harness.send_batch([{"to": number(i), "text": "x"} for i in range(3)])

    [call] = harness.calls("/send/batch")
    assert call.json["excludeOptouts"] is True
    assert number(2) not in {message.recipient for message in harness.fake.sent}
