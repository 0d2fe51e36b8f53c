"""JSON bodies as Mobivate writes them, each with the timestamp format of its documented example."""

from datetime import UTC, datetime
from typing import Any

from app.fake_mobivate.records import FakeMessage, OptoutEntry

DEFAULT_CLICK_URL = "http://vimeo.com/751393851?autoplay=1"
DEFAULT_DEVICE = {
    "browser": "Safari",
    "country": "United Kingdom",
    "ipAddress": "1.1.1.1",
    "iso2l": "UK",
    "os": "Mac OS X",
}


def receipt_time(value: datetime) -> str:
    """2023-07-28T03:23:22.000+00:00"""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def log_time(value: datetime) -> str:
    """2023-07-01T01:10:34+0000"""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def epoch_millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def receipt_payload(
    message: FakeMessage,
    status: str,
    status_code: int,
    created: datetime,
    hlr: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "deliveryMessageId": message.id,
        "batchId": message.batch_id,
        "clientReference": message.reference,
        "created": receipt_time(created),
        "status": status,
        "statusCode": status_code,
        "parts": message.parts,
        "hlr": hlr,
    }


def incoming_payload(
    message: FakeMessage, logical_message_id: str | None, owner_user_id: str
) -> dict[str, Any]:
    return {
        "id": message.id,
        "originator": message.originator,
        "recipient": message.recipient,
        "body": message.body,
        "created": log_time(message.created),
        "inReplyTo": message.in_reply_to,
        "logicalMessageId": logical_message_id,
        "ownerUserId": owner_user_id,
    }


def click_payload(message: FakeMessage, url: str, device: dict[str, str]) -> dict[str, Any]:
    return {
        "mobile": message.recipient,
        "messageId": message.id,
        "batchId": message.batch_id,
        "clientRef": message.reference,
        **device,
        "url": url,
    }


def message_log(message: FakeMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "created": log_time(message.created),
        "modified": log_time(message.modified or message.created),
        "originator": message.originator,
        "recipient": message.recipient,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "inReplyTo": message.in_reply_to,
        "routeId": message.route_id,
        "parts": message.parts,
        "cost": round(0.01 * message.parts, 4) if message.direction == "MT" else 0,
        "currency": "GBP",
        "senderReference": message.reference,
        "campaignId": message.campaign_id,
    }


def optout_record(entry: OptoutEntry, *, with_id: bool) -> dict[str, Any]:
    """Listing includes the numeric id; add and delete answers do not."""
    record: dict[str, Any] = {"id": entry.id} if with_id else {}
    record.update(mobile=entry.mobile, note=entry.note, created=epoch_millis(entry.created))
    return record
