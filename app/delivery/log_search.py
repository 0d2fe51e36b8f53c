"""Settling batch messages that never got a receipt, from Mobivate's message-log search.

Mobivate's answer to a batch send carries no per-message ids, so a batch message whose receipts
never came has no id to look up with `GET /message/{id}`. Its log entry can still be found with
the search (`GET /message?startDate&endDate&direction=MT`, API reference §7.1): for each of our
batches, the window from its first submission to its last one (or its schedule plus its spread),
widened by `WINDOW_MARGIN` on either side, is read page by page (1,000 entries a page, the most
Mobivate allows) until every open message of the batch is found or the pages run out. A log entry
is matched by its `senderReference` (the reference we sent, unique within a batch) and its
recipient. What it says is recorded like any reconciliation result (`app.delivery.log_receipts`),
which also records the message's Mobivate id, so later runs look it up directly.

A run reads at most `max_pages` pages over all batches; batches not reached wait for the next
run. A search that fails is counted and the run goes on with the next batch.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import BATCHES
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.linking import MessageRef, wait_for_receipt_writers
from app.delivery.log_receipts import record_logs
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateAuthError, MobivateError
from app.mobivate.models import MessageLog

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
WINDOW_MARGIN = timedelta(minutes=15)
_CHUNK = 5000


@dataclass(slots=True)
class SearchReport:
    searched: int = 0
    found: int = 0
    # Open messages of batches searched to their last page and not found there.
    not_found: int = 0
    recorded: int = 0
    pages: int = 0
    failed_searches: int = 0
    batches_left: int = 0
    found_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Open:
    id: int
    msisdn: str
    reference: str


@dataclass(slots=True)
class _Batch:
    batch_id: int | None
    start: datetime
    end: datetime
    messages: dict[tuple[str, str], _Open]


async def settle_by_search(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    message_ids: list[int],
    *,
    max_pages: int,
    now: datetime | None = None,
) -> SearchReport:
    """Raises `MobivateAuthError` at once when Mobivate refuses the API key."""
    report = SearchReport(searched=len(message_ids))
    batches = await _batches(engine, message_ids, now or utcnow())
    for index, batch in enumerate(batches):
        if report.pages >= max_pages:
            report.batches_left = len(batches) - index
            break
        try:
            await _search(engine, mobivate, batch, max_pages, report)
        except MobivateAuthError:
            raise
        except MobivateError as exc:
            report.failed_searches += 1
            logger.warning("batch %s: message-log search failed: %s", batch.batch_id, exc)
    return report


async def _search(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    batch: _Batch,
    max_pages: int,
    report: SearchReport,
) -> None:
    wanted = batch.messages
    page = 1
    while wanted and report.pages < max_pages:
        logs = await mobivate.search_messages(
            batch.start, batch.end, page=page, page_size=PAGE_SIZE, direction="MT"
        )
        report.pages += 1
        found: list[tuple[MessageRef, MessageLog]] = []
        for log in logs:
            key = ((log.sender_reference or "").strip(), _digits(log.recipient))
            message = wanted.pop(key, None)
            if message is not None:
                found.append((MessageRef(message.id, None, message.reference, None), log))
        if found:
            report.found += len(found)
            report.found_ids.update(ref.id for ref, _ in found)
            async with engine.begin() as conn:
                await wait_for_receipt_writers(conn)
                report.recorded += await record_logs(conn, found)
        if len(logs) < PAGE_SIZE:
            report.not_found += len(wanted)
            return
        page += 1


async def _batches(engine: AsyncEngine, message_ids: list[int], now: datetime) -> list[_Batch]:
    """The open messages grouped by batch, each batch with the window to search, oldest first."""
    grouped: dict[int | None, list[tuple[_Open, datetime, datetime]]] = defaultdict(list)
    spread = func.coalesce(BATCHES.c.spread_hours, 0)
    async with engine.connect() as conn:
        for start in range(0, len(message_ids), _CHUNK):
            rows = await conn.execute(
                select(
                    MESSAGES.c.id,
                    MESSAGES.c.batch_id,
                    MESSAGES.c.msisdn,
                    MESSAGES.c.reference,
                    MESSAGES.c.submitted_at,
                    MESSAGES.c.schedule_at,
                    spread,
                )
                .select_from(MESSAGES.outerjoin(BATCHES, BATCHES.c.id == MESSAGES.c.batch_id))
                .where(
                    MESSAGES.c.id.in_(message_ids[start : start + _CHUNK]),
                    MESSAGES.c.final.is_(False),
                    MESSAGES.c.submitted_at.is_not(None),
                )
            )
            for id_, batch_id, msisdn, reference, submitted_at, schedule_at, hours in rows.all():
                latest = max(submitted_at, schedule_at or submitted_at)
                latest += timedelta(hours=hours or 0)
                grouped[batch_id].append((_Open(id_, msisdn, reference), submitted_at, latest))
    batches = []
    for batch_id, entries in grouped.items():
        first = min(submitted for _, submitted, _ in entries) - WINDOW_MARGIN
        last = _next_second(min(max(latest for _, _, latest in entries) + WINDOW_MARGIN, now))
        messages = {(entry.reference, _digits(entry.msisdn)): entry for entry, _, _ in entries}
        batches.append(_Batch(batch_id, first, max(first, last), messages))
    batches.sort(key=lambda batch: batch.start)
    return batches


def _next_second(value: datetime) -> datetime:
    """Mobivate takes whole seconds: round the end of a window up, so it keeps its last one."""
    whole = value.replace(microsecond=0)
    return whole if whole == value else whole + timedelta(seconds=1)


def _digits(recipient: str | None) -> str:
    return (recipient or "").strip().lstrip("+")
