"""`POST /api/v1/batches?dry_run=true`: what a campaign would send and leave out, and how many
SMS parts it would take, decided exactly as a real send decides it (`app.sending.recipients`).

Nothing is stored and Mobivate's send endpoint is not called. With `verify_numbers` the numbers
are looked up (and counted against HLR_DAILY_LIMIT); the answers are cached, so the send that
follows does not pay for them again.
"""

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.lookups.lookup import LookupPolicy
from app.mobivate.client import MobivateClient
from app.sending.batch_checks import PreparedBatch
from app.sending.recipients import choose_recipients


async def dry_run_batch(
    engine: AsyncEngine,
    mobivate: MobivateClient | None,
    prepared: PreparedBatch,
    lookups: LookupPolicy,
) -> dict[str, Any]:
    chosen = await choose_recipients(engine, mobivate, prepared, lookups)
    return {
        "dry_run": True,
        "requested": prepared.requested,
        "would_send": len(chosen.kept),
        "parts": sum(message.parts for _, message in chosen.kept),
        "skipped_by_reason": dict(Counter(entry["reason"] for entry in chosen.skipped)),
        "skipped": chosen.skipped,
        "messages": [
            {
                "index": index,
                "to": message.msisdn,
                "reference": message.reference,
                "encoding": message.encoding,
                "parts": message.parts,
            }
            for index, message in chosen.kept
        ],
    }
