"""What subscriptions cost: CPU per ingested webhook with 0, 1 and 5 subscriptions, and how fast
one process sends deliveries to a fast local receiver.

    .venv/bin/python bench/subscriptions.py [--webhooks 2000] [--concurrency 32]

On a throwaway PostgreSQL database (127.0.0.1:5432, user postgres) it stores the same number of
incoming-message webhooks three times through the runtime's ingest writer (every after-store
step, as `serve` runs them), with 0, then 1, then 5 subscriptions to incoming messages, and
prints the CPU per webhook of this process and of the PostgreSQL backends (where the trigger that
records the deliveries runs). Then it starts one delivery sender (`app.subscriptions.worker`)
against a receiver answering 204 (`bench/receiver.py` under uvicorn, its own process) and prints
deliveries/s until none is pending, with the CPU per delivery.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (
    REPO,
    backend_pids,
    create_database,
    drop_database,
    free_port,
    process_cpu_seconds,
)
from sqlalchemy import func, insert, select

from app.config import Settings
from app.core import migrate
from app.core.db import utcnow
from app.core.tables import SUBSCRIPTION_DELIVERIES, SUBSCRIPTIONS
from app.mobivate.payloads import parse_webhook
from app.mobivate.vocabulary import WebhookKind
from app.runtime import Runtime, open_runtime
from app.subscriptions import events, signing
from app.webhooks.ingest import RawWebhook


def incoming_body() -> bytes:
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return (
        f'{{"id":"{uuid.uuid4().hex.upper()}","originator":"447700900123","recipient":"12345",'
        f'"body":"thanks, see you then","created":"{created}"}}'
    ).encode()


def cpu(database: str) -> tuple[float, dict[int, float]]:
    """(this process's CPU seconds, CPU seconds of each PostgreSQL backend of `database`)."""
    backends = {pid: process_cpu_seconds(pid) for pid in backend_pids(database)}
    return time.process_time(), backends


def spent(
    start: tuple[float, dict[int, float]], end: tuple[float, dict[int, float]]
) -> tuple[float, float]:
    app = end[0] - start[0]
    db = sum(value - start[1].get(pid, 0.0) for pid, value in end[1].items())
    return app, db


async def add_subscriptions(runtime: Runtime, count: int, url: str) -> None:
    now = utcnow()
    rows = [
        {
            "url": url,
            "event_types": events.encode(["incoming"]),
            "secret": signing.new_secret(),
            "enabled": True,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(count)
    ]
    if rows:
        async with runtime.engine.begin() as conn:
            await conn.execute(insert(SUBSCRIPTIONS), rows)


async def ingest(runtime: Runtime, webhooks: int, concurrency: int) -> None:
    remaining = iter(range(webhooks))

    async def client() -> None:
        for _ in remaining:
            body = incoming_body()
            raw = RawWebhook(
                kind=WebhookKind.INCOMING,
                received_at=datetime.now(UTC),
                body=body,
                content_type="application/json",
                client_addr="127.0.0.1",
                body_size=len(body),
            )
            events_ = parse_webhook(WebhookKind.INCOMING, body, raw.content_type)
            await runtime.ingest.store(raw, events_)

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def pending(runtime: Runtime) -> int:
    async with runtime.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(SUBSCRIPTION_DELIVERIES)
            .where(SUBSCRIPTION_DELIVERIES.c.state == "pending")
        )
    return int(count or 0)


async def drained(runtime: Runtime) -> None:
    for _ in range(100_000):
        if not await pending(runtime):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("deliveries still pending")


async def measure(database: str, url: str, receiver: str, args: argparse.Namespace) -> int:
    await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        environment="development",
        subscription_allow_private=True,
        subscription_poll_interval_seconds=0.05,
        log_level="WARNING",
    )
    async with open_runtime(settings) as runtime:
        await ingest(runtime, 200, args.concurrency)  # warm-up
        baseline = None
        print(f"{'subscriptions':>13} {'app µs/webhook':>15} {'db µs/webhook':>14} {'added µs':>9}")
        total = 0
        for count in (0, 1, 5):
            await add_subscriptions(runtime, count - total, receiver)
            total = count
            start = await asyncio.to_thread(cpu, database)
            await ingest(runtime, args.webhooks, args.concurrency)
            app, db = spent(start, await asyncio.to_thread(cpu, database))
            per = (app + db) / args.webhooks * 1e6
            baseline = per if baseline is None else baseline
            print(
                f"{count:>13} {app / args.webhooks * 1e6:>15.0f} {db / args.webhooks * 1e6:>14.0f}"
                f" {per - baseline:>9.0f}"
            )
        owed = await pending(runtime)
        start = await asyncio.to_thread(cpu, database)
        started = time.perf_counter()
        await runtime.subscriptions.start()
        await drained(runtime)
        elapsed = time.perf_counter() - started
        await runtime.subscriptions.stop()
        app, db = spent(start, await asyncio.to_thread(cpu, database))
        print(
            f"delivered {owed} in {elapsed:.1f} s: {owed / elapsed:.0f} deliveries/s; "
            f"CPU per delivery: app {app / owed * 1e6:.0f} µs, db {db / owed * 1e6:.0f} µs"
        )
    return 0


def main(args: argparse.Namespace) -> int:
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(REPO / "bench"), "receiver:app",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env={**os.environ},
    )  # fmt: skip
    name = create_database()
    try:
        time.sleep(1.0)
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        return asyncio.run(measure(name, url, f"http://127.0.0.1:{port}/hooks", args))
    finally:
        receiver.terminate()
        receiver.wait()
        drop_database(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    sys.exit(main(parser.parse_args()))
