"""Request and response bodies of Mobivate's v1 JSON API.

Field names are snake_case in Python and camelCase on the wire. Responses ignore unknown fields and
treat everything but the identifying fields as optional, because the documentation is incomplete.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_serializer, field_validator
from pydantic.alias_generators import to_camel

Direction = Literal["MO", "MT"]

DEFAULT_ROUTE_ID = "mglobal"
MAX_BATCH_SIZE = 1000


def format_mobivate_datetime(value: datetime) -> str:
    """The offset form used in Mobivate's examples: 2024-01-26T15:30:00+0530."""
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


class _WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SingleMessage(_WireModel):
    originator: str
    recipient: str
    body: str
    route_id: str = DEFAULT_ROUTE_ID
    reference: str | None = None
    shorten_urls: bool | None = None
    campaign_id: str | None = None
    schedule_date_time: AwareDatetime | None = None
    # "skip opted-out recipients" in Mobivate's single-send table; sent only as false, for the
    # one message an opted-out number may get (the confirmation of its opt-out).
    exclude_optouts: bool | None = None

    @field_serializer("schedule_date_time")
    def _schedule(self, value: datetime | None) -> str | None:
        return None if value is None else format_mobivate_datetime(value)


class BatchItem(_WireModel):
    originator: str
    recipient: str
    text: str
    reference: str | None = None
    route_id: str | None = None


class BatchRequest(_WireModel):
    recipients: tuple[BatchItem, ...]
    route_id: str = DEFAULT_ROUTE_ID
    name: str | None = None
    shorten_urls: bool | None = None
    exclude_optouts: bool | None = None
    exclude_duplicates: bool | None = None
    spread_hours: int | None = None
    schedule_date_time: AwareDatetime | None = None

    @field_serializer("schedule_date_time")
    def _schedule(self, value: datetime | None) -> str | None:
        return None if value is None else format_mobivate_datetime(value)


class SentMessage(_WireModel):
    """Mobivate's answer to a single send: the message as accepted, with its id."""

    id: str
    originator: str | None = None
    recipient: str | None = None
    body: str | None = None
    route_id: str | None = None
    reference: str | None = None
    campaign_id: str | None = None
    shorten_urls: bool | None = None


class SentBatch(_WireModel):
    """Mobivate's answer to a batch send. It carries no per-message ids: those first appear in
    delivery receipts, correlated by each item's reference."""

    id: str
    name: str | None = None
    route_id: str | None = None
    shorten_urls: bool | None = None
    spread_hours: int | None = None
    exclude_optouts: bool | None = None
    exclude_duplicates: bool | None = None
    schedule_date_time: str | None = None
    recipients: tuple[BatchItem, ...] = ()


class OptoutRecord(_WireModel):
    mobile: str
    id: int | None = None
    note: str | None = None
    created: AwareDatetime | None = None

    @field_validator("created", mode="before")
    @classmethod
    def _epoch_millis(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        return value


class MessageLog(_WireModel):
    id: str
    created: AwareDatetime | None = None
    modified: AwareDatetime | None = None
    originator: str | None = None
    recipient: str | None = None
    body: str | None = None
    status: str | None = None
    direction: str | None = None
    in_reply_to: str | None = None
    route_id: str | None = None
    parts: int | None = None
    cost: Decimal | None = None
    currency: str | None = None
    sender_reference: str | None = None
    campaign_id: str | None = None
