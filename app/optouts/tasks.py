"""Wiring the opt-out registry into a running service: the incoming-keyword hook, the outbox
worker and the optional periodic import of Mobivate's list."""

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.mobivate_clients import mobivate_client
from app.optouts.incoming import IncomingKeywords
from app.optouts.keywords import KeywordRules
from app.optouts.outbox import OutboxWorker
from app.optouts.sync import PeriodicOptoutSync
from app.webhooks.ingest import IngestWriter


def keyword_rules(settings: Settings) -> KeywordRules:
    return KeywordRules.from_csv(
        settings.optout_keywords, settings.optin_keywords, settings.help_keywords
    )


@dataclass(slots=True)
class OptoutTasks:
    outbox: OutboxWorker
    sync: PeriodicOptoutSync | None

    def wake(self) -> None:
        """Deliver pushes now: call after committing a transaction that enqueued some."""
        self.outbox.wake()

    async def stop(self) -> None:
        if self.sync is not None:
            await self.sync.stop()
        await self.outbox.stop()


async def start_optouts(
    settings: Settings, engine: AsyncEngine, writer: IngestWriter, http: httpx.AsyncClient
) -> OptoutTasks:
    rules = keyword_rules(settings)
    # The outbox is the retry mechanism for pushes, so its client makes one try per attempt.
    outbox = OutboxWorker(
        engine,
        mobivate_client(settings, http, retry_attempts=1),
        poll_interval=settings.outbox_poll_interval_seconds,
        backoff_initial=settings.outbox_backoff_initial_seconds,
        backoff_max=settings.outbox_backoff_max_seconds,
        lease_seconds=settings.outbox_lease_seconds,
    )
    keywords = IncomingKeywords(rules, outbox.wake)
    writer.add_after_store_hook(keywords.after_store)
    writer.add_after_commit_hook(keywords.after_commit)
    await outbox.start()
    sync = None
    mobivate = mobivate_client(settings, http)
    if settings.optout_sync_interval_minutes > 0 and mobivate is not None:
        sync = PeriodicOptoutSync(
            engine,
            mobivate,
            interval_minutes=settings.optout_sync_interval_minutes,
            page_size=settings.optout_sync_page_size,
        )
        await sync.start()
    return OptoutTasks(outbox, sync)
