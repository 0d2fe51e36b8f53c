"""Limits on what a caller may ask for: a message needing more than MAX_MESSAGE_PARTS SMS parts
and a REST body over API_MAX_BODY_BYTES are refused with a 4xx naming the limit, and nothing is
sent or stored."""

from collections.abc import AsyncIterator

import orjson

from app.core.tables import OutboundMessage
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows


async def test_a_text_needing_more_parts_than_allowed_is_refused_naming_the_limit(
    harness: Harness,
) -> None:
    too_long = await harness.send(text="x" * 2_000_000)
    assert too_long.status_code == 422
    assert too_long.json()["detail"] == (
        "text: 2000000 characters (GSM-7) need 13072 SMS parts; at most 10 (MAX_MESSAGE_PARTS)"
    )
    unicode = await harness.send(text="é" * 100 + "😀" * 300)
    assert unicode.status_code == 422
    assert "UCS-2" in unicode.json()["detail"]
    longest = await harness.send(text="x" * 1530)
    assert longest.status_code == 201, longest.text
    assert longest.json()["parts"] == 10
    batch = await harness.send_batch(
        [{"to": "+447700900123", "text": "x" * 1531}, {"to": "+447700900124", "text": "ok"}]
    )
    [skipped] = batch["skipped"]
    assert skipped["index"] == 0
    assert "at most 10 (MAX_MESSAGE_PARTS)" in skipped["detail"]
    assert [m.body for m in harness.fake.sent] == ["x" * 1530, "ok"]


async def test_max_message_parts_is_a_setting(database_url: str) -> None:
    async with start_harness(sending_settings(database_url, max_message_parts=1)) as harness:
        answer = await harness.send(text="x" * 161)
    assert answer.status_code == 422
    assert "at most 1 (MAX_MESSAGE_PARTS)" in answer.json()["detail"]


async def test_a_rest_body_over_the_limit_is_refused_before_anything_runs(
    database_url: str,
) -> None:
    settings = sending_settings(database_url, api_max_body_bytes=64 * 1024)
    async with start_harness(settings) as harness:
        client = harness.client
        big = {"messages": [{"to": "+447700900123", "text": "x" * 100}] * 1000}
        declared = await client.post("/api/v1/batches", json=big)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            payload = orjson.dumps(big)
            for start in range(0, len(payload), 8192):
                yield payload[start : start + 8192]

        streamed = await client.post(
            "/api/v1/batches", content=chunks(), headers={"content-type": "application/json"}
        )
        fits = await client.post(
            "/api/v1/batches", json={"messages": [{"to": "+447700900123", "text": "Hi"}]}
        )
        webhook_sized = await client.post(
            "/webhooks/test-webhook-secret-0123456789/receipt",
            content=b"[" + b",".join([b'{"deliveryMessageId":"A1"}'] * 4000) + b"]",
            headers={"content-type": "application/json"},
        )
        assert declared.status_code == 413
        assert declared.json()["detail"] == (
            f"request body of {len(orjson.dumps(big))} bytes is over the limit of 65536 bytes "
            "(API_MAX_BODY_BYTES)"
        )
        assert streamed.status_code == 413
        assert "over the limit of 65536 bytes (API_MAX_BODY_BYTES)" in streamed.json()["detail"]
        assert fits.status_code == 202, fits.text
        await harness.settled_batch(fits.json()["id"])
        assert webhook_sized.status_code == 200, webhook_sized.text
        assert await count_rows(harness.engine, OutboundMessage) == 1
        assert len(harness.fake.sent) == 1
