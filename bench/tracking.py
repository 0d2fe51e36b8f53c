"""Cost of delivery tracking on the receipt path, measured at the ingest writer (no HTTP).

    .venv/bin/python bench/tracking.py [--receipts 40000] [--concurrency 64] [--writers 2]

On a throwaway PostgreSQL database (127.0.0.1:5432, user postgres) it stores the same number of
receipts three times through an `IngestWriter` and prints receipts/s for each run:
1. without the delivery hook (what ingestion costs alone);
2. with the hook, receipts for messages we never sent (nothing to link: the miss path);
3. with the hook, receipts (ACCEPTED, then DELIVERED) for messages we sent: each batch links
   its receipts and moves its messages' status.
It then checks that every message of run 3 ended DELIVERED.
"""

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import create_database, drop_database
from sqlalchemy import func, insert, select

from app.core import migrate
from app.core.db import create_engine
from app.core.tables import OutboundMessage
from app.delivery.linking import DeliveryLinking
from app.mobivate.payloads import parse_webhook
from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import IngestWriter, RawWebhook

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def receipt_body(message_id: str, status: str, code: int, seconds: int) -> bytes:
    created = (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    return (
        f'{{"deliveryMessageId":"{message_id}","clientReference":null,"created":"{created}",'
        f'"status":"{status}","statusCode":{code},"parts":1}}'
    ).encode()


def bodies(ids: list[str]) -> list[bytes]:
    out = []
    for index, message_id in enumerate(ids):
        out.append(receipt_body(message_id, "ACCEPTED", 2, index))
        out.append(receipt_body(message_id, "DELIVERED", 1, index + 1))
    return out


async def seed(url: str, ids: list[str]) -> None:
    engine = create_engine(url)
    now = datetime.now(UTC)
    rows = [
        {
            "msisdn": f"4477{i:08d}",
            "originator": "Bench",
            "body": "hello",
            "route_id": "mglobal",
            "reference": uuid.uuid4().hex,
            "encoding": "GSM-7",
            "parts": 1,
            "shorten_urls": False,
            "mobivate_id": message_id,
            "mobivate_id_norm": message_id,
            "submission": "submitted",
            "status": "submitted",
            "status_at": now,
            "status_rank": 0,
            "final": False,
            "created_at": now,
            "submitted_at": now,
            "updated_at": now,
        }
        for i, message_id in enumerate(ids)
    ]
    async with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(OutboundMessage), rows[start : start + 1000])
    await engine.dispose()


async def run(
    url: str, payloads: list[bytes], *, hook: bool, writers: int, concurrency: int
) -> float:
    engine = create_engine(url, pool_size=writers + 2)
    steps = [DeliveryLinking()] if hook else []
    writer = IngestWriter(engine, max_batch=500, writers=writers, steps=steps)
    await writer.start()
    queue = iter(payloads)

    async def client() -> None:
        for body in queue:
            raw = RawWebhook(
                kind=WebhookKind.RECEIPT,
                received_at=datetime.now(UTC),
                body=body,
                content_type="application/json",
                client_addr="127.0.0.1",
                body_size=len(body),
            )
            await writer.store(raw, parse_webhook(WebhookKind.RECEIPT, body, raw.content_type))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await writer.stop()
    await engine.dispose()
    return len(payloads) / elapsed


async def delivered(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(OutboundMessage))
        done = await conn.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.status == "DELIVERED")
        )
    await engine.dispose()
    return int(done or 0), int(total or 0)


async def measure(url: str, args: argparse.Namespace) -> int:
    await asyncio.to_thread(migrate.upgrade, url)
    messages = args.receipts // 2
    sent_ids = [uuid.uuid4().hex.upper() for _ in range(messages)]
    await seed(url, sent_ids)
    options = {"writers": args.writers, "concurrency": args.concurrency}
    runs = [
        ("no tracking", False, [uuid.uuid4().hex.upper() for _ in range(messages)]),
        ("tracking, unknown messages", True, [uuid.uuid4().hex.upper() for _ in range(messages)]),
        ("tracking, our messages", True, sent_ids),
    ]
    for label, hook, ids in runs:
        rate = await run(url, bodies(ids), hook=hook, **options)
        print(f"{label:<28} {rate:8.0f} receipts/s")
    done, total = await delivered(url)
    print(f"messages DELIVERED after run 3: {done} of {total}")
    return 0 if done == total else 1


def main(args: argparse.Namespace) -> int:
    name = create_database()
    try:
        return asyncio.run(measure(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args))
    finally:
        drop_database(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receipts", type=int, default=40_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--writers", type=int, default=2)
    sys.exit(main(parser.parse_args()))
