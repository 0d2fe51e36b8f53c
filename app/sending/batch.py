"""Sending a campaign through Mobivate (`POST /api/v1/batches`): the request's part.

The batch as a whole is checked (`app.sending.batch_checks.check_batch`: `422` naming the field),
the Idempotency-Key claimed (`app.sending.submission.submit`), and the batch stored with its
messages and answered `202` with its id and state `queued` (`app.sending.queue`), in well under a
second whatever its size. The rest happens in the background (`app.sending.submitter`): every
message checked, invalid, opted-out, repeated and (with `verify_numbers`) unreachable recipients
left out and reported one by one, then calls of at most `BATCH_CHUNK_SIZE` messages, the opt-out
registry asked again just before each (`app.sending.chunks`). `GET /api/v1/batches/{id}` shows
the progress and, once settled, the outcome.
"""

from sqlalchemy.ext.asyncio import AsyncEngine

from app.sending.batch_checks import PreparedBatch, RawItem
from app.sending.idempotency import Attempt, Reply
from app.sending.queue import enqueue_batch

BATCH_ENDPOINT = "POST /api/v1/batches"


async def send_batch(
    engine: AsyncEngine, prepared: PreparedBatch, items: list[RawItem], attempt: Attempt
) -> Reply:
    """Queue the batch, settling the Idempotency-Key in the same transaction: a repeat finds
    the batch once it is stored, and a failure before that gives the key up."""
    return await enqueue_batch(engine, prepared, items, attempt)
