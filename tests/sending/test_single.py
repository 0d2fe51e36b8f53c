"""Sending one message: what reaches Mobivate, what is stored, and every way it can be refused."""

from datetime import UTC, datetime, timedelta

import pytest

from app.core.tables import OutboundMessage
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows


async def test_single_send_reaches_mobivate_and_is_stored(harness: Harness) -> None:
    response = await harness.send(
        to="+44 7700 900123", text="Your code is 1234", originator="Acme", reference="order-17"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    [call] = harness.calls("/send/single")
    assert call.json == {
        "originator": "Acme",
        "recipient": "447700900123",
        "body": "Your code is 1234",
        "routeId": "mglobal",
        "reference": "order-17",
    }
    assert body["status"] == "submitted"
    assert body["submission"] == "submitted"
    assert body["final"] is False
    assert body["to"] == "+447700900123"
    assert body["reference"] == "order-17"
    assert body["encoding"] == "GSM-7"
    assert body["parts"] == 1
    sent = harness.fake.sent[0]
    assert body["mobivate_id"] == sent.response_id
    assert isinstance(body["id"], int)
    assert (await harness.message(body["id"]))["mobivate_id"] == sent.response_id


async def test_settings_fill_originator_and_route_and_a_reference_is_assigned(
    database_url: str,
) -> None:
    settings = sending_settings(database_url, default_originator="Brand", default_route_id="r2")
    async with start_harness(settings) as harness:
        response = await harness.send(text="Hi")
        assert response.status_code == 201, response.text
        [call] = harness.calls("/send/single")
    assert call.json["originator"] == "Brand"
    assert call.json["routeId"] == "r2"
    assert len(call.json["reference"]) == 32
    assert response.json()["reference"] == call.json["reference"]


async def test_schedule_and_url_shortening_are_passed_on(harness: Harness) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    response = await harness.send(schedule_at=when.isoformat(), shorten_urls=True)
    assert response.status_code == 201, response.text
    [call] = harness.calls("/send/single")
    assert call.json["scheduleDateTime"] == when.strftime("%Y-%m-%dT%H:%M:%S+0000")
    assert call.json["shortenUrls"] is True
    assert datetime.fromisoformat(response.json()["schedule_at"]) == when


@pytest.mark.parametrize(
    ("text", "encoding", "parts"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("ж" * 70, "UCS-2", 1),
        ("ж" * 71, "UCS-2", 2),
        ("ж" * 135, "UCS-2", 3),
    ],
)
async def test_encoding_and_parts_are_reported(
    harness: Harness, text: str, encoding: str, parts: int
) -> None:
    response = await harness.send(text=text)
    assert response.status_code == 201, response.text
    assert (response.json()["encoding"], response.json()["parts"]) == (encoding, parts)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"to": "07700 900123"}, "to", "national form"),
        ({"to": "+44 12345"}, "to", "local"),
        ({"to": "call me"}, "to", "not a phone number"),
        ({"originator": "TwelveChars1"}, "originator", "11"),
        ({"originator": "1234567890123456"}, "originator", "15"),
        ({"originator": "Acme!"}, "originator", "sender id"),
        ({"text": ""}, "text", "empty"),
        ({"text": "   "}, "text", "empty"),
        ({"schedule_at": "2030-01-01T09:00:00"}, "schedule_at", "timezone"),
        ({"schedule_at": "2020-01-01T09:00:00Z"}, "schedule_at", "future"),
        ({"reference": " "}, "reference", "blank"),
        ({"route_id": ""}, "route_id", "mglobal"),
    ],
)
async def test_invalid_requests_are_refused_before_mobivate(
    harness: Harness, body: dict[str, str], field: str, words: str
) -> None:
    response = await harness.send(**body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"{field}: ")
    assert words in detail
    assert harness.fake.requests == []
    assert await count_rows(harness.engine, OutboundMessage) == 0


async def test_missing_originator_without_default_is_refused(database_url: str) -> None:
    async with start_harness(sending_settings(database_url, default_originator=None)) as harness:
        response = await harness.send()
        assert response.status_code == 422
        assert "DEFAULT_ORIGINATOR" in response.json()["detail"]
        assert harness.fake.requests == []


async def test_opted_out_recipient_gets_409_and_mobivate_is_not_called(harness: Harness) -> None:
    await harness.opt_out("447700900123")
    response = await harness.send(to="+447700900123")
    assert response.status_code == 409, response.text
    body = response.json()
    assert "447700900123" in body["detail"]
    assert "opted out" in body["reason"]
    assert "asked by phone" in body["reason"]
    assert harness.fake.requests == []
    assert await count_rows(harness.engine, OutboundMessage) == 0


@pytest.mark.parametrize(
    ("mobivate_status", "our_status"), [(402, 402), (400, 422), (401, 502), (404, 422)]
)
async def test_mobivate_refusal_is_passed_on_and_the_message_kept(
    harness: Harness, mobivate_status: int, our_status: int
) -> None:
    harness.fake.fail_next(1, mobivate_status)
    response = await harness.send()
    assert response.status_code == our_status, response.text
    body = response.json()
    assert f"HTTP {mobivate_status}" in body["detail"]
    message = body["message"]
    assert message["status"] == message["submission"] == "refused"
    assert message["final"] is True
    assert message["error"]["mobivate_status"] == mobivate_status
    assert (await harness.message(message["id"]))["status"] == "refused"
    assert len(harness.calls("/send/single")) == 1


async def test_recipient_opted_out_at_mobivate_gets_409(harness: Harness) -> None:
    harness.fake.add_optout("447700900123")
    response = await harness.send()
    assert response.status_code == 409, response.text
    assert "opted out" in response.json()["detail"]
    assert response.json()["message"]["status"] == "refused"


async def test_mobivate_unreachable_gives_503_and_the_message_is_stored_as_failed(
    harness: Harness,
) -> None:
    harness.fake.down = True
    response = await harness.send()
    assert response.status_code == 503, response.text
    message = response.json()["message"]
    assert message["status"] == "submit_failed"
    assert "not sent" in response.json()["detail"]
    stored = await harness.message(message["id"])
    assert stored["status"] == "submit_failed"
    assert stored["mobivate_id"] is None


async def test_mobivate_server_error_gives_502_and_is_not_retried(harness: Harness) -> None:
    harness.fake.fail_next(3, 500)
    response = await harness.send()
    assert response.status_code == 502, response.text
    assert response.json()["message"]["status"] == "submit_failed"
    assert len(harness.calls("/send/single")) == 1


async def test_sending_without_api_key_is_503(database_url: str) -> None:
    async with start_harness(sending_settings(database_url, mobivate_api_key=None)) as harness:
        response = await harness.send()
    assert response.status_code == 503
    assert "MOBIVATE_API_KEY" in response.json()["detail"]


async def test_unknown_message_is_404(harness: Harness) -> None:
    response = await harness.client.get("/api/v1/messages/999")
    assert response.status_code == 404
    assert "999" in response.json()["detail"]


async def test_send_needs_the_api_token(harness: Harness) -> None:
    response = await harness.client.post(
        "/api/v1/messages", json={"to": "447700900123", "text": "x"}, headers={"Authorization": ""}
    )
    assert response.status_code == 401
