"""What the REST API shows of sent messages and batches: JSON-ready dictionaries.

A message's timeline lists its creation, the outcome of its submission, every receipt (with the
effect it had on the status under the rule of `app.delivery.status_rules`, replayed in the order the
receipts were stored), every reply and every click, ordered by when each happened.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import BATCH_CHUNKS, BATCHES, CLICKS, RECEIPTS
from app.core.tables import INCOMING_MESSAGES as INCOMING
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.core.times import iso_z
from app.delivery.status_rules import LOCAL_STATUSES, SUBMITTED, ReceiptFacts, replay
from app.stats.queries import batch_figures

_KIND_ORDER = {"created": 0, "submission": 1, "receipt": 2, "reply": 3, "click": 4}


def iso(value: datetime | None) -> str | None:
    return None if value is None else iso_z(value)


def message_json(row: RowMapping) -> dict[str, Any]:
    error = None
    if row["error_message"] is not None:
        error = {"mobivate_status": row["error_status"], "message": row["error_message"]}
    return {
        "id": row["id"],
        "batch_id": row["batch_id"],
        "to": row["msisdn"],
        "originator": row["originator"],
        "text": row["body"],
        "reference": row["reference"],
        "route_id": row["route_id"],
        "encoding": row["encoding"],
        "parts": row["parts"],
        "shorten_urls": row["shorten_urls"],
        "schedule_at": iso(row["schedule_at"]),
        "mobivate_id": row["mobivate_id"],
        "mobivate_batch_id": row["mobivate_batch_id"],
        "submission": row["submission"],
        "status": row["status"],
        "status_code": row["status_code"],
        "status_at": iso(row["status_at"]),
        "final": row["final"],
        "delivered_at": iso(row["delivered_at"]),
        "error": error,
        "created_at": iso(row["created_at"]),
        "submitted_at": iso(row["submitted_at"]),
    }


async def load_message(conn: AsyncConnection, message_id: int) -> RowMapping | None:
    result = await conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id))
    return result.mappings().first()


async def message_with_timeline(engine: AsyncEngine, message_id: int) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = await load_message(conn, message_id)
        if row is None:
            return None
        receipts = (
            await conn.execute(
                select(RECEIPTS)
                .where(RECEIPTS.c.outbound_message_id == message_id)
                .order_by(RECEIPTS.c.id)
            )
        ).mappings()
        receipt_rows = list(receipts)
        replies = (
            await conn.execute(
                select(INCOMING)
                .where(INCOMING.c.outbound_message_id == message_id)
                .order_by(INCOMING.c.id)
            )
        ).mappings()
        reply_rows = list(replies)
        clicks = (
            await conn.execute(
                select(CLICKS)
                .where(CLICKS.c.outbound_message_id == message_id)
                .order_by(CLICKS.c.id)
            )
        ).mappings()
        click_rows = list(clicks)
    body = message_json(row)
    entries = [_entry(row["created_at"], "created", {})]
    if row["submitted_at"] is not None:
        entries.append(_entry(row["submitted_at"], "submission", _submission(row)))
    initial = row["status"] if row["status"] in LOCAL_STATUSES else SUBMITTED
    facts = [
        ReceiptFacts(r["id"], r["status"], r["status_code"], r["event_at"], r["received_at"])
        for r in receipt_rows
    ]
    for receipt, effect in zip(receipt_rows, replay(initial, facts), strict=True):
        entries.append(
            _entry(
                receipt["event_at"] or receipt["received_at"],
                "receipt",
                {
                    "receipt_id": receipt["id"],
                    "status": effect.status,
                    "status_code": receipt["status_code"],
                    "source": receipt["source"],
                    "parts": receipt["parts"],
                    "received_at": iso(receipt["received_at"]),
                    "effect": effect.effect,
                    "previous_status": effect.previous,
                },
            )
        )
    for reply in reply_rows:
        entries.append(
            _entry(
                reply["event_at"] or reply["received_at"],
                "reply",
                {"incoming_id": reply["id"], "from": reply["msisdn"], "text": reply["body"]},
            )
        )
    for click in click_rows:
        entries.append(
            _entry(
                click["received_at"],
                "click",
                {"click_id": click["id"], "url": click["url"], "os": click["os"]},
            )
        )
    # Stable sort: entries of one kind at the same time stay in the order they were stored.
    entries.sort(key=lambda e: (e["_at"], _KIND_ORDER[e["event"]]))
    body["timeline"] = [
        {"at": iso(e["_at"]), "event": e["event"], "details": e["details"]} for e in entries
    ]
    return body


def _entry(at: datetime, event: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"_at": at, "event": event, "details": details}


def _submission(row: RowMapping) -> dict[str, Any]:
    details: dict[str, Any] = {"outcome": row["submission"]}
    if row["mobivate_id"]:
        details["mobivate_id"] = row["mobivate_id"]
    if row["mobivate_batch_id"]:
        details["mobivate_batch_id"] = row["mobivate_batch_id"]
    if row["error_message"] is not None:
        details["error"] = row["error_message"]
        details["mobivate_status"] = row["error_status"]
    return details


def progress_json(row: RowMapping) -> dict[str, Any]:
    """How far the batch's submission is: messages checked of those requested, messages to send
    (null until all are checked), accepted by Mobivate, and not (refused, failed, outcome
    unknown, or opted out while the batch was sent)."""
    return {
        "checked": row["checked"],
        "total": row["total"],
        "submitted": row["submitted"],
        "not_submitted": row["not_submitted"],
    }


def batch_json(
    row: RowMapping,
    counts: dict[str, int],
    final: int,
    later_skipped: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    error = None
    if row["error_message"] is not None:
        error = {"mobivate_status": row["error_status"], "message": row["error_message"]}
    skipped = list(row["skipped"])
    if later_skipped:
        skipped = sorted(skipped + later_skipped, key=lambda entry: entry["index"])
    return {
        "id": row["id"],
        "name": row["name"],
        "state": row["state"],
        "route_id": row["route_id"],
        "schedule_at": iso(row["schedule_at"]),
        "spread_hours": row["spread_hours"],
        "shorten_urls": row["shorten_urls"],
        "exclude_duplicates": row["exclude_duplicates"],
        "verify_numbers": row["verify_numbers"],
        "requested": row["requested"],
        "accepted": sum(counts.values()),
        "progress": progress_json(row),
        "skipped": skipped,
        "mobivate_batch_ids": list(row["mobivate_batch_ids"]),
        "counts": counts,
        "final": final,
        "error": error,
        "created_at": iso(row["created_at"]),
    }


async def load_batch(conn: AsyncConnection, batch_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(BATCHES).where(BATCHES.c.id == batch_id))).mappings().first()
    if row is None:
        return None
    grouped = await conn.execute(
        select(MESSAGES.c.status, MESSAGES.c.final, func.count())
        .where(MESSAGES.c.batch_id == batch_id)
        .group_by(MESSAGES.c.status, MESSAGES.c.final)
    )
    counts: dict[str, int] = {}
    final = 0
    for status, is_final, count in grouped.all():
        counts[status] = counts.get(status, 0) + count
        if is_final:
            final += count
    later: list[dict[str, Any]] = []
    for (entries,) in await conn.execute(
        select(BATCH_CHUNKS.c.skipped)
        .where(BATCH_CHUNKS.c.batch_id == batch_id)
        .order_by(BATCH_CHUNKS.c.number)
    ):
        later.extend(entries)
    return batch_json(row, dict(sorted(counts.items())), final, later)


async def batch_progress(engine: AsyncEngine, batch_id: int) -> dict[str, Any] | None:
    """The batch's state, size and progress alone: one row, cheap to ask about often."""
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(
                        BATCHES.c.state,
                        BATCHES.c.requested,
                        BATCHES.c.checked,
                        BATCHES.c.total,
                        BATCHES.c.submitted,
                        BATCHES.c.not_submitted,
                    ).where(BATCHES.c.id == batch_id)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    return {"state": row["state"], "requested": row["requested"], "progress": progress_json(row)}


async def get_batch(engine: AsyncEngine, batch_id: int) -> dict[str, Any] | None:
    """The batch with its messages per status and its statistics."""
    async with engine.connect() as conn:
        body = await load_batch(conn, batch_id)
        if body is not None:
            body["stats"] = vars(await batch_figures(conn, batch_id))
        return body
