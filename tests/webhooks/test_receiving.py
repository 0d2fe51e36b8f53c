"""Receiving, authenticating and storing the three webhooks, on both backends."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.tables import Click, IncomingMessage, Receipt, WebhookRequest
from tests.support.app import WEBHOOK_SECRET, make_settings, start_app
from tests.support.bodies import receipt
from tests.support.rows import all_rows, count_rows
from tests.support.webhooks import post_webhook, webhook_url

RECEIPT = receipt(
    "9A85B95E0A000A9D2FBD46710388AD54",
    "ACCEPTED",
    2,
    created="2023-07-28T03:23:22.000+00:00",
    batch="9A85B9110A000A9D2FBD4671D691C328",
)


async def test_documented_receipt_is_stored_with_typed_columns(
    client: httpx.AsyncClient, engine: AsyncEngine, data_dir: Path
) -> None:
    body = (data_dir / "receipt.json").read_bytes()
    response = await client.post(
        webhook_url("receipt"), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"status": "stored"}

    [receipt] = await all_rows(engine, Receipt)
    assert receipt.message_id_norm == "9A85B95E0A000A9D2FBD46710388AD54"
    assert receipt.batch_id_norm == "9A85B9110A000A9D2FBD4671D691C328"
    assert receipt.status == "ACCEPTED"
    assert receipt.status_code == 2
    assert receipt.parts == 1
    assert receipt.event_at == datetime(2023, 7, 28, 3, 23, 22, tzinfo=UTC)
    assert receipt.event_at_raw == "2023-07-28T03:23:22.000+00:00"
    [raw] = await all_rows(engine, WebhookRequest)
    assert raw.body == body
    assert raw.kind == "receipt"
    assert raw.outcome == "stored"
    assert raw.content_type == "application/json"
    assert raw.client_addr == "203.0.113.7"
    assert raw.id == receipt.request_id


async def test_documented_incoming_message_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, data_dir: Path
) -> None:
    payload = json.loads((data_dir / "incoming.json").read_text())
    response = await post_webhook(client, "incoming", payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "stored"}
    [message] = await all_rows(engine, IncomingMessage)
    assert message.mobivate_id_norm == "1C9A658F0A931B317B6A53BB42EC3571"
    assert message.originator == "4400000000"
    # E.164: the 0 after the country code is a trunk digit, dropped.
    assert message.msisdn == "+440000000"
    assert message.recipient == "12345"
    assert message.body == "Incoming Message"
    assert message.in_reply_to_norm == "961AEAEB0A000A9D2FBD4671D07705FE"
    assert message.batch_id_norm == "6EE262430A931B3127AFD4F044FC0622"
    assert message.event_at == datetime(2023, 9, 1, 0, 30, 36, tzinfo=UTC)


async def test_documented_click_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, data_dir: Path
) -> None:
    payload = json.loads((data_dir / "click.json").read_text())
    response = await post_webhook(client, "click", payload)
    assert response.status_code == 200, response.text
    [click] = await all_rows(engine, Click)
    assert click.message_id_norm == "9AEC3BB90A000A9D2FBD467178FF6827"
    assert click.msisdn == "+440001234"
    assert click.client_ref == "ref-001"
    assert click.url == "http://vimeo.com/751393851?autoplay=1"
    assert click.iso2l == "UK"


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2023-07-28T03:23:22.000+00:00", datetime(2023, 7, 28, 3, 23, 22, tzinfo=UTC)),
        ("2023-09-01T00:30:36+0000", datetime(2023, 9, 1, 0, 30, 36, tzinfo=UTC)),
        ("2025-11-10T21:45:12.000Z", datetime(2025, 11, 10, 21, 45, 12, tzinfo=UTC)),
        ("2025-11-10T21:45:12Z", datetime(2025, 11, 10, 21, 45, 12, tzinfo=UTC)),
        ("2024-01-26T15:30:00+0530", datetime(2024, 1, 26, 10, 0, 0, tzinfo=UTC)),
        (1690783496000, datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)),
        ("1690783496000", datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)),
    ],
)
async def test_every_timestamp_format_is_stored_as_utc(
    client: httpx.AsyncClient, engine: AsyncEngine, created: object, expected: datetime
) -> None:
    response = await post_webhook(client, "receipt", {**RECEIPT, "created": created})
    assert response.status_code == 200
    [receipt] = await all_rows(engine, Receipt)
    assert receipt.event_at == expected
    assert receipt.event_at_raw == str(created)


async def test_unknown_fields_statuses_and_codes_are_kept(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = {**RECEIPT, "status": "delivered_to_moon", "statusCode": 99, "newField": {"a": 1}}
    response = await post_webhook(client, "receipt", payload)
    assert response.status_code == 200
    [receipt] = await all_rows(engine, Receipt)
    assert (receipt.status, receipt.status_code) == ("DELIVERED_TO_MOON", 99)
    [raw] = await all_rows(engine, WebhookRequest)
    assert json.loads(raw.body)["newField"] == {"a": 1}


async def test_status_is_compared_case_insensitively(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await post_webhook(client, "receipt", {**RECEIPT, "status": "Delivered", "statusCode": 1})
    second = await post_webhook(
        client, "receipt", {**RECEIPT, "status": "DELIVERED", "statusCode": 1}
    )
    assert second.json() == {"status": "duplicate"}
    [receipt] = await all_rows(engine, Receipt)
    assert receipt.status == "DELIVERED"


async def test_redelivered_receipt_is_stored_once_and_answered_duplicate(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    first = await post_webhook(client, "receipt", RECEIPT)
    again = await post_webhook(client, "receipt", RECEIPT)
    dashed = {**RECEIPT, "deliveryMessageId": "9a85b95e-0a00-0a9d-2fbd-46710388ad54"}
    same_id_other_form = await post_webhook(client, "receipt", dashed)
    assert first.json() == {"status": "stored"}
    assert again.json() == {"status": "duplicate"}
    assert same_id_other_form.json() == {"status": "duplicate"}
    assert await count_rows(engine, Receipt) == 1
    outcomes = [row.outcome for row in await all_rows(engine, WebhookRequest)]
    assert sorted(outcomes) == ["duplicate", "duplicate", "stored"]


async def test_receipts_differing_in_status_or_time_are_distinct(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await post_webhook(client, "receipt", RECEIPT)
    await post_webhook(client, "receipt", {**RECEIPT, "status": "DELIVERED", "statusCode": 1})
    later = {**RECEIPT, "created": "2023-07-28T03:24:00.000+00:00"}
    await post_webhook(client, "receipt", later)
    assert await count_rows(engine, Receipt) == 3


async def test_redelivered_incoming_message_is_stored_once(
    client: httpx.AsyncClient, engine: AsyncEngine, data_dir: Path
) -> None:
    payload = json.loads((data_dir / "incoming.json").read_text())
    assert (await post_webhook(client, "incoming", payload)).json() == {"status": "stored"}
    assert (await post_webhook(client, "incoming", payload)).json() == {"status": "duplicate"}
    assert await count_rows(engine, IncomingMessage) == 1


async def test_identical_click_within_window_is_a_duplicate(
    client: httpx.AsyncClient, engine: AsyncEngine, data_dir: Path
) -> None:
    payload = json.loads((data_dir / "click.json").read_text())
    assert (await post_webhook(client, "click", payload)).json() == {"status": "stored"}
    assert (await post_webhook(client, "click", payload)).json() == {"status": "duplicate"}
    other = {**payload, "url": "https://example.com/other"}
    assert (await post_webhook(client, "click", other)).json() == {"status": "stored"}
    assert await count_rows(engine, Click) == 2


async def test_concurrent_identical_requests_in_one_process_store_one_row(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    responses = await asyncio.gather(*(post_webhook(client, "receipt", RECEIPT) for _ in range(20)))
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["duplicate"] * 19 + ["stored"]
    assert await count_rows(engine, Receipt) == 1
    assert await count_rows(engine, WebhookRequest) == 20


async def test_identical_requests_racing_on_two_instances_store_one_row(
    settings: Settings, engine: AsyncEngine
) -> None:
    """Two app instances (two engines, two connections) against one database."""
    async with start_app(settings) as first, start_app(settings) as second:
        for attempt in range(5):
            payload = {**RECEIPT, "statusCode": 100 + attempt}
            responses = await asyncio.gather(
                post_webhook(first.client, "receipt", payload),
                post_webhook(second.client, "receipt", payload),
            )
            assert sorted(r.json()["status"] for r in responses) == ["duplicate", "stored"]
    assert await count_rows(engine, Receipt) == 5


async def test_array_body_stores_each_event(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    events = [RECEIPT, {**RECEIPT, "status": "DELIVERED", "statusCode": 1}, RECEIPT]
    response = await post_webhook(client, "receipt", events)
    assert response.status_code == 200
    assert response.json() == {"status": "stored", "stored": 2, "duplicates": 1}
    assert await count_rows(engine, Receipt) == 2
    [raw] = await all_rows(engine, WebhookRequest)
    assert raw.event_count == 3


async def test_legacy_xml_form_receipt_and_incoming_are_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, data_dir: Path
) -> None:
    for kind in ("receipt", "incoming"):
        body = urlencode({"xml": (data_dir / f"{kind}.xml").read_text()})
        response = await client.post(
            webhook_url(kind),
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
    [receipt] = await all_rows(engine, Receipt)
    assert receipt.message_id_norm == "2AE13F9DF5DC4478AB17BA13DDEFFAD2"
    assert receipt.client_reference == "myref"
    assert receipt.status == "DELIVERED"
    [incoming] = await all_rows(engine, IncomingMessage)
    assert incoming.body == "Test 11:33"
    assert incoming.msisdn == "+44000009999"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message_part"),
    [
        (b'{"status": "ACCEPTED"', "application/json", 400, ""),
        (b"\xff\xfe not utf-8", "application/json", 400, ""),
        (b'"just a string"', "application/json", 422, ""),
        (b"[]", "application/json", 422, ""),
        (b'{"statusCode": "abc"}', "application/json", 422, "statusCode"),
        (b'{"parts": {"a": 1}}', "application/json", 422, "parts"),
        (b'{"deliveryMessageId": ["x"]}', "application/json", 422, "deliveryMessageId"),
        (b"<deliveryreceipt/>", "application/xml", 415, ""),
        (b"xml=%3Cdeliverymessage%2F%3E", "application/x-www-form-urlencoded", 422, ""),
    ],
)
async def test_bad_input_gets_4xx_saying_what_is_wrong_and_raw_body_is_kept(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    body: bytes,
    content_type: str,
    status: int,
    message_part: str,
) -> None:
    response = await client.post(
        webhook_url("receipt"), content=body, headers={"content-type": content_type}
    )
    assert response.status_code == status
    detail = response.json()["detail"]
    assert detail
    assert message_part in detail
    [raw] = await all_rows(engine, WebhookRequest)
    assert raw.body == body
    assert raw.outcome == "unparsed"
    assert raw.error == detail
    assert await count_rows(engine, Receipt) == 0


@pytest.mark.parametrize("secret", ["wrong-secret", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x"])
async def test_wrong_secret_gets_404_and_nothing_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, secret: str
) -> None:
    response = await client.post(webhook_url("receipt", secret), json=RECEIPT)
    assert response.status_code == 404
    assert await count_rows(engine, WebhookRequest) == 0
    assert await count_rows(engine, Receipt) == 0


async def test_unknown_webhook_kind_gets_404(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post(webhook_url("status"), json=RECEIPT)
    assert response.status_code == 404
    assert await count_rows(engine, WebhookRequest) == 0


async def test_missing_secret_gets_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/receipt", json=RECEIPT)
    assert response.status_code == 404


async def test_wrong_secret_is_counted_in_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await client.post(webhook_url("receipt", "guess-1"), json=RECEIPT)
    await client.post(webhook_url("receipt", "guess-2"), json=RECEIPT)
    refusals = [r.getMessage() for r in caplog.records if "webhook refused" in r.getMessage()]
    assert len(refusals) == 2
    assert "2 refused since start" in refusals[-1]
    assert all("guess" not in message for message in refusals)


async def test_oversized_body_gets_413_and_is_kept_truncated(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = make_settings(database_url, max_body_bytes=1024)
    big = json.dumps({**RECEIPT, "filler": "x" * 5000}).encode()
    async with start_app(settings) as running:
        response = await running.client.post(
            webhook_url("receipt"), content=big, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert "1024" in response.json()["detail"]
    [raw] = await all_rows(engine, WebhookRequest)
    assert raw.outcome == "too_large"
    assert raw.truncated is True
    assert raw.body == big[:1024]
    assert raw.body_size == len(big)
    assert await count_rows(engine, Receipt) == 0


async def test_nul_characters_are_stored_without_error(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = {"id": "ABC123", "originator": "4400000000", "body": "hello\u0000world"}
    response = await post_webhook(client, "incoming", payload)
    assert response.status_code == 200
    [message] = await all_rows(engine, IncomingMessage)
    assert "\x00" not in message.body
