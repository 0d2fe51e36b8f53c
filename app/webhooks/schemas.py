"""Items of the webhook event lists and the live feed: receipts, incoming messages, clicks."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_MOBIVATE_ID = "Mobivate message id, normalised (no dashes, upper case)"
_MESSAGE_ID = "Our id of the sent message this belongs to, once linked"
_BATCH_ID = "Our id of that message's batch (campaign)"


def _example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


class ReceiptItem(BaseModel):
    model_config = _example(
        id=1042,
        occurred_at="2026-11-22T09:15:02Z",
        event_at="2026-11-22T09:15:02Z",
        received_at="2026-11-22T09:15:03.120000Z",
        status="DELIVERED",
        status_code=1,
        msisdn="447700900123",
        mobivate_id="9A85B95E0A000A9D2FBD46710388AD54",
        mobivate_batch_id="9A85B9110A000A9D2FBD4671D691C328",
        reference="order-5512",
        parts=1,
        part=None,
        message_id=311,
        batch_id=12,
        hlr_reachable=True,
        hlr_network="MNO - Virgin Media O2 (Telefonica UK Ltd)",
        hlr_country="United Kingdom",
        hlr_ported=True,
        hlr_mcc_mnc="23410",
    )

    id: int
    occurred_at: datetime = Field(description="event_at, or received_at when Mobivate gave none")
    event_at: datetime | None = Field(description="When Mobivate says it happened")
    received_at: datetime
    status: str | None
    status_code: int | None
    msisdn: str | None = Field(description="Number of the linked sent message")
    mobivate_id: str | None = Field(description=_MOBIVATE_ID)
    mobivate_batch_id: str | None
    reference: str | None = Field(description="clientReference")
    parts: int | None
    part: int | None
    message_id: int | None = Field(description=_MESSAGE_ID)
    batch_id: int | None = Field(description=_BATCH_ID)
    hlr_reachable: bool | None = Field(
        description="From the receipt's hlr object, where it has one (see Number lookups)"
    )
    hlr_network: str | None = Field(description="The network it names (the ported one if ported)")
    hlr_country: str | None
    hlr_ported: bool | None
    hlr_mcc_mnc: str | None


class IncomingItem(BaseModel):
    model_config = _example(
        id=77,
        occurred_at="2026-11-22T09:20:00Z",
        event_at="2026-11-22T09:20:00Z",
        received_at="2026-11-22T09:20:01.004000Z",
        msisdn="447700900123",
        originator="447700900123",
        recipient="12345",
        body="STOP",
        mobivate_id="1C9A658F0A931B317B6A53BB42EC3571",
        in_reply_to="9A85B95E0A000A9D2FBD46710388AD54",
        mobivate_batch_id="6EE262430A931B3127AFD4F044FC0622",
        message_id=311,
        batch_id=12,
    )

    id: int
    occurred_at: datetime = Field(description="event_at, or received_at when Mobivate gave none")
    event_at: datetime | None
    received_at: datetime
    msisdn: str | None = Field(description="The sender, normalised")
    originator: str | None = Field(description="The sender as Mobivate gave it")
    recipient: str | None
    body: str | None
    mobivate_id: str | None
    in_reply_to: str | None = Field(description="Mobivate id of the message replied to")
    mobivate_batch_id: str | None = Field(description="logicalMessageId")
    message_id: int | None = Field(description=_MESSAGE_ID)
    batch_id: int | None = Field(description=_BATCH_ID)


class ClickItem(BaseModel):
    model_config = _example(
        id=5,
        occurred_at="2026-11-22T10:01:40.512000Z",
        msisdn="447700900123",
        url="https://example.com/offer",
        mobivate_id="9AEC3BB90A000A9D2FBD467178FF6827",
        mobivate_batch_id="9AEC3B590A000A9D2FBD4671C4D151BF",
        reference="order-5512",
        browser="Safari",
        os="iOS",
        country="United Kingdom",
        iso2l="GB",
        ip_address="203.0.113.9",
        message_id=311,
        batch_id=12,
    )

    id: int
    occurred_at: datetime = Field(description="When the click reached us (clicks carry no time)")
    msisdn: str | None
    url: str | None
    mobivate_id: str | None = Field(description=_MOBIVATE_ID)
    mobivate_batch_id: str | None
    reference: str | None = Field(description="clientRef")
    browser: str | None
    os: str | None
    country: str | None
    iso2l: str | None
    ip_address: str | None
    message_id: int | None = Field(description=_MESSAGE_ID)
    batch_id: int | None = Field(description=_BATCH_ID)
