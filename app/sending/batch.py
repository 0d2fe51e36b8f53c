"""Sending a campaign through Mobivate (`POST /api/v1/batches`).

Before anything is sent, recipients that are invalid, opted out, (with `exclude_duplicates`)
repeated or (with `verify_numbers`) unreachable by Mobivate's number lookup are left out and
reported one by one (`app.sending.recipients`). The rest go to Mobivate in calls of at most
`BATCH_CHUNK_SIZE` messages (Mobivate takes 1,000). Just before each call after the first (checked
with the whole batch a moment earlier) the registry is asked again about that call's recipients,
so a STOP that arrives while a large batch is being sent protects the later calls: those
recipients are left out as `opted_out` too. Each call's messages are stored as `submitting` (and
committed) right before it, each with a reference unique within the batch (the caller's, or one
we assign): Mobivate's batch answer carries no per-message ids, so receipts are matched by the
reference they echo. Every call asks Mobivate to leave out numbers on its own opt-out list
(`excludeOptouts`). Calls are never retried; after a failed call the
remaining ones are not made, and those messages are stored as `submit_failed`.

The answer is 201 when at least one call was accepted (the batch `state` says whether all were),
otherwise the failure of the first call (see `app.sending.single.mobivate_failure`).
"""

import logging
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.phone import mobivate_digits
from app.core.tables import BATCHES
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.status_rules import SUBMIT_FAILED, SUBMITTED
from app.lookups.lookup import LookupPolicy
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateError, MobivateRefused, MobivateUnavailable
from app.mobivate.models import BatchItem, BatchRequest
from app.mobivate.vocabulary import normalise_id
from app.optouts.registry import is_opted_out
from app.sending.batch_checks import PreparedBatch, skip
from app.sending.idempotency import Attempt, Reply
from app.sending.recipients import choose_recipients
from app.sending.submission import (
    failure_detail,
    message_row,
    mobivate_failure,
    new_reference,
    optout_reasons,
    record_submission,
)
from app.sending.validation import Outgoing
from app.sending.views import load_batch

logger = logging.getLogger(__name__)

BATCH_ENDPOINT = "POST /api/v1/batches"


async def send_batch(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    prepared: PreparedBatch,
    attempt: Attempt,
    lookups: LookupPolicy,
) -> Reply:
    return await _BatchSender(engine, mobivate, prepared, attempt, lookups).run()


class _BatchSender:
    def __init__(
        self,
        engine: AsyncEngine,
        mobivate: MobivateClient,
        prepared: PreparedBatch,
        attempt: Attempt,
        lookups: LookupPolicy,
    ) -> None:
        self.lookups = lookups
        self.engine = engine
        self.mobivate = mobivate
        self.prepared = prepared
        self.attempt = attempt
        self.references: dict[int, str] = {}
        self.raw_to: dict[int, str] = {}

    async def run(self) -> Reply:
        prepared = self.prepared
        chosen = await choose_recipients(self.engine, self.mobivate, prepared, self.lookups)
        kept, skipped = chosen.kept, chosen.skipped
        if not kept:
            detail = f"no message in the batch can be sent: all {prepared.requested} were left out"
            return Reply(422, {"detail": detail, "skipped": skipped})

        self.raw_to = {index: raw_to for index, _, raw_to in prepared.items}
        self.references = {index: message.reference or new_reference() for index, message in kept}
        batch_id = await self._store_batch(skipped)
        size = prepared.chunk_size
        chunks = [kept[i : i + size] for i in range(0, len(kept), size)]
        stored: list[tuple[int, Outgoing]] = []
        ids: dict[int, int] = {}
        accepted: list[str] = []
        failure: MobivateError | None = None
        for number, chunk in enumerate(chunks):
            if failure is None and number > 0:  # the first was checked with the whole batch
                chunk = await self._leave_out_late_optouts(batch_id, chunk, skipped)
                if not chunk:
                    continue
            chunk_ids = await self._store_messages(batch_id, chunk)
            ids.update(chunk_ids)
            stored.extend(chunk)
            message_ids = [chunk_ids[index] for index, _ in chunk]
            if failure is not None:
                await self._mark(
                    message_ids, SUBMIT_FAILED, None, "not sent: an earlier call failed"
                )
                continue
            try:
                self.attempt.mobivate_called = True
                sent = await self.mobivate.send_batch(self._request(chunk))
            except MobivateError as exc:
                failure = exc
                _, outcome, error = mobivate_failure(exc)
                logger.warning(
                    "batch %d: call %d of %d failed: %s", batch_id, number + 1, len(chunks), error
                )
                await self._mark(message_ids, outcome, _status_code(exc), error)
                continue
            accepted.append(sent.id)
            await self._accepted(message_ids, sent.id)
        return await self._finish(batch_id, stored, ids, accepted, failure)

    async def _leave_out_late_optouts(
        self, batch_id: int, chunk: list[tuple[int, Outgoing]], skipped: list[dict[str, Any]]
    ) -> list[tuple[int, Outgoing]]:
        """The chunk without recipients opted out since the batch was checked; those are added
        to `skipped` (and to the stored batch) as `opted_out`."""
        late = await is_opted_out(self.engine, [message.msisdn for _, message in chunk])
        if not late:
            return chunk
        async with self.engine.begin() as conn:
            reasons = await optout_reasons(conn, late)
            for index, message in chunk:
                if message.msisdn in late:
                    reason = reasons.get(message.msisdn, "opted out")
                    detail = f"{message.msisdn} has {reason}, while the batch was being sent"
                    skipped.append(skip(index, self.raw_to[index], "opted_out", detail))
            skipped.sort(key=lambda entry: entry["index"])
            await conn.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id)
                .values(skipped=skipped, updated_at=utcnow())
            )
        logger.info("batch %d: %d recipient(s) opted out while it was sent", batch_id, len(late))
        return [(index, message) for index, message in chunk if message.msisdn not in late]

    async def _store_batch(self, skipped: list[dict[str, Any]]) -> int:
        prepared = self.prepared
        now = utcnow()
        async with self.engine.begin() as conn:
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
                        state="submitting",
                        requested=prepared.requested,
                        skipped=skipped,
                        mobivate_batch_ids=[],
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(BATCHES.c.id)
                )
            ).scalar_one()
        return batch_id

    async def _store_messages(
        self, batch_id: int, chunk: list[tuple[int, Outgoing]]
    ) -> dict[int, int]:
        """Store one call's messages as `submitting`; their ids by position in the request."""
        prepared = self.prepared
        now = utcnow()
        rows = [
            message_row(
                message,
                route_id=prepared.route_id,
                shorten_urls=prepared.shorten_urls,
                schedule_at=prepared.schedule_at,
                now=now,
                batch_id=batch_id,
            )
            | {"reference": self.references[index]}
            for index, message in chunk
        ]
        index_by_reference = {self.references[index]: index for index, _ in chunk}
        ids: dict[int, int] = {}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(MESSAGES).returning(MESSAGES.c.id, MESSAGES.c.reference), rows
            )
            for message_id, reference in result.all():
                ids[index_by_reference[reference]] = message_id
        return ids

    def _request(self, chunk: list[tuple[int, Outgoing]]) -> BatchRequest:
        prepared = self.prepared
        return BatchRequest(
            recipients=tuple(
                BatchItem(
                    originator=message.originator,
                    recipient=mobivate_digits(message.msisdn),
                    text=message.text,
                    reference=self.references[index],
                )
                for index, message in chunk
            ),
            route_id=prepared.route_id,
            name=prepared.name,
            shorten_urls=prepared.shorten_urls or None,
            exclude_optouts=True,
            exclude_duplicates=prepared.exclude_duplicates,
            spread_hours=prepared.spread_hours,
            schedule_date_time=prepared.schedule_at,
        )

    async def _accepted(self, message_ids: list[int], mobivate_batch_id: str) -> None:
        async with self.engine.begin() as conn:
            await record_submission(
                conn,
                message_ids,
                SUBMITTED,
                utcnow(),
                mobivate_batch_id=mobivate_batch_id,
                mobivate_batch_id_norm=normalise_id(mobivate_batch_id),
            )

    async def _mark(
        self, message_ids: list[int], outcome: str, status_code: int | None, error: str
    ) -> None:
        async with self.engine.begin() as conn:
            await record_submission(
                conn, message_ids, outcome, utcnow(), error_status=status_code, error_message=error
            )

    async def _finish(
        self,
        batch_id: int,
        kept: list[tuple[int, Outgoing]],
        ids: dict[int, int],
        accepted: list[str],
        failure: MobivateError | None,
    ) -> Reply:
        state = "submitted" if failure is None else "partially_submitted" if accepted else "failed"
        values: dict[str, Any] = {
            "state": state,
            "mobivate_batch_ids": accepted,
            "updated_at": utcnow(),
        }
        if failure is not None:
            values["error_status"] = _status_code(failure)
            values["error_message"] = mobivate_failure(failure)[2]
        async with self.engine.begin() as conn:
            await conn.execute(update(BATCHES).where(BATCHES.c.id == batch_id).values(**values))
            body = await load_batch(conn, batch_id)
            statuses = dict(
                (
                    await conn.execute(
                        select(MESSAGES.c.id, MESSAGES.c.status).where(
                            MESSAGES.c.batch_id == batch_id
                        )
                    )
                ).all()
            )
        assert body is not None
        body["messages"] = [
            {
                "index": index,
                "id": ids[index],
                "to": message.msisdn,
                "reference": self.references[index],
                "encoding": message.encoding,
                "parts": message.parts,
                "status": statuses[ids[index]],
            }
            for index, message in kept
        ]
        if failure is None or accepted:
            return Reply(201, body)
        status = mobivate_failure(failure)[0]
        return Reply(int(status), {"detail": failure_detail(failure, "batch"), **body})


def _status_code(exc: MobivateError) -> int | None:
    return exc.status_code if isinstance(exc, MobivateRefused | MobivateUnavailable) else None
