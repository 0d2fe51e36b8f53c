"""Mobivate calls and time of a 10,000-number campaign with `verify_numbers`, against the fake.

    .venv/bin/python bench/verified_batch.py [--messages 10000] [--hlr-batch-size 100]
        [--unreachable 0.02] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]

In-process (the app over ASGI, Mobivate being the fake Mobivate's transport), on a throwaway
SQLite database unless --database-url names an empty database. Three campaigns of the same
numbers, each timed from its `POST /api/v1/batches` until its background submission settles:
1. the reference: without `verify_numbers`;
2. verified, nothing cached: every number is looked up;
3. verified again: every answer comes from the cache.
For each it prints the time, Mobivate calls per endpoint, numbers left out as `hlr_unreachable`
and messages sent, and checks that exactly the numbers marked unreachable were left out.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from app.config import Settings
from app.core import migrate
from app.fake_mobivate import FakeMobivate
from app.main import create_app

API_KEY = "bench-key"
TOKEN = "bench-token"


def number(i: int) -> str:
    return f"4477{i:08d}"


async def campaign(
    client: httpx.AsyncClient, fake: FakeMobivate, messages: list[dict[str, str]], verify: bool
) -> dict[str, Any]:
    before = len(fake.requests)
    started = time.perf_counter()
    response = await client.post(
        "/api/v1/batches",
        json={"name": "bench", "messages": messages, "verify_numbers": verify},
        timeout=600,
    )
    if response.status_code != 202:
        raise SystemExit(f"batch refused: HTTP {response.status_code}: {response.text[:500]}")
    body = await settled(client, response.json()["id"])
    seconds = time.perf_counter() - started
    if body["state"] != "submitted":
        raise SystemExit(f"batch {body['state']}: {body['error']}")
    calls = Counter(request.path for request in fake.requests[before:])
    skipped = [entry["index"] for entry in body["skipped"] if entry["reason"] == "hlr_unreachable"]
    return {"seconds": seconds, "calls": dict(calls), "skipped": skipped, "sent": body["accepted"]}


async def settled(client: httpx.AsyncClient, batch_id: int) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = (await client.get(f"/api/v1/batches/{batch_id}")).json()
        if body["state"] not in ("queued", "submitting"):
            return body
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> int:
    url = args.database_url
    if url is None:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-verified-')}/bench.db"
    await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        api_tokens=TOKEN,
        mobivate_api_key=API_KEY,
        register_webhooks=False,
        default_originator="Bench",
        environment="development",
        log_level="WARNING",
        access_log=False,
        batch_max_messages=args.messages,
        hlr_batch_size=args.hlr_batch_size,
        hlr_daily_limit=args.messages,
        spool_dir=Path(tempfile.mkdtemp(prefix="bench-spool-")),
    )
    fake = FakeMobivate(api_key=API_KEY)
    step = max(1, round(1 / args.unreachable)) if args.unreachable > 0 else 0
    marked = set(range(0, args.messages, step)) if step else set()
    for i in marked:
        fake.set_hlr(number(i), "unreachable")
    messages = [{"to": "+" + number(i), "text": f"Offer {i}"} for i in range(args.messages)]
    app = create_app(settings, mobivate_transport=fake.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        ) as client:
            runs = [
                ("reference, not verified", await campaign(client, fake, messages, False)),
                ("verified, nothing cached", await campaign(client, fake, messages, True)),
                ("verified, all cached", await campaign(client, fake, messages, True)),
            ]
    await fake.aclose()
    print(
        f"{args.messages} messages, HLR_BATCH_SIZE={args.hlr_batch_size}, {len(marked)} unreachable"
    )
    print(
        f"{'campaign':28} {'seconds':>8} {'/hlr':>6} {'/send/batch':>12} {'skipped':>8} {'sent':>6}"
    )
    ok = True
    for label, result in runs:
        calls = result["calls"]
        print(
            f"{label:28} {result['seconds']:8.2f} {calls.get('/hlr', 0):6d} "
            f"{calls.get('/send/batch', 0):12d} {len(result['skipped']):8d} {result['sent']:6d}"
        )
        expected = marked if "verified," in label else set()
        ok &= set(result["skipped"]) == expected
    if not ok:
        print("check failed: the numbers left out are not those marked unreachable")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--hlr-batch-size", type=int, default=100)
    parser.add_argument("--unreachable", type=float, default=0.02)
    parser.add_argument("--database-url")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
