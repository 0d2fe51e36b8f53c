"""The reference the webhook benchmark compares the service with.

One ordinary FastAPI endpoint on the same path as the real webhooks: it reads the body, parses it
with the service's own parser (`parse_webhook`) and stores nothing. Its throughput is the ceiling
for a Python endpoint doing the same request work on this machine, without the database.

bench/run.py serves it with the same uvicorn, event loop (uvloop) and HTTP parser (httptools) as
the service, and with CPU_ACCOUNTING=true the same CPU accounting (`app.core.cpu_parts`, its
protocol `app.cli.http_protocol:TimedHttpToolsProtocol`), read from `GET /metrics`:

    PROMETHEUS_MULTIPROC_DIR=/tmp/ref-metrics CPU_ACCOUNTING=true uvicorn reference_app:app \\
        --app-dir bench --workers 2 --no-access-log --loop uvloop \\
        --http app.cli.http_protocol:TimedHttpToolsProtocol
"""

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, Response

from app.core.cpu_parts import cpu_accounting
from app.core.metrics import render
from app.mobivate.payloads import PayloadError, parse_webhook
from app.mobivate.vocabulary import WebhookKind


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        if os.environ.get("CPU_ACCOUNTING", "").lower() == "true":
            await stack.enter_async_context(cpu_accounting())
        yield


app = FastAPI(title="webhook benchmark reference (parses, stores nothing)", lifespan=lifespan)

_KINDS = {kind.value: kind for kind in WebhookKind}
_STORED = b'{"status":"stored"}'


@app.post("/webhooks/{secret}/{kind}")
async def receive(secret: str, kind: str, request: Request) -> Response:
    webhook_kind = _KINDS.get(kind)
    if webhook_kind is None:
        raise HTTPException(status_code=404)
    body = await request.body()
    try:
        parse_webhook(webhook_kind, body, request.headers.get("content-type"))
    except PayloadError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from None
    return Response(_STORED, media_type="application/json")


@app.get("/metrics")
async def metrics() -> Response:
    """The CPU accounting's counters, added up over the workers."""
    body, content_type = render()
    return Response(body, media_type=content_type)
