"""Pieces of the fault tests: the service as a real process, the fake Mobivate as a real server
that can refuse connections, and a load generator posting webhooks at a steady rate."""

import asyncio
import itertools
import os
import random
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Receipt
from app.fake_mobivate import FakeMobivate
from tests.pg_cluster import free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = "fault-test-secret-0123456789abcdef"
API_TOKEN = "fault-test-api-token"
MOBIVATE_KEY = "fault-test-mobivate-key"


class ServiceProcess:
    """`python -m app.cli serve` with the given environment, on its own port."""

    def __init__(self, workdir: Path, env: dict[str, str], *, workers: int = 1) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "WEBHOOK_SECRET": SECRET,
            "API_TOKENS": API_TOKEN,
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            "MIGRATE_ON_START": "false",
            "SPOOL_DIR": str(workdir / "spool"),
            "SPOOL_DRAIN_INTERVAL_SECONDS": "0.2",
            "REGISTER_WEBHOOKS": "false",
            "PYTHONPATH": str(REPO),  # the code under test, wherever the package is installed from
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = (self.workdir / f"service-{self.port}-{self.starts}.log").open("wb")
        command = ["-m", "app.cli", "serve", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=self.env, cwd=self.workdir, stderr=log, stdout=log,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        await self.wait_until_up()

    async def wait_until_up(self, within: float = 60) -> None:
        async with asyncio.timeout(within), httpx.AsyncClient(base_url=self.base_url) as client:
            while True:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"service exited: {self.log_tail()}")
                with suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no flush, nothing."""
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            await self.kill()

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob(f"service-{self.port}-*.log"))
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in logs)

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


@asynccontextmanager
async def service(
    workdir: Path, env: dict[str, str], **kwargs: Any
) -> AsyncIterator[ServiceProcess]:
    process = ServiceProcess(workdir, env, **kwargs)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


class FakeMobivateServer:
    """The fake Mobivate on a loopback port; `stop()` makes the port refuse connections and
    `start()` brings the same fake (same state) back."""

    def __init__(self) -> None:
        self.fake = FakeMobivate(api_key=MOBIVATE_KEY)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self.fake.app, host="127.0.0.1", port=self.port, log_config=None,
            lifespan="off", ws="none", access_log=False,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the fake Mobivate did not start")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@asynccontextmanager
async def fake_mobivate_server() -> AsyncIterator[FakeMobivateServer]:
    server = FakeMobivateServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await server.fake.aclose()


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
        return {
            "deliveryMessageId": key,
            "batchId": "FAULTBATCH",
            "status": "DELIVERED",
            "statusCode": 1,
            "created": "2026-11-22T10:00:00.000+00:00",
        }

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
            response = await client.post(f"{base}/webhooks/{SECRET}/receipt", json=self.body(key))
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


async def eventually(check: Any, *, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s")
        await asyncio.sleep(0.1)


async def stored_receipts(engine: AsyncEngine, keys: set[str]) -> dict[str, int]:
    """How many rows each of `keys` has in `receipts`."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(Receipt.message_id_norm, func.count())
            .where(Receipt.message_id_norm.in_(sorted(keys)))
            .group_by(Receipt.message_id_norm)
        )
        return {key: int(count) for key, count in rows.all()}


def mobivate_env(fake: FakeMobivateServer, database: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database,
        "MOBIVATE_BASE_URL": fake.base_url,
        "MOBIVATE_API_KEY": MOBIVATE_KEY,
        "MOBIVATE_TIMEOUT_SECONDS": "2",
        "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "OUTBOX_BACKOFF_INITIAL_SECONDS": "0.2",
        "OUTBOX_BACKOFF_MAX_SECONDS": "1",
        **extra,
    }


def stop_message(number: str, body: str, created: datetime) -> dict[str, Any]:
    return {
        "id": f"{uuid.uuid4().hex.upper()}",
        "originator": number,
        "recipient": "12345",
        "body": body,
        "created": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }
