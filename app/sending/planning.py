"""Checking a queued batch's messages and planning its calls to Mobivate (`batch_chunks`).

One process at a time plans a batch: it takes the batch under a lease (`FOR UPDATE SKIP LOCKED`
on PostgreSQL), renewed with every chunk it writes. Messages are taken in request order, a slice
of BATCH_CHUNK_SIZE at a time: checked (`invalid`), then opted-out numbers and later repeats of a
number left out (`app.sending.recipients.Chooser`). As soon as BATCH_CHUNK_SIZE messages are
kept they are written as a pending chunk, with the recipients left out before them, and the
batch's `checked` moves to the first message not yet in a chunk: so the first calls are made
while the rest is still being checked (about 60 µs a message, mostly reading the number), and a
process that stops resumes the plan from `checked`, the numbers already planned telling it
which later ones are repeats.

With `verify_numbers` every number left is looked up before the first chunk is written, so a
lookup that cannot be made (the daily budget spent, Mobivate failing) fails the batch before
anything is sent, with the reason as its error; the recipients left out so far are kept with it.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.errors import ServiceError
from app.core.tables import BATCH_CHUNKS as CHUNKS
from app.core.tables import BATCH_INPUTS, BATCHES
from app.lookups.lookup import LookupPolicy
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateError
from app.sending.batch_checks import check_items
from app.sending.chunks import Writing, no_lock
from app.sending.progress import OPEN_STATES, SUBMITTING, add_progress
from app.sending.queue import read_items
from app.sending.recipients import Chooser
from app.sending.submission import mobivate_failure, new_reference
from app.sending.validation import Outgoing

logger = logging.getLogger(__name__)

Kept = tuple[int, Outgoing, str]


@dataclass(frozen=True, slots=True)
class Checks:
    max_parts: int
    region: str | None
    lookups: LookupPolicy


async def claim_batch(
    engine: AsyncEngine, owner: str, lease: timedelta, writing: Writing = no_lock
) -> dict[str, Any] | None:
    """Take the oldest batch still to plan whose lease is free or ran out."""
    now = utcnow()
    candidate = (
        select(BATCHES.c.id)
        .where(
            BATCHES.c.state.in_(OPEN_STATES),
            BATCHES.c.prepared.is_(False),
            (BATCHES.c.lease_until.is_(None)) | (BATCHES.c.lease_until < now),
        )
        .order_by(BATCHES.c.id)
        .limit(1)
    )
    if engine.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    async with writing(), engine.begin() as conn:
        row = (
            (
                await conn.execute(
                    update(BATCHES)
                    .where(BATCHES.c.id == candidate.scalar_subquery())
                    .values(
                        state=SUBMITTING,
                        lease_owner=owner,
                        lease_until=now + lease,
                        updated_at=now,
                    )
                    .returning(*BATCHES.c)
                )
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


class LeaseLost(Exception):
    """Another process took the batch over: this one's lease ran out."""


class Planner:
    def __init__(
        self,
        engine: AsyncEngine,
        mobivate: MobivateClient | None,
        checks: Checks,
        batch: dict[str, Any],
        owner: str,
        lease: timedelta,
        writing: Writing = no_lock,
    ) -> None:
        self._writing = writing
        self._engine = engine
        self._mobivate = mobivate
        self._checks = checks
        self._batch = batch
        self._owner = owner
        self._lease = lease
        self._id: int = batch["id"]
        self._size: int = batch["chunk_size"] or 1000

    async def run(self, on_chunk: Callable[[], None], stopping: Callable[[], bool]) -> None:
        """Plan the batch, calling `on_chunk` after each chunk written; when `stopping()` says
        so, give the batch up (from the first message not yet in a chunk) for another process."""
        async with self._engine.connect() as conn:
            blob = (
                await conn.execute(
                    select(BATCH_INPUTS.c["items"]).where(BATCH_INPUTS.c.batch_id == self._id)
                )
            ).scalar_one()
            planned = (
                await conn.execute(
                    select(CHUNKS.c.number, CHUNKS.c["items"])
                    .where(CHUNKS.c.batch_id == self._id)
                    .order_by(CHUNKS.c.number)
                )
            ).all()
        items = read_items(blob)
        first_index: dict[str, int] = {}
        for _, chunk_items in planned:
            for index, msisdn, *_ in chunk_items:
                first_index.setdefault(msisdn, index)
        number = len(planned)
        chooser = Chooser(
            self._engine,
            self._mobivate,
            self._checks.lookups,
            exclude_duplicates=self._batch["exclude_duplicates"],
            first_index=first_index,
        )
        verify = self._batch["verify_numbers"]
        kept: list[Kept] = []
        skipped: list[dict[str, Any]] = []
        start = self._batch["checked"]
        requested = len(items)
        for begin in range(start, requested, self._size):
            if stopping():
                await self._release()
                return
            end = min(begin + self._size, requested)
            valid, invalid = check_items(
                ((index, tuple(items[index])) for index in range(begin, end)),
                self._batch["originator"],
                max_parts=self._checks.max_parts,
                region=self._checks.region,
            )
            chosen, left_out = await chooser.leave_out(valid)
            kept += chosen
            skipped += invalid + left_out
            while not verify and len(kept) >= self._size:
                number, kept, skipped = await self._write(number, kept, skipped, end)
                on_chunk()
            await asyncio.sleep(0)
        if verify:
            try:
                kept, unreachable = await chooser.verify(kept)
            except (MobivateError, ServiceError) as exc:
                await self._fail(skipped, exc)
                return
            skipped += unreachable
        while kept:
            number, kept, skipped = await self._write(number, kept, skipped, requested)
            on_chunk()
        await self._finish(number, skipped, requested)
        on_chunk()

    async def _write(
        self, number: int, kept: list[Kept], skipped: list[dict[str, Any]], end: int
    ) -> tuple[int, list[Kept], list[dict[str, Any]]]:
        """Write the next chunk; what is left to plan after it."""
        take, rest = kept[: self._size], kept[self._size :]
        cut = rest[0][0] if rest else end
        now_skipped = sorted(
            (s for s in skipped if s["index"] < cut), key=lambda entry: entry["index"]
        )
        later = [s for s in skipped if s["index"] >= cut]
        rows = [
            [
                index,
                message.msisdn,
                message.originator,
                message.text,
                message.reference or new_reference(),
                message.encoding,
                message.parts,
            ]
            for index, message, _ in take
        ]
        async with self._writing(), self._engine.begin() as conn:
            await self._renew(conn, checked=cut)
            await conn.execute(insert(CHUNKS).values(self._chunk(number, rows, now_skipped)))
        return number + 1, rest, later

    def _chunk(
        self, number: int, rows: list[list[Any]], skipped: list[dict[str, Any]]
    ) -> dict[str, Any]:
        now = utcnow()
        return {
            "batch_id": self._id,
            "number": number,
            "state": "pending" if rows else "done",
            "size": len(rows),
            "items": rows,
            "skipped": skipped,
            "created_at": now,
            "updated_at": now,
        }

    async def _release(self) -> None:
        async with self._writing(), self._engine.begin() as conn:
            await conn.execute(
                update(BATCHES)
                .where(BATCHES.c.id == self._id, BATCHES.c.lease_owner == self._owner)
                .values(lease_owner=None, lease_until=None)
            )
        logger.info("batch %d: planning stopped, left for another process", self._id)

    async def _renew(self, conn: AsyncConnection, **values: Any) -> None:
        now = utcnow()
        renewed = await conn.execute(
            update(BATCHES)
            .where(BATCHES.c.id == self._id, BATCHES.c.lease_owner == self._owner)
            .values(lease_until=now + self._lease, updated_at=now, **values)
        )
        if renewed.rowcount != 1:
            raise LeaseLost(f"batch {self._id}")

    async def _finish(self, number: int, skipped: list[dict[str, Any]], requested: int) -> None:
        async with self._writing(), self._engine.begin() as conn:
            await self._renew(conn, checked=requested, prepared=True)
            if skipped:
                await conn.execute(insert(CHUNKS).values(self._chunk(number, [], skipped)))
            total = (
                await conn.execute(select(CHUNKS.c.size).where(CHUNKS.c.batch_id == self._id))
            ).scalars()
            count = sum(total)
            values: dict[str, Any] = {"total": count}
            if count == 0:
                values["error_message"] = (
                    f"no message in the batch can be sent: all {requested} were left out"
                )
            await conn.execute(delete(BATCH_INPUTS).where(BATCH_INPUTS.c.batch_id == self._id))
            await add_progress(conn, self._id, **values)
        logger.info(
            "batch %d: %d message(s) planned, %d left out", self._id, count, requested - count
        )

    async def _fail(self, skipped: list[dict[str, Any]], exc: Exception) -> None:
        if isinstance(exc, MobivateError):
            _, _, message = mobivate_failure(exc)
            status = getattr(exc, "status_code", None)
        else:
            assert isinstance(exc, ServiceError)
            message, status = exc.detail, exc.status
        async with self._writing(), self._engine.begin() as conn:
            await self._renew(conn, prepared=True, total=0)
            await conn.execute(
                update(BATCHES)
                .where(BATCHES.c.id == self._id)
                .values(
                    skipped=sorted(skipped, key=lambda entry: entry["index"]),
                    error_status=status,
                    error_message="the numbers could not be looked up; nothing was sent: "
                    + message,
                )
            )
            await conn.execute(delete(BATCH_INPUTS).where(BATCH_INPUTS.c.batch_id == self._id))
            await add_progress(conn, self._id)
        logger.warning("batch %d: lookups failed, nothing sent: %s", self._id, type(exc).__name__)
