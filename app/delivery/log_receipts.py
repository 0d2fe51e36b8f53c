"""What Mobivate's message log says about a sent message, recorded as a receipt with source
"reconciliation" and applied with the status rule like any receipt. A status already recorded
for the same message and time is not recorded twice (the dedupe key covers id, status and time).
"""

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import utcnow
from app.core.tables import RECEIPTS
from app.delivery.linking import LinkedReceipt, MessageRef, apply_receipts
from app.delivery.status_rules import ReceiptFacts
from app.mobivate.models import MessageLog
from app.mobivate.vocabulary import STATUS_CODES, normalise_id


async def record_logs(conn: AsyncConnection, found: list[tuple[MessageRef, MessageLog]]) -> int:
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
