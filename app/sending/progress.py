"""A batch's progress and its final state, written by whichever process moved it.

Each chunk's outcome adds to the batch's counters (`submitted`, `not_submitted`) with an
`UPDATE ... SET n = n + k`, which takes the batch's row lock; the chunks still open are counted
after it, so of two processes finishing the last two chunks at once the second one to commit
sees the first one's chunk done and settles the batch. Settled, a batch is:

- `submitted`: every call was accepted (recipients opted out while it was sent included);
- `partially_submitted`: some calls were accepted, and a call failed or its outcome is unknown;
- `failed`: no call was accepted, or nothing could be sent.

Every change of progress is announced on the live feed as a `batch` entry.
"""

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import utcnow
from app.core.tables import BATCH_CHUNKS as CHUNKS
from app.core.tables import BATCHES
from app.feed.entries import append, entry
from app.sending.views import progress_json

SUBMITTING = "submitting"
OPEN_STATES = ("queued", SUBMITTING)
OPEN_CHUNKS = ("pending", "calling")
UNKNOWN_OUTCOME = (
    "the call to Mobivate may or may not have been made (the process making it stopped); "
    "it is not repeated: reconciliation finds the messages Mobivate sent"
)


async def add_progress(
    conn: AsyncConnection,
    batch_id: int,
    *,
    submitted: int = 0,
    not_submitted: int = 0,
    resettle: bool = False,
    **values: Any,
) -> None:
    """Add to the batch's counters (taking its row lock), then settle it if nothing is left
    (`resettle`: again, if it was settled already)."""
    await conn.execute(
        update(BATCHES)
        .where(BATCHES.c.id == batch_id)
        .values(
            submitted=BATCHES.c.submitted + submitted,
            not_submitted=BATCHES.c.not_submitted + not_submitted,
            updated_at=utcnow(),
            **values,
        )
    )
    await settle(conn, batch_id, resettle=resettle)


async def settle(conn: AsyncConnection, batch_id: int, *, resettle: bool = False) -> None:
    """Give the batch its final state once it is planned and no chunk is open; announce its
    progress either way. `resettle`: a call's outcome arrived after its chunk was counted as
    unknown, so a settled batch is settled again (its unknown-outcome error dropped if no
    unknown chunk is left)."""
    row = (await conn.execute(select(BATCHES).where(BATCHES.c.id == batch_id))).mappings().one()
    state = row["state"]
    if row["prepared"] and (state in OPEN_STATES or resettle):
        still_open = (
            await conn.execute(
                select(func.count()).where(
                    CHUNKS.c.batch_id == batch_id, CHUNKS.c.state.in_(OPEN_CHUNKS)
                )
            )
        ).scalar_one()
        if still_open == 0:
            error = row["error_message"]
            if resettle and error is not None and error.endswith(UNKNOWN_OUTCOME):
                error = None
            state, error = await _final_state(conn, batch_id, row["submitted"], error)
            ids = (
                await conn.execute(
                    select(CHUNKS.c.mobivate_batch_id)
                    .where(CHUNKS.c.batch_id == batch_id, CHUNKS.c.mobivate_batch_id.is_not(None))
                    .order_by(CHUNKS.c.number)
                )
            ).scalars()
            await conn.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id)
                .values(
                    state=state,
                    mobivate_batch_ids=list(ids),
                    lease_owner=None,
                    error_message=error,
                )
            )
    await announce(conn, batch_id, state, row)


async def _final_state(
    conn: AsyncConnection, batch_id: int, submitted: int, error: str | None
) -> tuple[str, str | None]:
    """The final state, and the batch's error."""
    unknown = sum(
        len(items)
        for items in (
            await conn.execute(
                select(CHUNKS.c["items"]).where(
                    CHUNKS.c.batch_id == batch_id, CHUNKS.c.state == "unknown"
                )
            )
        ).scalars()
    )
    if unknown and error is None:
        error = f"{unknown} message(s): {UNKNOWN_OUTCOME}"
    if submitted == 0 and error is None:
        error = "no message was submitted: every recipient opted out while the batch was sent"
    if error is None:
        return ("submitted" if submitted > 0 else "failed"), error
    return ("partially_submitted" if submitted > 0 else "failed"), error


async def announce(conn: AsyncConnection, batch_id: int, state: str, row: Any) -> None:
    """A `batch` entry on the live feed with the batch's state and progress."""
    payload = {"batch_id": batch_id, "state": state, "requested": row["requested"]}
    payload |= progress_json(row)
    await append(
        conn, [entry("batch", batch_id, payload, now=utcnow(), batch_id=batch_id, status=state)]
    )
