"""Taking a campaign for submission in the background (`POST /api/v1/batches`,
`mobivate-hooks send-batch`).

The batch is stored with its messages as posted (`batch_inputs`) in one transaction and the
caller answered `202` with its id and state `queued`: checking 100,000 messages costs ~6 s of
CPU and calling Mobivate 100 times more, far beyond what proxies and clients wait for. The
messages are checked, planned into calls and sent by `app.sending.submitter`, in whichever
process of the service gets there first; `GET /api/v1/batches/{id}` shows the progress.
"""

import json
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import BATCH_INPUTS, BATCHES
from app.sending.batch_checks import PreparedBatch, RawItem
from app.sending.idempotency import Attempt, Reply
from app.sending.views import load_batch

QUEUED = "queued"


def items_json(items: list[RawItem]) -> bytes:
    """The messages as posted, as JSON. A text the request's JSON carried as a lone surrogate
    (`"\\ud800"`) has no UTF-8 form: such items are kept escaped, in ASCII, so the planner reads
    them back as posted and leaves them out as invalid, naming the field (`read_items`)."""
    try:
        return orjson.dumps(items)
    except TypeError:
        return json.dumps(items).encode("ascii")


def read_items(blob: bytes) -> list[Any]:
    """The messages `items_json` kept."""
    try:
        items: list[Any] = orjson.loads(blob)
    except orjson.JSONDecodeError:
        items = json.loads(blob)
    return items


async def enqueue_batch(
    engine: AsyncEngine, prepared: PreparedBatch, items: list[RawItem], attempt: Attempt
) -> Reply:
    """Store the batch and its messages, and the answer the caller gets (`202`) for its
    Idempotency-Key, in one transaction."""
    now = utcnow()
    async with engine.begin() as conn:
        batch_id: int = (
            await conn.execute(
                insert(BATCHES)
                .values(
                    name=prepared.name,
                    route_id=prepared.route_id,
                    schedule_at=prepared.schedule_at,
                    spread_hours=prepared.spread_hours,
                    shorten_urls=prepared.shorten_urls,
                    exclude_duplicates=prepared.exclude_duplicates,
                    verify_numbers=prepared.verify_numbers,
                    originator=prepared.originator,
                    chunk_size=prepared.chunk_size,
                    state=QUEUED,
                    requested=prepared.requested,
                    skipped=[],
                    mobivate_batch_ids=[],
                    created_at=now,
                    updated_at=now,
                )
                .returning(BATCHES.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(BATCH_INPUTS).values(batch_id=batch_id, items=items_json(items), created_at=now)
        )
        body = await load_batch(conn, batch_id)
        assert body is not None
        reply = Reply(202, body)
        await attempt.settle_in(conn, reply)
    return reply
