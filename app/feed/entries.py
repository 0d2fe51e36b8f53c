"""Writing and reading the live feed (`event_feed`).

Every receipt, incoming message and click stored, every change of a sent message's status,
every opt-out or opt-in and every step of a batch's submission gets one feed entry, inserted in
the same transaction as what it describes, so an entry exists exactly when its event is
committed: webhook events by the ingest writer's hook (one multi-row INSERT per batch), opt-outs
by `app.optouts.registry`, batch progress by `app.sending.progress`, and status changes by
triggers on `outbound_messages` (migration 0005), whatever code changes the status.
On PostgreSQL a statement trigger on `event_feed` sends `NOTIFY event_feed` at commit, which
wakes the readers of every replica.

On PostgreSQL a writer takes the advisory lock FEED_LOCK in shared mode before it takes feed ids
and holds it until it commits; `app.feed.watch` takes it exclusively to know that no
feed id below the greatest visible one can still commit. The ingest step's entries (and that
lock) are part of the ingest writer's one statement on PostgreSQL
(`app.webhooks.ingest_pg.Companion`), with no round trip of their own.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.tables import FEED_EVENTS as FEED
from app.core.times import ORJSON_UTC
from app.mobivate.vocabulary import WebhookKind
from app.webhooks import ingest_pg
from app.webhooks.ingest import StoredEvent
from app.webhooks.rows import Row

CHANNEL = "event_feed"
FEED_LOCK = 727_274_006
FeedKind = Literal["receipt", "incoming", "click", "status", "optout", "batch"]
FEED_KINDS: tuple[FeedKind, ...] = ("receipt", "incoming", "click", "status", "optout", "batch")

_RECEIPT_FIELDS = {
    "occurred_at": "occurred_at",
    "event_at": "event_at",
    "received_at": "received_at",
    "status": "status",
    "status_code": "status_code",
    "mobivate_id": "message_id_norm",
    "mobivate_batch_id": "batch_id_norm",
    "reference": "client_reference",
    "parts": "parts",
    "part": "part",
}
_INCOMING_FIELDS = {
    "occurred_at": "occurred_at",
    "event_at": "event_at",
    "received_at": "received_at",
    "msisdn": "msisdn",
    "originator": "originator",
    "recipient": "recipient",
    "body": "body",
    "mobivate_id": "mobivate_id_norm",
    "in_reply_to": "in_reply_to_norm",
    "mobivate_batch_id": "batch_id_norm",
}
_CLICK_FIELDS = {
    "occurred_at": "received_at",
    "msisdn": "msisdn",
    "url": "url",
    "mobivate_id": "message_id_norm",
    "mobivate_batch_id": "batch_id_norm",
    "reference": "client_ref",
    "browser": "browser",
    "os": "os",
    "country": "country",
    "iso2l": "iso2l",
    "ip_address": "ip_address",
}
_FIELDS = {
    WebhookKind.RECEIPT: _RECEIPT_FIELDS,
    WebhookKind.INCOMING: _INCOMING_FIELDS,
    WebhookKind.CLICK: _CLICK_FIELDS,
}


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = orjson.loads(orjson.dumps(value, option=ORJSON_UTC))
    return safe


def entry(
    kind: FeedKind,
    ref_id: int | None,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    msisdn: str | None = None,
    message_id: int | None = None,
    batch_id: int | None = None,
    mobivate_id: str | None = None,
    mobivate_batch_id: str | None = None,
    reference: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One feed row; the keyword columns are what the feed can be filtered on."""
    return {
        "kind": kind,
        "ref_id": ref_id,
        "msisdn": msisdn,
        "message_id": message_id,
        "batch_id": batch_id,
        "mobivate_id": mobivate_id,
        "mobivate_batch_id": mobivate_batch_id,
        "reference": reference,
        "status": status,
        "created_at": now,
        "payload": _json_safe(payload if ref_id is None else {"id": ref_id, **payload}),
    }


def webhook_entry(stored: StoredEvent, now: datetime) -> dict[str, Any]:
    return _webhook_entry(stored.kind, stored.id, stored.row, now)


def _webhook_entry(
    kind: WebhookKind, ref_id: int | None, row: Row, now: datetime
) -> dict[str, Any]:
    """The entry of a stored event; without its id (None) for the ingest statement, which
    adds it to the row and the payload."""
    payload = {name: row.get(column) for name, column in _FIELDS[kind].items()}
    return entry(
        kind.value,
        ref_id,
        payload,
        now=now,
        msisdn=payload.get("msisdn"),
        mobivate_id=payload.get("mobivate_id"),
        mobivate_batch_id=payload.get("mobivate_batch_id"),
        reference=payload.get("reference"),
        status=payload.get("status"),
    )


def optout_entry(event: Any, now: datetime) -> dict[str, Any] | None:
    """The feed entry of a newly recorded opt-out registry event (help requests have none)."""
    if event.action == "help":
        return None
    payload = {
        "msisdn": event.msisdn,
        "action": event.action,
        "source": event.source,
        "keyword": event.keyword,
        "reason": event.reason,
        "event_at": event.event_at,
    }
    # The filter column holds an E.164 number; an unresolved sender (up to 64 characters, in
    # full in the payload) is cut to fit it.
    return entry("optout", event.id, payload, now=now, msisdn=event.msisdn[:32])


async def append(conn: AsyncConnection, entries: Sequence[Mapping[str, Any] | None]) -> None:
    """Insert feed entries (None ones are skipped) inside the caller's transaction."""
    rows = [entry for entry in entries if entry is not None]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": FEED_LOCK})
    await conn.execute(insert(FEED), rows)


_COMPANION = ingest_pg.Companion(
    FEED,
    (
        "kind",
        "msisdn",
        "message_id",
        "batch_id",
        "mobivate_id",
        "mobivate_batch_id",
        "reference",
        "status",
        "created_at",
        "payload",
    ),
    ref_column="ref_id",
    json_column="payload",
    shared_lock=FEED_LOCK,
)


class FeedEntries:
    """The live feed's ingest step: one entry per newly stored webhook event, in the same
    transaction (on PostgreSQL in the ingest statement itself), then a wake-up for this
    process's readers once it has committed."""

    companion = _COMPANION

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def companion_rows(self, kind: WebhookKind, rows: Sequence[Row]) -> list[Row]:
        now = utcnow()
        return [_webhook_entry(kind, None, row, now) for row in rows]

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        now = utcnow()
        await append(conn, [webhook_entry(stored, now) for stored in events])

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        self._wake()


async def read(
    engine: AsyncEngine,
    after: int,
    upto: int,
    where: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[Any]:
    """Entries with `after` < id <= `upto` that match, oldest first."""
    statement = (
        select(FEED.c.id, FEED.c.kind, FEED.c.created_at, FEED.c.payload)
        .where(FEED.c.id > after, FEED.c.id <= upto, *where)
        .order_by(FEED.c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(statement)).all())
