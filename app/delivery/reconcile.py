"""Reconciliation: asking Mobivate about sent messages that are still not final.

For messages submitted longer ago than `older_than` and still without a final status (batch
messages whose call's outcome is unknown, `submit_unknown`, included), in pages:
1. link receipts that were stored but never linked to them (see `delivery.link_orphans`);
2. ask Mobivate's message log (`GET /message/{id}`) about those with a Mobivate id, a few at
   a time, and record each reported status as a receipt with source "reconciliation" (see
   `app.delivery.log_receipts`); the status rule then decides, as for any receipt, whether it
   becomes the message's status;
3. find those without one (batch messages that never had a receipt: Mobivate's batch answer has
   no per-message ids) with the message-log search, batch by batch, at most `search_pages`
   pages a run (`app.delivery.log_search`), and record what it says the same way.
The report says how many became final by id and by search, and how many Mobivate's log does not
know (404 by id, or not found by a search that covered their batch). A lookup or search that
fails is counted and the run goes on.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.linking import MessageRef, link_orphans, wait_for_receipt_writers
from app.delivery.log_receipts import record_logs
from app.delivery.log_search import settle_by_search
from app.delivery.status_rules import SUBMIT_UNKNOWN, SUBMITTED
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateAuthError, MobivateError, MobivateRefused
from app.mobivate.models import MessageLog

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
    settled_by_id: int = 0
    settled_by_search: int = 0
    found_by_search: int = 0
    not_found_by_search: int = 0
    search_pages: int = 0
    failed_searches: int = 0
    batches_left: int = 0

    @property
    def unknown(self) -> int:
        return self.not_found + self.not_found_by_search


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
    search_pages: int = 20,
) -> ReconcileReport:
    """Raises `MobivateAuthError` at once when Mobivate refuses the API key."""
    cutoff = (now or utcnow()) - older_than
    report = ReconcileReport()
    after_id = 0
    gate = asyncio.Semaphore(concurrency)
    without_id: list[int] = []
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
        without_id += [m.id for m in page if m.id in open_ids and not m.mobivate_id_norm]
        logs = await asyncio.gather(*(_look_up(mobivate, gate, m, report) for m in lookups))
        found = [(m, log) for m, log in zip(lookups, logs, strict=True) if log is not None]
        async with engine.begin() as conn:
            report.recorded += await record_logs(conn, found)
            remaining = await _still_open(conn, [m.id for m in page])
        report.settled_by_id += len(open_ids - remaining)
        report.still_open += len(remaining)
        if progress is not None:
            progress(report)
    report.without_id = len(without_id)
    if without_id and search_pages > 0:
        await _search(engine, mobivate, without_id, search_pages, report, now or utcnow())
    report.now_final = report.settled_by_id + report.settled_by_search
    return report


async def _search(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    without_id: list[int],
    search_pages: int,
    report: ReconcileReport,
    now: datetime,
) -> None:
    searched = await settle_by_search(engine, mobivate, without_id, max_pages=search_pages, now=now)
    async with engine.connect() as conn:
        remaining = await _still_open(conn, sorted(searched.found_ids))
    report.found_by_search = searched.found
    report.recorded += searched.recorded
    report.search_pages = searched.pages
    report.failed_searches = searched.failed_searches
    report.batches_left = searched.batches_left
    report.settled_by_search = len(searched.found_ids - remaining)
    report.still_open -= report.settled_by_search
    report.not_found_by_search = searched.not_found


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
                MESSAGES.c.submission.in_((SUBMITTED, SUBMIT_UNKNOWN)),
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


def parse_duration(text: str, *, zero: bool = False) -> timedelta:
    """'30m', '6h', '2d' (also '45s', '1w'); a positive whole number and one unit ('0s' too
    with `zero`)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, e.g. 30m, 6h, 2d")
    amount = int(value[:-1])
    if amount < 0 or (amount == 0 and not zero):
        raise ValueError(f"{text!r} is not a duration: it must be more than zero")
    return timedelta(**{units[value[-1]]: amount})
