"""Importing Mobivate's opt-out list into the registry: `sync-optouts`, and optionally periodic.

For each number on Mobivate's list (`GET /addressbook/optout`, paged), in this order:
1. already opted out here: nothing to do;
2. a push for the number is still on its way to Mobivate: skipped, our newer change wins;
3. the record is our own opt-out coming back (its `created` is what Mobivate answered when we
   pushed it): skipped, the original event is already in the history;
4. otherwise an `imported` opt-out event is recorded at the record's `created` time and the
   newest-event rule decides: it opts the number out unless the number was opted back in here
   after that time (then the history shows both and the number stays opted in).
Each record is recorded once however often the import runs (keyed by number and `created`).
Numbers are resolved to E.164 (`app.core.phone.resolve_readings`, with DEFAULT_REGION); one
that reads two ways opts out both readings, one that cannot be resolved is counted as invalid.
A record without a `created` time, or one further ahead of the import than
EVENT_TIME_TOLERANCE_SECONDS, counts as opted out now (the history entry's reason says so).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.background import Worker
from app.core.db import utcnow
from app.core.phone import InvalidPhoneNumber, resolve_readings
from app.core.tables import OPTOUTS, SERVICE_SETTINGS, ServiceSetting
from app.core.tables import OUTBOX_MESSAGES as OUTBOX
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateError
from app.mobivate.models import OptoutRecord
from app.optouts.registry import OptoutChange, record_changes, trusted_event_time

logger = logging.getLogger(__name__)

WATERMARK_KEY = "optout_sync_until"
# Each periodic run reaches this far behind where the previous one ended, so records that
# Mobivate dates a little in the past (or in another timezone) are not missed.
PERIODIC_OVERLAP = timedelta(days=1)


@dataclass(slots=True)
class SyncReport:
    pages: int = 0
    records: int = 0
    imported: int = 0
    already_opted_out: int = 0
    push_in_flight: int = 0
    own_pushes: int = 0
    kept_opted_in: int = 0
    invalid: int = 0

    def summary(self) -> str:
        return (
            f"{self.records} records in {self.pages} pages: {self.imported} opted out, "
            f"{self.already_opted_out} already opted out, {self.kept_opted_in} kept opted in "
            f"(opted in here after Mobivate's record), {self.push_in_flight} with a change "
            f"still being pushed, {self.own_pushes} our own pushes, {self.invalid} invalid numbers"
        )


async def import_optouts(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    *,
    since: date | datetime,
    until: date | datetime,
    page_size: int = 1000,
    region: str | None = None,
    tolerance: timedelta = timedelta(minutes=5),
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Raises MobivateError when a page cannot be fetched; the pages before it are kept."""
    report = SyncReport()
    page = 1
    while True:
        records = await mobivate.list_optouts(since, until, page=page, page_size=page_size)
        report.pages += 1
        report.records += len(records)
        if records:
            async with engine.begin() as conn:
                await _import_page(conn, records, report, region, tolerance)
        if progress is not None:
            progress(report)
        if len(records) < page_size:
            return report
        page += 1


async def _import_page(
    conn: AsyncConnection,
    records: list[OptoutRecord],
    report: SyncReport,
    region: str | None,
    tolerance: timedelta,
) -> None:
    now = utcnow()
    latest: dict[str, OptoutRecord] = {}
    for record in records:
        try:
            readings = resolve_readings(record.mobile, region)
        except InvalidPhoneNumber:
            report.invalid += 1
            continue
        for msisdn in readings:
            latest[msisdn] = record
    numbers = sorted(latest)
    states = dict(
        (
            await conn.execute(
                select(OPTOUTS.c.msisdn, OPTOUTS.c.opted_out).where(OPTOUTS.c.msisdn.in_(numbers))
            )
        ).all()
    )
    in_flight = set(
        (
            await conn.execute(
                select(OUTBOX.c.msisdn).where(
                    OUTBOX.c.msisdn.in_(numbers), OUTBOX.c.state == "pending"
                )
            )
        ).scalars()
    )
    own_rows = await conn.execute(
        select(OUTBOX.c.msisdn, OUTBOX.c.mobivate_created).where(
            OUTBOX.c.msisdn.in_(numbers),
            OUTBOX.c.operation == "optout_add",
            OUTBOX.c.state == "delivered",
            OUTBOX.c.mobivate_created.is_not(None),
        )
    )
    own = {(msisdn, created) for msisdn, created in own_rows}
    changes = []
    for msisdn in numbers:
        record = latest[msisdn]
        if states.get(msisdn):
            report.already_opted_out += 1
        elif msisdn in in_flight:
            report.push_in_flight += 1
        elif record.created is not None and (msisdn, record.created) in own:
            report.own_pushes += 1
        else:
            changes.append(_change(msisdn, record, now, tolerance))
    result = await record_changes(conn, changes, now=now)
    report.imported += len(result.changed)
    report.kept_opted_in += len(changes) - len(result.changed)


def _change(msisdn: str, record: OptoutRecord, now: datetime, tolerance: timedelta) -> OptoutChange:
    if record.created is not None:
        key = f"imported:{msisdn}:{int(record.created.timestamp() * 1000)}"
    else:
        key = f"imported:{msisdn}:id:{record.id}"
    note = f" (note: {record.note})" if record.note else ""
    event_at, untrusted = trusted_event_time(record.created, now, tolerance)
    clock = f"; {untrusted}" if untrusted else ""
    return OptoutChange(
        msisdn=msisdn,
        action="opt_out",
        source="imported",
        event_at=event_at,
        written_as=record.mobile,
        reason=f"on Mobivate's opt-out list{note}{clock}",
        dedupe_key=key,
    )


class PeriodicOptoutSync:
    """Imports recent opt-outs at start and then every `interval_minutes`. Each run starts
    `PERIODIC_OVERLAP` before the end of the previous successful run (kept in the database), or
    that far before now the first time: import older history once with `sync-optouts`."""

    def __init__(
        self,
        engine: AsyncEngine,
        mobivate: MobivateClient,
        *,
        interval_minutes: float,
        page_size: int = 1000,
        region: str | None = None,
        tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        self._engine = engine
        self._mobivate = mobivate
        self._interval = interval_minutes * 60
        self._page_size = page_size
        self._region = region
        self._tolerance = tolerance
        self.worker = Worker("optout-sync", self._step, on_error=self._on_error)

    async def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def _step(self) -> float:
        await self.run_once()
        return self._interval

    async def _on_error(self, exc: Exception, failures: int) -> float:
        if isinstance(exc, MobivateError):
            logger.warning("opt-out sync: Mobivate: %s", exc)
        else:
            logger.exception("opt-out sync failed", exc_info=exc)
        return self._interval

    async def run_once(self) -> SyncReport:
        started = utcnow()
        watermark = await self._watermark()
        since = (watermark or started) - PERIODIC_OVERLAP
        report = await import_optouts(
            self._engine,
            self._mobivate,
            since=since,
            until=started,
            page_size=self._page_size,
            region=self._region,
            tolerance=self._tolerance,
        )
        await self._save_watermark(started)
        logger.info("opt-out sync: %s", report.summary())
        return report

    async def _watermark(self) -> datetime | None:
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                select(ServiceSetting.value).where(ServiceSetting.key == WATERMARK_KEY)
            )
        return datetime.fromisoformat(value).astimezone(UTC) if value else None

    async def _save_watermark(self, value: datetime) -> None:
        table = SERVICE_SETTINGS
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(
            key=WATERMARK_KEY, value=value.isoformat(), created_at=value
        )
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": statement.excluded.value}
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)
