"""What a delivery carries: `{"type", "timestamp", "data"}`, where `data` is the item the REST
API answers for the same thing, read when the delivery is sent (so a receipt carries the message
and batch it was linked to):

- `receipt`, `incoming`, `click`: the item of `GET /api/v1/receipts`, `/incoming`, `/clicks`;
- `message.status`: the item of `GET /api/v1/messages`, with `change` (`status`,
  `previous_status`, `status_at`: the change this event announces, as the live feed has it);
- `optout.changed`: the item of `GET /api/v1/optouts` for the number, with `change` (`action`,
  `source`, `keyword`, `reason`, `event_at`).

A subscription's filter is applied here too: `batch_id` matches events whose item carries that
batch; `originator` matches the sender id of the message an event belongs to (for an incoming
message: the number or sender id it was sent to). An event that carries neither never matches
a filter on it (opt-out changes belong to no batch or sender).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.tables import FEED_EVENTS as FEED
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.core.times import iso_z
from app.optouts.lists import OPTOUT_SPEC
from app.sending.lists import MESSAGE_SPEC, message_item
from app.webhooks.lists import CLICK_SPEC, INCOMING_SPEC, RECEIPT_SPEC

_SPECS = {"receipt": RECEIPT_SPEC, "incoming": INCOMING_SPEC, "click": CLICK_SPEC}
_STATUS_CHANGE = ("status", "previous_status", "status_at")
_OPTOUT_CHANGE = ("action", "source", "keyword", "reason", "event_at")


@dataclass(frozen=True, slots=True)
class Filter:
    batch_id: int | None
    originator: str | None


def _plain(row: Any) -> dict[str, Any]:
    item = dict(row._mapping)
    item.pop("_time", None)
    item.pop("_id", None)
    return item


async def _one(conn: AsyncConnection, statement: Any) -> dict[str, Any] | None:
    row = (await conn.execute(statement)).first()
    return None if row is None else _plain(row)


async def _data(conn: AsyncConnection, kind: str, ref_id: int, feed: Any) -> dict[str, Any] | None:
    if kind in _SPECS:
        spec = _SPECS[kind]
        return await _one(conn, spec.base.where(spec.id == ref_id))
    if kind == "status":
        row = await _one(conn, MESSAGE_SPEC.base.where(MESSAGE_SPEC.id == ref_id))
        if row is None:
            return None
        change = {name: feed.payload.get(name) for name in _STATUS_CHANGE}
        return {**message_item(row), "change": change}
    state = await _one(conn, OPTOUT_SPEC.base.where(OPTOUT_SPEC.id == feed.msisdn))
    if state is None:
        return None
    return {**state, "change": {name: feed.payload.get(name) for name in _OPTOUT_CHANGE}}


async def _originator(conn: AsyncConnection, kind: str, data: dict[str, Any]) -> str | None:
    if kind == "incoming":
        return data.get("recipient")
    if kind == "status":
        return data.get("originator")
    message_id = data.get("message_id")
    if message_id is None:
        return None
    return await conn.scalar(select(MESSAGES.c.originator).where(MESSAGES.c.id == message_id))


@dataclass(frozen=True, slots=True)
class Event:
    body: dict[str, Any]
    occurred_at: datetime


async def event_for(
    conn: AsyncConnection, feed_id: int, event_type: str, wanted: Filter
) -> Event | Literal[False] | None:
    """The delivery's body; None when the event is no longer kept; False when the filter does
    not take it."""
    feed = (
        await conn.execute(
            select(
                FEED.c.kind, FEED.c.ref_id, FEED.c.msisdn, FEED.c.created_at, FEED.c.payload
            ).where(FEED.c.id == feed_id)
        )
    ).first()
    if feed is None:
        return None
    data = await _data(conn, feed.kind, feed.ref_id, feed)
    if data is None:
        return None
    if wanted.batch_id is not None and data.get("batch_id") != wanted.batch_id:
        return False
    if wanted.originator is not None and (
        await _originator(conn, feed.kind, data) != wanted.originator
    ):
        return False
    body = {"type": event_type, "timestamp": iso_z(feed.created_at), "data": data}
    return Event(body, feed.created_at)
