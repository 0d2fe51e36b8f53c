"""Riding out a database outage: divert webhook requests to the spool, drain it when the
database answers again.

The webhook route diverts a request to the spool when the ingest writer reports the database
unavailable, and keeps diverting every request while the spool holds anything, so entries are
stored in arrival order. A background task checks the database every SPOOL_DRAIN_INTERVAL_SECONDS
while there is something to drain; once it answers, entries are replayed oldest first through
the same path as live traffic (`app.webhooks.intake`), with their original request id and
received time, so an event posted again across the outage is absorbed by the unique keys. An
entry is deleted only after the transaction holding it has committed. Spool files left behind
by processes that are gone are drained too.

The drain never waits behind one entry: an entry the database answers for but will not store is
moved to the quarantine (`app.webhooks.quarantine`: kept, listed, replayable) and the drain moves
on. Only an unreachable database stops it.
"""

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.background import Worker
from app.core.metrics import SPOOL_BYTES, SPOOL_ENTRIES, SPOOL_OLDEST_AGE, SPOOL_REPLAYED
from app.core.tables import WebhookRequest
from app.webhooks import intake
from app.webhooks.ingest import (
    IngestRefused,
    IngestRejected,
    IngestUnavailable,
    IngestWriter,
    RawWebhook,
    refusal_reason,
)
from app.webhooks.quarantine import Quarantine
from app.webhooks.spool import SpooledRequest, SpoolFile, adopt_orphans, open_own_spool

logger = logging.getLogger(__name__)

DRAIN_CHUNK = 200


class OutageSpool:
    def __init__(
        self,
        own: SpoolFile,
        *,
        engine: AsyncEngine,
        writer: IngestWriter,
        quarantine: Quarantine,
        max_body_bytes: int,
        interval: float,
    ) -> None:
        self._own = own
        self.quarantine = quarantine
        self._engine = engine
        self._writer = writer
        self._max_body_bytes = max_body_bytes
        self._interval = interval
        self._orphans: list[SpoolFile] = []
        self.worker = Worker("spool-drain", self._step, on_error=self._on_error)
        # Left over from before a restart: drain it before storing anything new.
        self.diverting = own.entries > 0
        own.on_change = self._publish
        self._publish()

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        for spool in [*self._orphans, self._own]:
            await spool.close()

    async def keep(self, raw: RawWebhook) -> None:
        """Keep `raw` on disk until the database takes it; raises SpoolFull."""
        if not self.diverting:
            logger.warning("database unavailable: keeping webhook requests in the outage spool")
            self.diverting = True
        await self._own.put(raw)

    def status(self) -> dict[str, Any]:
        files = [self._own, *self._orphans]
        return {
            "entries": sum(f.entries for f in files),
            "bytes": sum(f.bytes for f in files),
            "oldest_age_seconds": round(max(f.oldest_age_seconds() for f in files), 3),
            "diverting": self.diverting,
            "full": self._own.bytes + self._max_body_bytes > self._own.max_bytes,
        }

    def _publish(self) -> None:
        status = self.status()
        SPOOL_ENTRIES.set(status["entries"])
        SPOOL_BYTES.set(status["bytes"])
        SPOOL_OLDEST_AGE.set(status["oldest_age_seconds"])

    async def _step(self) -> float:
        try:
            await self._drain_all()
        finally:
            self._publish()
        return self._interval

    async def _on_error(self, exc: Exception, failures: int) -> float:
        logger.exception("draining the outage spool failed; will retry", exc_info=exc)
        return self._interval

    async def _drain_all(self) -> None:
        await adopt_orphans(self._own.path.parent, self._own, self._orphans)
        for spool in self._orphans:
            spool.on_change = self._publish
        if not any(f.entries for f in [self._own, *self._orphans]):
            self.diverting = False
            return
        if not await self._database_answers():
            return
        for orphan in list(self._orphans):
            if await self._drain(orphan):
                self._orphans.remove(orphan)
                await orphan.close()
        if await self._drain(self._own) and self.diverting:
            self.diverting = False
            logger.warning("outage spool drained: storing webhook requests directly again")

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(10), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            logger.debug("database still unavailable: %r", exc)
            return False
        return True

    async def _drain(self, spool: SpoolFile) -> bool:
        """Replay `spool` oldest first; True once it is empty."""
        while spool.entries:
            entries = await spool.first(DRAIN_CHUNK)
            if not entries:
                return True
            done, unavailable = await self._replay(entries)
            await spool.remove(done)
            SPOOL_REPLAYED.inc(len(done))
            if unavailable:
                return False
        return True

    async def _replay(self, entries: list[SpooledRequest]) -> tuple[list[SpooledRequest], bool]:
        """The entries now held by the database, and whether it failed on some."""
        async with self._engine.connect() as conn:
            kept = set(
                await conn.scalars(
                    select(WebhookRequest.id).where(
                        WebhookRequest.id.in_([entry.raw.id for entry in entries])
                    )
                )
            )
        todo = [entry for entry in entries if entry.raw.id not in kept]
        results = await asyncio.gather(
            *(self._replay_one(entry.raw) for entry in todo), return_exceptions=True
        )
        done = [entry for entry in entries if entry.raw.id in kept]
        unavailable = False
        for entry, result in zip(todo, results, strict=True):
            if result is None:
                done.append(entry)
            elif isinstance(result, IngestUnavailable):
                unavailable = True
            elif await self._quarantined(entry.raw, result):
                done.append(entry)
            else:
                unavailable = True
        return done, unavailable

    async def _quarantined(self, raw: RawWebhook, failure: BaseException) -> bool:
        """Move an entry the database will not store to the quarantine; False if that failed."""
        reason = failure.message if isinstance(failure, IngestRejected) else refusal_reason(failure)
        logger.error("spooled request %s quarantined: %s", raw.id, reason)
        try:
            await self.quarantine.add(raw, reason)
        except Exception as exc:
            logger.error("could not quarantine spooled request %s: %r", raw.id, exc)
            return False
        return True

    async def _replay_one(self, raw: RawWebhook) -> None:
        examined = intake.examine(raw, self._max_body_bytes)
        with contextlib.suppress(IngestRefused):  # kept as unparsed: done
            await intake.store(self._writer, raw, examined)


async def open_outage_spool(
    settings: Settings, engine: AsyncEngine, writer: IngestWriter, quarantine: Quarantine
) -> OutageSpool:
    """Open this process's spool and start draining it. Call it once every after-store hook
    is on the writer, so replayed events get the same handling as live ones."""
    own = await open_own_spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
    spool = OutageSpool(
        own,
        engine=engine,
        writer=writer,
        quarantine=quarantine,
        max_body_bytes=settings.max_body_bytes,
        interval=settings.spool_drain_interval_seconds,
    )
    await quarantine.publish()
    spool.start()
    return spool
