"""How long a 100,000-recipient campaign takes to reach the fake Mobivate through the service,
beside the fake's raw intake of the same calls, in one run.

    .venv/bin/python bench/batch_submission.py [--messages 100000] [--chunk-size 1000]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_batches]

In-process (the app over ASGI, its background submitter running as under `serve`, Mobivate
being the fake Mobivate's transport), on a throwaway SQLite database unless --database-url names
an empty database (it is migrated here). It prints:
1. the reference: the same calls of `--chunk-size` messages made straight to the fake with the
   service's Mobivate client (no checks, no database), one after another;
2. the service: how long `POST /api/v1/batches` took to answer (202) and how long until the
   batch settled with every message submitted, from the POST, and the ratio to the reference;
and the load average before and after, since the machine may be shared. It checks that every
number reached the fake exactly once.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.core import migrate
from app.fake_mobivate import FakeMobivate
from app.main import create_app
from app.mobivate.client import MobivateClient
from app.mobivate.models import BatchItem, BatchRequest
from app.sending.views import batch_progress

API_KEY = "bench-key"
OPEN = ("queued", "submitting")
# How often the batch's progress is read while it is sent (its row alone, as `send-batch` does:
# `GET /api/v1/batches/{id}` adds its statistics, which cost more).
POLL_SECONDS = 0.1
TOKEN = "bench-token"


def number(i: int) -> str:
    return f"4477{i:08d}"


async def reference(messages: int, chunk: int) -> float:
    """The fake's raw intake: the same calls, straight from the client."""
    fake = FakeMobivate(api_key=API_KEY)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        client = MobivateClient(http, base_url="http://fake", api_key=SecretStr(API_KEY))
        started = time.perf_counter()
        for start in range(0, messages, chunk):
            request = BatchRequest(
                recipients=tuple(
                    BatchItem(
                        originator="Bench",
                        recipient=number(i),
                        text=f"Offer {i}",
                        reference=f"r{i:032d}",
                    )
                    for i in range(start, min(start + chunk, messages))
                ),
                route_id="mglobal",
                name="bench",
                exclude_optouts=True,
                exclude_duplicates=True,
            )
            await client.send_batch(request)
        seconds = time.perf_counter() - started
    assert len(fake.sent) == messages
    await fake.aclose()
    return seconds


async def service(args: argparse.Namespace, url: str) -> dict[str, Any]:
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
        batch_chunk_size=args.chunk_size,
        api_max_body_bytes=64 * 1024 * 1024,
        spool_dir=Path(tempfile.mkdtemp(prefix="bench-spool-")),
    )
    fake = FakeMobivate(api_key=API_KEY)
    messages = [{"to": "+" + number(i), "text": f"Offer {i}"} for i in range(args.messages)]
    app = create_app(settings, mobivate_transport=fake.transport())
    async with app.router.lifespan_context(app):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers
        ) as client:
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/batches", json={"name": "bench", "messages": messages}, timeout=600
            )
            answered = time.perf_counter() - started
            if response.status_code != 202:
                raise SystemExit(f"HTTP {response.status_code}: {response.text[:500]}")
            batch_id = response.json()["id"]
            engine = app.state.runtime.engine
            while True:
                progress = await batch_progress(engine, batch_id)
                if progress is None or progress["state"] not in OPEN:
                    break
                await asyncio.sleep(POLL_SECONDS)
            settled = time.perf_counter() - started
            body = (await client.get(f"/api/v1/batches/{batch_id}")).json()
    sends = Counter(message.recipient for message in fake.sent)
    await fake.aclose()
    if body["state"] != "submitted" or body["progress"]["submitted"] != args.messages:
        raise SystemExit(f"batch {body['state']}: {body['progress']} {body['error']}")
    if len(sends) != args.messages or set(sends.values()) != {1}:
        raise SystemExit("check failed: not every number reached the fake exactly once")
    return {"answered": answered, "settled": settled}


async def run(args: argparse.Namespace) -> int:
    url = args.database_url
    if url is None:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-batches-')}/bench.db"
    await asyncio.to_thread(migrate.upgrade, url)
    load_before = os.getloadavg()
    raw = await reference(args.messages, args.chunk_size)
    result = await service(args, url)
    load_after = os.getloadavg()
    backend = url.split("+", 1)[0].split(":", 1)[0]
    print(f"{args.messages} recipients in calls of {args.chunk_size}, {backend}")
    print(f"{'run':44} {'seconds':>8} {'messages/s':>11}")
    print(
        f"{'reference: the calls straight to the fake':44} {raw:8.2f} {args.messages / raw:11.0f}"
    )
    print(f"{'service: POST answered (202)':44} {result['answered']:8.2f}")
    print(
        f"{'service: POST until every message submitted':44} {result['settled']:8.2f} "
        f"{args.messages / result['settled']:11.0f}"
    )
    print(f"ratio service/reference: {result['settled'] / raw:.2f}")
    print(
        "load average (1 min) before/after: "
        f"{load_before[0]:.2f}/{load_after[0]:.2f} on {os.cpu_count()} CPUs"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--database-url")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
