"""Delivery tracking inside the running service: the ingest hook that links receipts, replies and
clicks to sent messages, and (with RECONCILE_INTERVAL_MINUTES > 0) periodic reconciliation."""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.background import cancel_and_wait
from app.delivery import linking as delivery
from app.delivery.reconcile import reconcile
from app.mobivate.client import MobivateClient
from app.webhooks.ingest import IngestWriter

logger = logging.getLogger(__name__)


class DeliveryTasks:
    def __init__(self, task: asyncio.Task[None] | None) -> None:
        self._task = task

    async def stop(self) -> None:
        if self._task is None:
            return
        await cancel_and_wait(self._task)
        self._task = None


def start_delivery(
    settings: Settings, engine: AsyncEngine, writer: IngestWriter, mobivate: MobivateClient | None
) -> DeliveryTasks:
    writer.add_after_store_hook(delivery.after_store)
    task = None
    if settings.reconcile_interval_minutes > 0 and mobivate is not None:
        task = asyncio.create_task(
            _reconcile_periodically(
                engine,
                mobivate,
                interval=settings.reconcile_interval_minutes * 60,
                older_than=timedelta(minutes=settings.reconcile_older_than_minutes),
            ),
            name="reconcile",
        )
    return DeliveryTasks(task)


async def _reconcile_periodically(
    engine: AsyncEngine, mobivate: MobivateClient, *, interval: float, older_than: timedelta
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            report = await reconcile(engine, mobivate, older_than=older_than)
        except Exception as exc:  # the loop must outlive any single failed run
            logger.error("reconciliation failed: %s: %s", type(exc).__name__, exc)
            continue
        if report.examined:
            logger.info(
                "reconciliation: %d examined, %d now final, %d still open, %d failed lookups",
                report.examined,
                report.now_final,
                report.still_open,
                report.failed,
            )
