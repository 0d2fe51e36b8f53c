"""Helpers for the REST API read tests: a running app wired to the fake Mobivate, raw webhook
posts with chosen fields and times, and list reading."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import WEBHOOK_SECRET
from tests.sending_support import Harness, sending_app, sending_settings

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


async def start_harness(database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    async with sending_app(sending_settings(database_url, **overrides)) as harness:
        yield harness


async def post_webhook(client: httpx.AsyncClient, kind: str, body: Any) -> None:
    response = await client.post(f"/webhooks/{WEBHOOK_SECRET}/{kind}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "stored", response.text


async def post_receipt(
    client: httpx.AsyncClient,
    mobivate_id: str,
    status: str,
    code: int,
    created: datetime | str | None,
    *,
    batch: str | None = None,
    reference: str | None = None,
) -> None:
    await post_webhook(
        client,
        "receipt",
        {
            "deliveryMessageId": mobivate_id,
            "batchId": batch,
            "clientReference": reference,
            "created": stamp(created) if isinstance(created, datetime) else created,
            "status": status,
            "statusCode": code,
            "parts": 1,
            "hlr": None,
        },
    )


async def post_incoming(
    client: httpx.AsyncClient,
    mobivate_id: str,
    originator: str,
    body: str,
    created: datetime,
    *,
    in_reply_to: str | None = None,
    batch: str | None = None,
) -> None:
    await post_webhook(
        client,
        "incoming",
        {
            "id": mobivate_id,
            "originator": originator,
            "recipient": "12345",
            "body": body,
            "created": stamp(created),
            "inReplyTo": in_reply_to,
            "logicalMessageId": batch,
            "ownerUserId": None,
        },
    )


async def post_click(
    client: httpx.AsyncClient,
    mobile: str,
    mobivate_id: str | None,
    *,
    batch: str | None = None,
    reference: str | None = None,
    url: str = "https://example.com/offer",
) -> None:
    await post_webhook(
        client,
        "click",
        {
            "mobile": mobile,
            "messageId": mobivate_id,
            "batchId": batch,
            "clientRef": reference,
            "browser": "Safari",
            "country": "United Kingdom",
            "ipAddress": "203.0.113.9",
            "iso2l": "GB",
            "os": "iOS",
            "url": url,
        },
    )


async def get_page(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ids(client: httpx.AsyncClient, path: str, **params: Any) -> list[int]:
    """Ids of every item of a list, following the cursor to the end."""
    found: list[int] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await get_page(client, path, **query)
        found.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def send_message(harness: Harness, to: str, reference: str) -> dict[str, Any]:
    response = await harness.send(to=to, text="Hello", reference=reference)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
