"""CPU of the webhook's HTTP path in the app, without the server and without the database.

    .venv/bin/python bench/http_path.py [--requests 20000]

One process calls the ASGI app the way uvicorn does (the scope, `receive` and `send` of a wrk
receipt) with the real endpoint, secret check, parser and metrics, its ingest writer replaced by
one that answers at once. It times, alternating in rounds so that the machine's load falls on
each alike, the CPU (`time.process_time`) per request of:

- `hot path`: the app as served, `POST /webhooks/...` ahead of the middleware stack;
- `stack`: the same request through FastAPI's whole middleware stack to the same endpoint (how
  webhooks were served before);
- `reference`: bench/reference_app.py's FastAPI endpoint (parse only);
- `hot path, CPU_ACCOUNTING`: as served, each request in a task of its own as uvicorn runs it,
  with `app.core.cpu_parts` counting; beside `hot path, in a task` without it.

What is left out is the same for all: uvicorn's protocol (parsing, writing; the `http` part of
bench/run.py) and the ingest writer's transaction.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
# As `serve --workers 2` runs: every metric sample written to a file shared by the workers.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="http-path-metrics-"))

from reference_app import app as reference_app

from app.config import Settings
from app.core.cpu_parts import cpu_accounting
from app.main import create_app
from app.webhooks.ingest import IngestResult
from app.webhooks.receive import WebhookReceiver
from app.webhooks.throttle import FailureLimiter

SECRET = "bench-secret-0123456789abcdef"
BODY = (
    b'{"deliveryMessageId":"9A85B95E0A000A9D2FBD46710388AD54","batchId":"9A85B9110A000A9D2FBD'
    b'4671D691C328","clientReference":null,"created":"2023-07-28T03:23:22.000+00:00","status":'
    b'"ACCEPTED","statusCode":2,"parts":1,"hlr":null}'
)
ASGI = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, None]]


class AnsweringWriter:
    """Stands in for the ingest writer: every request is stored, at once."""

    async def store(self, raw: Any, events: Any, rejected: Any) -> IngestResult:
        return IngestResult("stored", stored=len(events))


def scope_of(path: str) -> dict[str, Any]:
    """What uvicorn's httptools protocol hands the app for one of wrk's posts."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "root_path": "",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-length", str(len(BODY)).encode()),
            (b"content-type", b"application/json"),
        ],
        "state": {},
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


def sender() -> tuple[Callable[[Any], Awaitable[None]], list[int]]:
    statuses: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    return send, statuses


async def per_request(app: ASGI, path: str, requests: int, *, in_task: bool = False) -> float:
    """CPU µs per request of `requests` requests, one after the other."""
    send, statuses = sender()
    loop = asyncio.get_running_loop()
    start = time.process_time()
    for _ in range(requests):
        if in_task:
            await loop.create_task(app(scope_of(path), receive, send))
        else:
            await app(scope_of(path), receive, send)
    spent = time.process_time() - start
    if statuses != [200] * requests:
        raise SystemExit(f"unexpected answers: {sorted(set(statuses))}")
    return spent / requests * 1e6


async def in_accounting(app: ASGI, path: str, requests: int) -> float:
    async with cpu_accounting():
        return await per_request(app, path, requests, in_task=True)


async def main(requests: int, rounds: int) -> None:
    database = Path(tempfile.mkdtemp()) / "unused.db"
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{database}",
        webhook_secret=SECRET,
        log_level="WARNING",
    )
    app = create_app(settings)
    receiver = WebhookReceiver(
        secret=SECRET,
        writer=AnsweringWriter(),  # type: ignore[arg-type]
        spool=SimpleNamespace(diverting=False),  # type: ignore[arg-type]
        limiter=FailureLimiter(settings.webhook_auth_failures_per_minute),
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.runtime = SimpleNamespace(webhooks=receiver)
    path = f"/webhooks/{SECRET}/receipt"
    send, _ = sender()
    await app(scope_of(path), receive, send)  # builds the middleware stack
    stack: ASGI = app.middleware_stack.stack  # type: ignore[union-attr]

    async def through_stack(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = app
        await stack(scope, receive, send)

    cases: dict[str, Callable[[], Awaitable[float]]] = {
        "hot path": lambda: per_request(app, path, requests),
        "stack": lambda: per_request(through_stack, path, requests),
        "reference": lambda: per_request(reference_app, path, requests),
        "hot path, in a task": lambda: per_request(app, path, requests, in_task=True),
        "hot path, CPU_ACCOUNTING": lambda: in_accounting(app, path, requests),
    }
    for run in cases.values():  # warm-up
        await run()
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            results[name].append(await run())
    print(f"CPU µs per webhook in the app ({requests} requests x {rounds} rounds, median):")
    for name, values in results.items():
        values.sort()
        print(f"  {name:<26}{values[len(values) // 2]:>8.1f}   (min {values[0]:.1f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.requests, args.rounds))
