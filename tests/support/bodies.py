"""Webhook bodies as Mobivate sends them: every documented field, in the documented order
(tests/data holds Mobivate's own examples). Keyword arguments change a field; extra ones add
fields Mobivate does not send."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OWNER_USER_ID = "94B8CC070A000A9D2FBD467124131CA6"

Stamp = datetime | str | int | None


def at(minutes: float) -> datetime:
    """`minutes` after T0, the start of the histories the API tests post."""
    return T0 + timedelta(minutes=minutes)


def stamp(moment: datetime) -> str:
    """A time as Mobivate writes `created` in JSON bodies."""
    return moment.isoformat(timespec="milliseconds")


def _created(value: Stamp) -> str | int | None:
    return stamp(value) if isinstance(value, datetime) else value


def receipt(
    message_id: str,
    status: str | None = "DELIVERED",
    code: int | None = 1,
    *,
    created: Stamp = None,
    batch: str | None = None,
    reference: str | None = None,
    parts: int | None = 1,
    hlr: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """A delivery receipt; without `created` its time is null."""
    return {
        "deliveryMessageId": message_id,
        "batchId": batch,
        "clientReference": reference,
        "created": _created(created),
        "status": status,
        "statusCode": code,
        "parts": parts,
        "hlr": hlr,
        **extra,
    }


def incoming(
    originator: str,
    body: str,
    *,
    message_id: str | None = None,
    created: Stamp = None,
    recipient: str = "12345",
    in_reply_to: str | None = None,
    batch: str | None = None,
    owner: str | None = OWNER_USER_ID,
    **extra: Any,
) -> dict[str, Any]:
    """An incoming message; without `message_id` it gets a new one, without `created` it was
    sent now (to the second)."""
    return {
        "id": message_id or uuid.uuid4().hex.upper(),
        "originator": originator,
        "recipient": recipient,
        "body": body,
        "created": _created(created or datetime.now(UTC).replace(microsecond=0)),
        "inReplyTo": in_reply_to,
        "logicalMessageId": batch,
        "ownerUserId": owner,
        **extra,
    }


def click(
    mobile: str,
    message_id: str | None,
    *,
    batch: str | None = None,
    reference: str | None = None,
    url: str = "https://example.com/offer",
    **extra: Any,
) -> dict[str, Any]:
    """A click on a shortened link."""
    return {
        "mobile": mobile,
        "messageId": message_id,
        "batchId": batch,
        "clientRef": reference,
        "browser": "Safari",
        "country": "United Kingdom",
        "ipAddress": "203.0.113.9",
        "iso2l": "GB",
        "os": "iOS",
        "url": url,
        **extra,
    }
