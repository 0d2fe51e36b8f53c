"""REST API read latency on a seeded PostgreSQL database (see bench/seed.py).

    .venv/bin/python bench/seed.py                      # once: 1,000,000 receipts, ~2 minutes
    .venv/bin/python bench/api_latency.py [--runs 100] [--database bench_api]

Runs the app in-process (ASGI, no network) against the database and times, one request at a
time, every list with no filter and with each single filter (values picked from the data: a
common and a rare status, a number, a batch of 5,000 messages, ...), the second page of a
list, and the statistics for the last 30 days by day and by hour. Prints p50/p99 per request
and the query plans (EXPLAIN ANALYZE) of the slowest one. Exit status 1 if any p99 is over
--budget-ms (default 100).

    .venv/bin/python bench/api_latency.py --only stats --compare

`--only` times only the requests whose path contains the text. `--compare` times each statistics
request twice in turn, alternating: as served (message figures and percentiles in SQL, queries
on two connections), and as it was served before (every kept hour's delivery times read,
percentiles taken in Python, one connection), so both see the same load; the load average is
printed beside the figures.
"""

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings
from app.main import create_app
from app.stats import api as stats_api
from app.stats import queries
from app.stats.queries import window_stats

TOKEN = "bench-api-token"


async def pick(conn: Any, sql: str) -> Any:
    return (await conn.execute(text(sql))).scalar()


async def cases(engine: Any) -> list[tuple[str, str, dict[str, Any]]]:
    async with engine.connect() as conn:
        message = (
            await conn.execute(
                text(
                    "SELECT id, msisdn, reference, mobivate_id_norm, batch_id "
                    "FROM outbound_messages WHERE batch_id IS NOT NULL ORDER BY id LIMIT 1 "
                    "OFFSET (SELECT count(*) / 3 FROM outbound_messages WHERE batch_id IS NOT NULL)"
                )
            )
        ).one()
        batch_norm = await pick(
            conn, f"SELECT mobivate_batch_id_norm FROM outbound_messages WHERE id = {message.id}"
        )
        reply = (
            await conn.execute(
                text(
                    "SELECT msisdn, mobivate_id_norm, batch_id_norm, outbound_message_id "
                    "FROM incoming_messages WHERE outbound_message_id IS NOT NULL LIMIT 1"
                )
            )
        ).one()
    month_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    two_months_ago = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    receipts = [
        ("no filter", {}),
        ("limit=1000", {"limit": 1000}),
        ("msisdn", {"msisdn": message.msisdn}),
        ("status common", {"status": "DELIVERED"}),
        ("status rare", {"status": "FAILED_NOROUTE"}),
        ("status_code", {"status_code": 5}),
        ("mobivate_id", {"mobivate_id": message.mobivate_id_norm}),
        ("mobivate_batch_id", {"mobivate_batch_id": batch_norm}),
        ("batch_id", {"batch_id": message.batch_id}),
        ("message_id", {"message_id": message.id}),
        ("reference", {"reference": message.reference}),
        ("since 30 days", {"since": month_ago}),
        ("until 60 days ago", {"until": two_months_ago}),
    ]
    incoming = [
        ("no filter", {}),
        ("msisdn", {"msisdn": reply.msisdn}),
        ("mobivate_id", {"mobivate_id": reply.mobivate_id_norm}),
        ("mobivate_batch_id", {"mobivate_batch_id": reply.batch_id_norm}),
        ("message_id", {"message_id": reply.outbound_message_id}),
        ("batch_id", {"batch_id": message.batch_id}),
        ("since 7 days", {"since": week_ago}),
        ("until 60 days ago", {"until": two_months_ago}),
    ]
    clicks = [
        ("no filter", {}),
        ("msisdn", {"msisdn": message.msisdn}),
        ("mobivate_id", {"mobivate_id": message.mobivate_id_norm}),
        ("mobivate_batch_id", {"mobivate_batch_id": batch_norm}),
        ("reference", {"reference": message.reference}),
        ("message_id", {"message_id": message.id}),
        ("batch_id", {"batch_id": message.batch_id}),
        ("since 7 days", {"since": week_ago}),
        ("until 60 days ago", {"until": two_months_ago}),
    ]
    messages = [
        ("no filter", {}),
        ("msisdn", {"msisdn": message.msisdn}),
        ("status common", {"status": "DELIVERED"}),
        ("status rare", {"status": "FAILED_NOROUTE"}),
        ("status_group pending", {"status_group": "pending"}),
        ("status_group failed", {"status_group": "failed"}),
        ("final=false", {"final": "false"}),
        ("mobivate_id", {"mobivate_id": message.mobivate_id_norm}),
        ("mobivate_batch_id", {"mobivate_batch_id": batch_norm}),
        ("batch_id", {"batch_id": message.batch_id}),
        ("reference", {"reference": message.reference}),
        ("since 30 days", {"since": month_ago}),
        ("until 60 days ago", {"until": two_months_ago}),
    ]
    found = [
        *(("/api/v1/messages", name, params) for name, params in messages),
        ("/api/v1/batches", "no filter", {}),
        ("/api/v1/batches", "since 30 days", {"since": month_ago}),
        ("/api/v1/optouts", "no filter", {}),
        *(("/api/v1/receipts", name, params) for name, params in receipts),
        *(("/api/v1/incoming", name, params) for name, params in incoming),
        *(("/api/v1/clicks", name, params) for name, params in clicks),
        ("/api/v1/stats", "30 days by day", {"since": month_ago}),
        ("/api/v1/stats", "30 days by hour", {"since": month_ago, "bucket": "hour"}),
    ]
    return found


REFERENCE = " (reference)"


@contextlib.asynccontextmanager
async def one_connection(engine: Any) -> AsyncIterator[tuple[Any, None]]:
    async with engine.connect() as base:
        conn = await base.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn, None


async def compare_case(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], runs: int
) -> tuple[list[float], list[float], int]:
    """Times the request as served and on the reference path, alternating."""
    reference = functools.partial(window_stats, path="python")
    timings: dict[str, list[float]] = {"served": [], "reference": []}
    items = 0
    for run in range(-3, runs):
        for variant in ("served", "reference"):
            with contextlib.ExitStack() as stack:
                if variant == "reference":
                    stack.enter_context(mock.patch.object(stats_api, "window_stats", reference))
                    stack.enter_context(mock.patch.object(queries, "snapshot", one_connection))
                started = time.perf_counter()
                response = await client.get(path, params=params)
                elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            items = len(response.json()["buckets"])
            if run >= 0:
                timings[variant].append(elapsed)
    return timings["served"], timings["reference"], items


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def time_case(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], runs: int
) -> tuple[list[float], int]:
    for _ in range(3):
        (await client.get(path, params=params)).raise_for_status()
    timings = []
    items = 0
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        items = len(response.json().get("items", response.json().get("buckets", [])))
    return timings, items


async def explain(client: httpx.AsyncClient, engine: Any, path: str, params: Any) -> None:
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await client.get(path, params=params)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    async with engine.connect() as conn:
        for statement, parameters in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            plan = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("\n" + "\n".join(row[0] for row in plan))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="bench_api")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--budget-ms", type=float, default=100.0)
    parser.add_argument("--only", help="time only the requests whose path contains this")
    parser.add_argument(
        "--compare", action="store_true", help="statistics beside the reference path"
    )
    args = parser.parse_args()
    settings = Settings(
        _env_file=None,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}",
        api_tokens=TOKEN,
        webhook_secret="bench-webhook-secret-0123456789",
        environment="development",
        register_webhooks=False,
        access_log=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    results = []
    async with app.router.lifespan_context(app):
        engine = app.state.runtime.engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bench",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as client:
            for path, name, params in await cases(engine):
                if args.only and args.only not in path:
                    continue
                if args.compare and path == "/api/v1/stats":
                    served, reference, items = await compare_case(client, path, params, args.runs)
                    results.append((path, name, params, served, items))
                    results.append((path, name + REFERENCE, params, reference, items))
                    continue
                timings, items = await time_case(client, path, params, args.runs)
                results.append((path, name, params, timings, items))
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"load average (1, 5, 15 min) after the timings: {load}")
            print(f"{'request':<48} {'p50 ms':>8} {'p99 ms':>8} {'items':>6}")
            for path, name, _, timings, items in results:
                label = f"{path.removeprefix('/api/v1/')} {name}"
                p50, p99 = statistics.median(timings), percentile(timings, 0.99)
                print(f"{label:<48} {p50:>8.1f} {p99:>8.1f} {items:>6}")
            as_served = [r for r in results if not r[1].endswith(REFERENCE)]
            slowest = max(as_served, key=lambda r: percentile(r[3], 0.99))
            print(f"\nslowest: {slowest[0]} {slowest[1]}; its queries:")
            await explain(client, engine, slowest[0], slowest[2])
    worst = max(percentile(r[3], 0.99) for r in as_served)
    print(f"\nworst p99 {worst:.1f} ms (budget {args.budget_ms:.0f} ms)")
    return 0 if worst <= args.budget_ms else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
