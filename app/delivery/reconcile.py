"""Reconciliation: asking Mobivate about sent messages that are still not final.

For messages submitted longer ago than `older_than` and still without a final status, in pages:
1. link receipts that were stored but never linked to them (see `delivery.link_orphans`);
2. ask Mobivate's message log (`GET /message/{id}`) about those with a Mobivate id, a few at
   a time, and record each reported status as a receipt with source "reconciliation" (a status
   already recorded with the same time is not recorded twice); the status rule then decides,
   as for any receipt, whether it becomes the message's status.
Batch messages that never had a receipt have no Mobivate id yet and cannot be looked up; they
are counted as `without_id`. A lookup that fails is counted and the run goes on.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.core.tables import RECEIPTS
from app.delivery.linking import (
    LinkedReceipt,
    MessageRef,
    apply_receipts,
    link_orphans,
    wait_for_receipt_writers,
)
from app.delivery.status_rules import SUBMITTED, ReceiptFacts
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateAuthError, MobivateError, MobivateRefused
from app.mobivate.models import MessageLog
from app.mobivate.vocabulary import STATUS_CODES, normalise_id

logger = logging.getLogger(__name__)

PAGE_SIZE = 200


@dataclass(slots=True)
class ReconcileReport:
    examined: int = 0
    looked_up: int = 0
    recorded: int = 0
    linked: int = 0
    now_final: int = 0
    still_open: int = 0
    without_id: int = 0
    not_found: int = 0
    failed: int = 0


Progress = Callable[[ReconcileReport], None]


async def reconcile(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    *,
    older_than: timedelta,
    limit: int | None = None,
    concurrency: int = 4,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """Raises `MobivateAuthError` at once when Mobivate refuses the API key."""
    cutoff = (now or utcnow()) - older_than
    report = ReconcileReport()
    after_id = 0
    gate = asyncio.Semaphore(concurrency)
    while limit is None or report.examined < limit:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - report.examined)
        page = await _page(engine, cutoff, after_id, size)
        if not page:
            break
        after_id = page[-1].id
        report.examined += len(page)
        async with engine.begin() as conn:
            await wait_for_receipt_writers(conn)
            report.linked += await link_orphans(conn, page)
            open_ids = await _still_open(conn, [m.id for m in page])
        lookups = [m for m in page if m.id in open_ids and m.mobivate_id_norm]
        report.without_id += sum(1 for m in page if m.id in open_ids and not m.mobivate_id_norm)
        logs = await asyncio.gather(*(_look_up(mobivate, gate, m, report) for m in lookups))
        found = [(m, log) for m, log in zip(lookups, logs, strict=True) if log is not None]
        async with engine.begin() as conn:
            report.recorded += await _record(conn, found)
            remaining = await _still_open(conn, [m.id for m in page])
        report.now_final += len(open_ids - remaining)
        report.still_open += len(remaining)
        if progress is not None:
            progress(report)
    return report


async def _page(
    engine: AsyncEngine, cutoff: datetime, after_id: int, size: int
) -> list[MessageRef]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                MESSAGES.c.id,
                MESSAGES.c.mobivate_id_norm,
                MESSAGES.c.reference,
                MESSAGES.c.mobivate_batch_id_norm,
            )
            .where(
                MESSAGES.c.final.is_(False),
                MESSAGES.c.submission == SUBMITTED,
                MESSAGES.c.submitted_at < cutoff,
                MESSAGES.c.id > after_id,
            )
            .order_by(MESSAGES.c.id)
            .limit(size)
        )
        return [MessageRef(*row) for row in rows.all()]


async def _still_open(conn: AsyncConnection, ids: list[int]) -> set[int]:
    rows = await conn.execute(
        select(MESSAGES.c.id).where(MESSAGES.c.id.in_(ids), MESSAGES.c.final.is_(False))
    )
    return set(rows.scalars())


async def _look_up(
    mobivate: MobivateClient, gate: asyncio.Semaphore, message: MessageRef, report: ReconcileReport
) -> MessageLog | None:
    assert message.mobivate_id_norm is not None
    async with gate:
        report.looked_up += 1
        try:
            return await mobivate.get_message(message.mobivate_id_norm)
        except MobivateAuthError:
            raise
        except MobivateRefused as exc:
            if exc.status_code == 404:
                report.not_found += 1
            else:
                report.failed += 1
                logger.warning("message %d: Mobivate refused the lookup: %s", message.id, exc)
        except MobivateError as exc:
            report.failed += 1
            logger.warning("message %d: lookup failed: %s", message.id, exc)
        return None


async def _record(conn: AsyncConnection, found: list[tuple[MessageRef, MessageLog]]) -> int:
    """Store what Mobivate reported as receipts linked to their messages; apply them."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for message, log in found:
        if not log.status or not log.status.strip():
            continue
        status = log.status.strip().upper()
        event_at = log.modified or log.created or now
        norm = normalise_id(log.id) or log.id
        rows.append(
            {
                "request_id": None,
                "source": "reconciliation",
                "dedupe_key": _dedupe_key(norm, status, event_at),
                "received_at": now,
                "event_at": event_at,
                "event_at_raw": event_at.isoformat(),
                "delivery_message_id": log.id,
                "message_id_norm": norm,
                "batch_id": None,
                "batch_id_norm": None,
                "client_reference": log.sender_reference,
                "status": status,
                "status_code": STATUS_CODES.get(status),
                "parts": log.parts,
                "part": None,
                "hlr": None,
                "outbound_message_id": message.id,
            }
        )
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = await conn.execute(
        dialect.insert(RECEIPTS)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(RECEIPTS.c.id, RECEIPTS.c.dedupe_key)
    )
    ids = {key: receipt_id for receipt_id, key in inserted.all()}
    receipts: dict[int, list[LinkedReceipt]] = {}
    for row in rows:
        receipt_id = ids.get(row["dedupe_key"])
        if receipt_id is None:
            continue
        facts = ReceiptFacts(
            receipt_id, row["status"], row["status_code"], row["event_at"], row["received_at"]
        )
        receipts.setdefault(row["outbound_message_id"], []).append(
            LinkedReceipt(facts, row["parts"], row["message_id_norm"], row["delivery_message_id"])
        )
    await apply_receipts(conn, receipts, now=now)
    return len(ids)


def _dedupe_key(norm: str, status: str, event_at: datetime) -> str:
    text = "\x1f".join(("reconciliation", norm, status, event_at.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()


def parse_duration(text: str) -> timedelta:
    """'30m', '6h', '2d' (also '45s', '1w'); a positive whole number and one unit."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, e.g. 30m, 6h, 2d")
    amount = int(value[:-1])
    if amount <= 0:
        raise ValueError(f"{text!r} is not a duration: it must be more than zero")
    return timedelta(**{units[value[-1]]: amount})
