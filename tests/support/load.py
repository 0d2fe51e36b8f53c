"""A load generator posting delivery receipts to the service at a steady rate."""

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.bodies import receipt
from tests.support.webhooks import webhook_url


@dataclass
class LoadReport:
    posted: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    failed_to_connect: int = 0
    acknowledged: set[str] = field(default_factory=set)
    keys_posted: set[str] = field(default_factory=set)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.answers.items() if status >= 500)


class WebhookLoad:
    """Posts delivery receipts at a steady rate: new ones, and every `duplicate_every`-th a
    repeat of one posted earlier (maybe before a fault). Each answer is recorded; a receipt is
    acknowledged when some post of it got 200."""

    def __init__(self, base_urls: list[str], rate: float, *, duplicate_every: int = 4) -> None:
        self.base_urls = base_urls
        self.rate = rate
        self.duplicate_every = duplicate_every
        self.report = LoadReport()
        self._numbers = itertools.count()
        self._random = random.Random(7)
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def body(self, key: str) -> dict[str, Any]:
        return receipt(key, batch="FAULTBATCH", created="2026-11-22T10:00:00.000+00:00")

    def _next_key(self) -> str:
        number = next(self._numbers)
        if number % self.duplicate_every == self.duplicate_every - 1 and self.report.keys_posted:
            return self._random.choice(sorted(self.report.keys_posted))
        return f"FAULT{number:08d}"

    async def _post(self, client: httpx.AsyncClient, key: str) -> None:
        self.report.posted += 1
        self.report.keys_posted.add(key)
        base = self.base_urls[self.report.posted % len(self.base_urls)]
        try:
            response = await client.post(base + webhook_url("receipt"), json=self.body(key))
        except httpx.TransportError:
            self.report.failed_to_connect += 1
            return
        self.report.answers[response.status_code] += 1
        if response.status_code == 200:
            self.report.acknowledged.add(key)

    async def run(self) -> None:
        interval = 1 / self.rate
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            while not self._stop.is_set():
                task = asyncio.create_task(self._post(client, self._next_key()))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                next_at += interval
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(0, next_at - loop.time()))
            await asyncio.gather(*self._tasks)

    def stop(self) -> None:
        self._stop.set()


@asynccontextmanager
async def steady_load(base_urls: list[str], rate: float) -> AsyncIterator[WebhookLoad]:
    load = WebhookLoad(base_urls, rate)
    task = asyncio.create_task(load.run())
    try:
        yield load
    finally:
        load.stop()
        await task
