"""Periodic reconciliation (RECONCILE_INTERVAL_MINUTES > 0): every interval, ask Mobivate about
messages still not final after RECONCILE_OLDER_THAN_MINUTES."""

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.background import Worker
from app.delivery.reconcile import reconcile
from app.mobivate.client import MobivateClient

logger = logging.getLogger(__name__)


class PeriodicReconcile:
    def __init__(
        self,
        engine: AsyncEngine,
        mobivate: MobivateClient,
        *,
        interval_seconds: float,
        older_than: timedelta,
        search_pages: int = 20,
    ) -> None:
        self._search_pages = search_pages
        self._engine = engine
        self._mobivate = mobivate
        self._interval = interval_seconds
        self._older_than = older_than
        self.worker = Worker(
            "reconcile", self._step, on_error=self._on_error, first_run_after=interval_seconds
        )

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def _step(self) -> float:
        report = await reconcile(
            self._engine,
            self._mobivate,
            older_than=self._older_than,
            search_pages=self._search_pages,
        )
        if report.examined:
            logger.info(
                "reconciliation: %d examined, %d now final (%d by id, %d by search), %d still "
                "open, %d unknown to Mobivate, %d failed lookups, %d failed searches",
                report.examined,
                report.now_final,
                report.settled_by_id,
                report.settled_by_search,
                report.still_open,
                report.unknown,
                report.failed,
                report.failed_searches,
            )
        return self._interval

    async def _on_error(self, exc: Exception, failures: int) -> float:
        logger.error("reconciliation failed: %s: %s", type(exc).__name__, exc)
        return self._interval
