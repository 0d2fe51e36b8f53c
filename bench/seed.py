"""Seed a PostgreSQL database for the REST API latency benchmark (bench/api_latency.py).

    .venv/bin/python bench/seed.py [--receipts 1000000] [--days 90] [--database bench_api]

Drops and re-creates the database on 127.0.0.1:5432 (user postgres, trust auth), applies the
migrations, then loads with COPY, spread evenly over the last `--days` days:
- messages: receipts / 2.5, 60 % of them in batches of 5,000, to 200,000 distinct numbers;
  85 % DELIVERED (5 s to 10 min after submission), 8 % failed, 7 % still pending;
- receipts: ACCEPTED and the final status of each message, the rest unlinked interim receipts;
- incoming messages: receipts / 20 (a third of them replies to a message); clicks: receipts / 16;
- opt-out events: receipts / 500.
Then VACUUM ANALYZE, and the message figures of the past hours and whole days are kept
(stats_hours, stats_days), as the running service does in the background. Deterministic (seeded
random), so two runs give the same data.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.db import create_engine
from app.core.migrate import upgrade
from app.stats.rollup import refresh

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
NUMBERS = 200_000
BATCH_SIZE = 5_000
FAILURES = [("UNDELIVERABLE", 5), ("EXPIRED", 3), ("REJECTED", 7), ("FAILED_NOROUTE", 12)]
INTERIM = [("INTERIM_QUEUED", 8), ("INTERIM_ACKNOWLEDGED", 9), ("RETRY", 10), ("UNKNOWN", 6)]


# The registry's current state: the newest event of each number.
CURRENT_OPTOUTS = """
INSERT INTO optouts (msisdn, opted_out, changed_at, source, keyword, reason, updated_at)
SELECT DISTINCT ON (msisdn) msisdn, action = 'opt_out', event_at, source, keyword, reason,
       recorded_at
FROM optout_events ORDER BY msisdn, event_at DESC
"""


def number(rng: random.Random) -> str:
    return f"+4477009{rng.randrange(NUMBERS):05d}"


def hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032X}"


Row = dict[str, Any]


class Seeder:
    def __init__(self, receipts: int, days: int) -> None:
        self.rng = random.Random(20261123)
        self.receipts = receipts
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(days=days)
        self.span = (self.now - self.start).total_seconds()

    def moment(self) -> datetime:
        return self.start + timedelta(seconds=self.rng.random() * self.span)

    def batches(self, count: int) -> list[Row]:
        rows = []
        for index in range(1, count + 1):
            created = self.moment()
            rows.append(
                {
                    "id": index,
                    "name": f"campaign {index}",
                    "route_id": "mglobal",
                    "shorten_urls": False,
                    "exclude_duplicates": True,
                    "state": "submitted",
                    "requested": BATCH_SIZE,
                    "skipped": "[]",
                    "mobivate_batch_ids": json.dumps([hex_id(self.rng)]),
                    "created_at": created,
                    "updated_at": created,
                }
            )
        return rows

    def _status(self, created: datetime, submitted: datetime) -> Row:
        roll = self.rng.random()
        recent = (self.now - created).total_seconds() < 3 * 86_400
        if (roll < 0.07 and recent) or roll < 0.005:
            return {"status": "ACCEPTED", "status_code": 2, "final": False, "status_at": submitted}
        if roll < 0.15:
            status, code = self.rng.choice(FAILURES)
            at = submitted + timedelta(minutes=5)
            return {"status": status, "status_code": code, "final": True, "status_at": at}
        delivered = submitted + timedelta(seconds=5 + self.rng.expovariate(1 / 40))
        return {
            "status": "DELIVERED",
            "status_code": 1,
            "final": True,
            "status_at": delivered,
            "delivered_at": delivered,
        }

    def messages(self, count: int, batches: list[Row]) -> list[Row]:
        rows = []
        in_batches = len(batches) * BATCH_SIZE
        for index in range(1, count + 1):
            batch = batches[(index - 1) // BATCH_SIZE] if index <= in_batches else None
            if batch:
                created = batch["created_at"] + timedelta(seconds=self.rng.random() * 3600)
            else:
                created = self.moment()
            created = min(created, self.now)
            submitted = created + timedelta(seconds=1)
            mobivate_batch = json.loads(batch["mobivate_batch_ids"])[0] if batch else None
            mobivate_id = hex_id(self.rng)
            rows.append(
                {
                    "id": index,
                    "batch_id": batch["id"] if batch else None,
                    "msisdn": number(self.rng),
                    "originator": "Shop",
                    "body": "Hello",
                    "route_id": "mglobal",
                    "reference": f"ref-{index}",
                    "encoding": "GSM-7",
                    "parts": 1,
                    "shorten_urls": False,
                    "mobivate_id": mobivate_id,
                    "mobivate_id_norm": mobivate_id,
                    "mobivate_batch_id": mobivate_batch,
                    "mobivate_batch_id_norm": mobivate_batch,
                    "submission": "submitted",
                    "created_at": created,
                    "submitted_at": submitted,
                    "delivered_at": None,
                    **self._status(created, submitted),
                }
            )
            rows[-1]["status_rank"] = 2 if rows[-1]["final"] else 1
            rows[-1]["updated_at"] = rows[-1]["status_at"]
        return rows

    def receipts_rows(self, messages: list[Row]) -> list[Row]:
        rows: list[Row] = []

        def add(message: Row | None, status: str, code: int, at: datetime) -> None:
            received = at + timedelta(seconds=self.rng.random() * 2)
            event_at = None if self.rng.random() < 0.01 else at
            rows.append(
                {
                    "id": len(rows) + 1,
                    "source": "webhook",
                    "dedupe_key": f"{len(rows) + 1:064x}",
                    "received_at": received,
                    "event_at": event_at,
                    "event_at_raw": event_at.isoformat() if event_at else "garbled",
                    "occurred_at": event_at or received,
                    "delivery_message_id": message["mobivate_id"] if message else hex_id(self.rng),
                    "message_id_norm": message["mobivate_id"] if message else None,
                    "batch_id": message["mobivate_batch_id"] if message else None,
                    "batch_id_norm": message["mobivate_batch_id"] if message else None,
                    "client_reference": message["reference"] if message else None,
                    "status": status,
                    "status_code": code,
                    "parts": 1,
                    "outbound_message_id": message["id"] if message else None,
                }
            )

        for message in messages:
            if len(rows) >= self.receipts:
                break
            add(message, "ACCEPTED", 2, message["submitted_at"] + timedelta(seconds=2))
            if message["final"]:
                add(message, message["status"], message["status_code"], message["status_at"])
        while len(rows) < self.receipts:
            status, code = self.rng.choice(INTERIM)
            add(None, status, code, self.moment())
        return rows

    def incoming(self, count: int, messages: list[Row]) -> list[Row]:
        rows = []
        for index in range(1, count + 1):
            reply = self.rng.choice(messages) if self.rng.random() < 1 / 3 else None
            if reply:
                at = min(reply["created_at"] + timedelta(minutes=self.rng.random() * 60), self.now)
            else:
                at = self.moment()
            msisdn = reply["msisdn"] if reply else number(self.rng)
            rows.append(
                {
                    "id": index,
                    "dedupe_key": f"{index:064x}",
                    "received_at": at,
                    "event_at": at,
                    "event_at_raw": at.isoformat(),
                    "occurred_at": at,
                    "mobivate_id_norm": hex_id(self.rng),
                    "originator": msisdn,
                    "msisdn": msisdn,
                    "recipient": "12345",
                    "body": self.rng.choice(["Thanks", "STOP", "Hi"]),
                    "in_reply_to_norm": reply["mobivate_id"] if reply else None,
                    "batch_id_norm": reply["mobivate_batch_id"] if reply else None,
                    "outbound_message_id": reply["id"] if reply else None,
                }
            )
        return rows

    def clicks(self, count: int, messages: list[Row]) -> list[Row]:
        rows = []
        for index in range(1, count + 1):
            message = self.rng.choice(messages)
            at = min(message["created_at"] + timedelta(minutes=self.rng.random() * 120), self.now)
            rows.append(
                {
                    "id": index,
                    "dedupe_key": f"{index:064x}",
                    "received_at": at,
                    "message_id_norm": message["mobivate_id"],
                    "msisdn": message["msisdn"],
                    "batch_id_norm": message["mobivate_batch_id"],
                    "client_ref": message["reference"],
                    "browser": "Safari",
                    "url": "https://example.com/offer",
                    "outbound_message_id": message["id"],
                }
            )
        return rows

    def optout_events(self, count: int) -> list[Row]:
        rows = []
        for index in range(1, count + 1):
            at = self.moment()
            rows.append(
                {
                    "id": index,
                    "msisdn": number(self.rng),
                    "action": "opt_out" if self.rng.random() < 0.8 else "opt_in",
                    "source": "incoming_sms",
                    "keyword": "STOP",
                    "event_at": at,
                    "recorded_at": at,
                }
            )
        return rows


async def recreate(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def load(dsn: str, seeder: Seeder) -> dict[str, int]:
    total_messages = int(seeder.receipts / 2.5)
    batches = seeder.batches(int(total_messages * 0.6) // BATCH_SIZE)
    messages = seeder.messages(total_messages, batches)
    tables = {
        "batches": batches,
        "outbound_messages": messages,
        "receipts": seeder.receipts_rows(messages),
        "incoming_messages": seeder.incoming(seeder.receipts // 20, messages),
        "clicks": seeder.clicks(seeder.receipts // 16, messages),
        "optout_events": seeder.optout_events(seeder.receipts // 500),
    }
    conn = await asyncpg.connect(dsn)
    try:
        for table, rows in tables.items():
            if not rows:
                continue
            columns = list(rows[0])
            records = [tuple(row.get(column) for column in columns) for row in rows]
            await conn.copy_records_to_table(table, records=records, columns=columns)
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {len(rows) + 1})"
            )
        await conn.execute(CURRENT_OPTOUTS)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {table: len(rows) for table, rows in tables.items()}


async def keep_hours(url: str) -> int:
    """What the running service does in the background: keep the past hours' and days'
    figures."""
    engine = create_engine(url)
    total = 0
    try:
        while written := await refresh(engine):
            total += written
    finally:
        await engine.dispose()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database", default="bench_api")
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(recreate(args.database))
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}"
    upgrade(url)
    counts = asyncio.run(
        load(
            f"postgresql://postgres@127.0.0.1:5432/{args.database}",
            Seeder(args.receipts, args.days),
        )
    )
    kept = asyncio.run(keep_hours(url))
    for table, count in counts.items():
        print(f"{table:<20} {count:>10,}")
    print(f"{'stats_hours + _days':<20} {kept:>10,}")
    print(f"seeded {args.database} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
