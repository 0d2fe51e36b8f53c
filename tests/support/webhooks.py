"""Posting webhooks to the app as Mobivate does."""

from datetime import datetime
from typing import Any

import httpx

from tests.support.app import WEBHOOK_SECRET
from tests.support.bodies import Stamp, click, incoming, receipt


def webhook_url(kind: str, secret: str = WEBHOOK_SECRET) -> str:
    return f"/webhooks/{secret}/{kind}"


async def post_webhook(
    client: httpx.AsyncClient, kind: str, body: Any, *, secret: str = WEBHOOK_SECRET
) -> httpx.Response:
    """`body` as JSON, or as it is when it is bytes (sent as application/json)."""
    if isinstance(body, bytes):
        return await client.post(
            webhook_url(kind, secret), content=body, headers={"content-type": "application/json"}
        )
    return await client.post(webhook_url(kind, secret), json=body)


async def post_accepted(client: httpx.AsyncClient, kind: str, body: Any) -> httpx.Response:
    """A post that must be answered 200 (stored, or a duplicate)."""
    response = await post_webhook(client, kind, body)
    assert response.status_code == 200, response.text
    return response


async def post_stored(client: httpx.AsyncClient, kind: str, body: Any) -> None:
    """A post that must be stored."""
    response = await post_accepted(client, kind, body)
    assert response.json()["status"] == "stored", response.text


async def post_receipt(
    client: httpx.AsyncClient,
    mobivate_id: str,
    status: str,
    code: int,
    created: Stamp,
    *,
    batch: str | None = None,
    reference: str | None = None,
) -> None:
    body = receipt(mobivate_id, status, code, created=created, batch=batch, reference=reference)
    await post_stored(client, "receipt", body)


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
    message = incoming(
        originator,
        body,
        message_id=mobivate_id,
        created=created,
        in_reply_to=in_reply_to,
        batch=batch,
        owner=None,
    )
    await post_stored(client, "incoming", message)


async def post_click(
    client: httpx.AsyncClient,
    mobile: str,
    mobivate_id: str | None,
    *,
    batch: str | None = None,
    reference: str | None = None,
    url: str = "https://example.com/offer",
) -> None:
    body = click(mobile, mobivate_id, batch=batch, reference=reference, url=url)
    await post_stored(client, "click", body)
