"""Opt-outs learned from Mobivate: a send it refused because the recipient opted out, and a
delivery receipt saying it refused the recipient as blacklisted or opted out.

Each becomes an opt-out event with source `mobivate`, so the next send to the number is refused
here, before Mobivate is called. Mobivate already has the number on its list, so nothing is
pushed back. The event is keyed by the refused message or by the receipt, so a redelivered
receipt or a repeated lookup records nothing twice. What counts as "opted out" in Mobivate's
words is the adapter's (`app.mobivate.vocabulary`).

A receipt names a message, not a number: it is learned once it is linked to the message we sent
(`app.delivery.linking`), so the ingest step runs after linking, and a send records what its
receipts that arrived first (linked when the send is recorded) said.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.core.tables import RECEIPTS
from app.mobivate.vocabulary import WebhookKind, receipt_reports_opted_out
from app.optouts.registry import OptoutChange, RecordResult, record_changes
from app.webhooks.ingest import StoredEvent


def learned_from(dedupe_key: str | None) -> int | None:
    """The id of the message whose refusal or receipt taught an opt-out, from its dedupe key."""
    if dedupe_key is None:
        return None
    head, _, tail = dedupe_key.rpartition(":")
    if (head == "refusal" or head.endswith(":message")) and tail.isdigit():
        return int(tail)
    return None


def refusal_change(
    msisdn: str, message_id: int, mobivate_message: str, at: datetime
) -> OptoutChange:
    """The opt-out of a recipient Mobivate refused a send to (HTTP 4xx saying opted out).

    It is dated to the start of the second of the refusal: Mobivate's times have whole seconds,
    so a START the recipient sends in that same second ties and, recorded later, wins."""
    return OptoutChange(
        msisdn=msisdn,
        action="opt_out",
        source="mobivate",
        event_at=at.replace(microsecond=0),
        reason=f"Mobivate refused message {message_id}: {mobivate_message}"[:500],
        dedupe_key=f"refusal:{message_id}",
    )


async def learn_from_receipts(
    conn: AsyncConnection,
    *,
    receipt_ids: Sequence[int] = (),
    message_ids: Sequence[int] = (),
) -> RecordResult:
    """Record an opt-out for every linked receipt among `receipt_ids`, or of the messages
    `message_ids`, that reports the recipient opted out or blacklisted. In the caller's
    transaction."""
    conditions: list[ColumnElement[bool]] = []
    if receipt_ids:
        conditions.append(RECEIPTS.c.id.in_(sorted(set(receipt_ids))))
    if message_ids:
        conditions.append(RECEIPTS.c.outbound_message_id.in_(sorted(set(message_ids))))
    changes = []
    for condition in conditions:
        rows = await conn.execute(
            select(
                RECEIPTS.c.id,
                RECEIPTS.c.status,
                RECEIPTS.c.status_code,
                RECEIPTS.c.occurred_at,
                MESSAGES.c.id.label("message_id"),
                MESSAGES.c.msisdn,
            )
            .join(MESSAGES, RECEIPTS.c.outbound_message_id == MESSAGES.c.id)
            .where(condition)
        )
        for row in rows.all():
            if not receipt_reports_opted_out(row.status, row.status_code):
                continue
            reported = row.status or f"status code {row.status_code}"
            changes.append(
                OptoutChange(
                    msisdn=row.msisdn,
                    action="opt_out",
                    source="mobivate",
                    event_at=row.occurred_at,
                    reason=f"Mobivate reported {reported} for message {row.message_id}",
                    dedupe_key=f"receipt:{row.id}:message:{row.message_id}",
                )
            )
    return await record_changes(conn, changes)


class ReceiptOptouts:
    """The ingest step after delivery linking: receipts that report the recipient opted out or
    blacklisted opt the number out here."""

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        receipt_ids = [
            stored.id
            for stored in events
            if stored.kind is WebhookKind.RECEIPT
            and receipt_reports_opted_out(stored.row.get("status"), stored.row.get("status_code"))
        ]
        if receipt_ids:
            await learn_from_receipts(conn, receipt_ids=receipt_ids)

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        pass
