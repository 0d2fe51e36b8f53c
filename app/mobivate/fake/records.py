"""What the fake remembers: requests it received, opt-outs, and messages in both directions."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.sms_text import analyse

# Delivery status list of Mobivate's receipt documentation (codes 13-16, 23, 25-27 are unused).
STATUS_CODES: dict[str, int] = {
    "DELIVERED": 1,
    "ACCEPTED": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIVERABLE": 5,
    "UNKNOWN": 6,
    "REJECTED": 7,
    "INTERIM_QUEUED": 8,
    "INTERIM_ACKNOWLEDGED": 9,
    "RETRY": 10,
    "FAILED_NACK": 11,
    "FAILED_NOROUTE": 12,
    "FAILED_INSUFFICIENT_CREDIT": 17,
    "FAILED_ORIGINATOR_RECIPIENT_EQUAL": 18,
    "FAILED_RECIPIENT_BLACKLISTED": 19,
    "FAILED_ORIGINATOR_REJECTED": 20,
    "FAILED_ROUTE_INVALID": 21,
    "FAILED_LIMITS_EXCEEDED": 22,
    "FAILED_EXHAUSTED": 24,
    "FAILED_INTERNAL_ERROR": 28,
    "FAILED_UNKNOWN": 29,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_hex_id() -> str:
    return uuid.uuid4().hex.upper()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes


@dataclass
class OptoutEntry:
    id: int
    mobile: str
    note: str
    created: datetime


@dataclass(eq=False)
class FakeMessage:
    """One message in Mobivate's log.

    `id` is the 32-uppercase-hex form used in receipts (`deliveryMessageId`) and message logs; a
    single send answered with the same UUID as `response_id`, lowercase with dashes. Batch items
    have no `response_id`: their batch answered with `batch_id` in lowercase.
    """

    id: str
    direction: Literal["MT", "MO"]
    originator: str
    recipient: str
    body: str
    batch_id: str | None = None
    reference: str | None = None
    route_id: str | None = None
    campaign_id: str | None = None
    shorten_urls: bool = False
    response_id: str | None = None
    in_reply_to: str | None = None
    status: str = "PENDING"
    created: datetime = field(default_factory=utc_now)
    modified: datetime | None = None
    receipts: list[str] = field(default_factory=list)

    @property
    def parts(self) -> int:
        return analyse(self.body).parts

    def set_status(self, status: str) -> None:
        self.status = status
        self.modified = utc_now()


class NoWebhook(LookupError):
    """No URL is registered for the notification type the fake was asked to send."""
