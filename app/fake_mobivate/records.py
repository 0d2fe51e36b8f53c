"""What the fake remembers: requests it received, opt-outs, and messages in both directions."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.fake_mobivate.parts import sms_parts


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
        return sms_parts(self.body)

    def set_status(self, status: str) -> None:
        self.status = status
        self.modified = utc_now()


class NoWebhook(LookupError):
    """No URL is registered for the notification type the fake was asked to send."""
