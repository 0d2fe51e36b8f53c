"""The three endpoints Mobivate posts to: `POST /webhooks/{secret}/receipt|incoming|click`.

These are plain Starlette routes rather than FastAPI operations: they are the hot path, they take
raw bodies that must be kept even when they cannot be parsed, and they need none of FastAPI's
request validation. Their OpenAPI description is added in `app/openapi.py`.
"""

import logging
import sqlite3
from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.metrics import WEBHOOK_EVENTS
from app.mobivate.payloads import WebhookKind
from app.services import intake
from app.services.ingest import IngestRefused, IngestUnavailable, IngestWriter, RawWebhook
from app.services.intake import Intake
from app.services.outage import OutageSpool
from app.services.spool import SpoolFull
from app.services.webhook_secret import secret_matches

logger = logging.getLogger(__name__)

_KINDS = {kind.value: kind for kind in WebhookKind}
_STORED = b'{"status":"stored"}'
_DUPLICATE = b'{"status":"duplicate"}'
_NOT_FOUND = b'{"detail":"Not Found"}'
_SPOOLED = b'{"status":"spooled"}'
_UNAVAILABLE = b'{"detail":"storage is unavailable and the outage spool is full; please retry"}'
_THROTTLED = b'{"detail":"too many requests with a wrong secret from this address; retry later"}'


def _json(status_code: int, content: bytes) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


def _error(status_code: int, detail: str) -> Response:
    return _json(status_code, orjson.dumps({"status": "unparsed", "detail": detail}))


def _throttled(retry_after: int, kind: WebhookKind | None) -> Response:
    """Too many wrong secrets from one address: refused without a log line each (metrics count
    them), so guessing can neither go fast nor flood the logs."""
    WEBHOOK_EVENTS.labels(kind.value if kind else "unknown", "throttled").inc()
    response = _json(429, _THROTTLED)
    response.headers["Retry-After"] = str(retry_after)
    return response


async def _read_limited(request: Request, limit: int) -> tuple[bytes, int, bool]:
    """The body up to `limit` bytes, its size, and whether it was cut off."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) <= limit:
        body = await request.body()
        if len(body) <= limit:
            return body, len(body), False
        return body[:limit], len(body), True
    kept = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if len(kept) < limit:
            kept.extend(chunk[: limit - len(kept)])
        if size > limit:
            total = int(declared) if declared is not None and declared.isdigit() else size
            return bytes(kept), max(total, size), True
    return bytes(kept), size, False


async def receive_webhook(request: Request) -> Response:
    state = request.app.state
    kind = _KINDS.get(request.path_params["kind"])
    secret_ok = secret_matches(request.path_params["secret"], state.webhook_secret)
    if kind is None or not secret_ok:
        client = request.client.host if request.client else "unknown"
        if not secret_ok and not state.auth_failures.fail(client):
            return _throttled(state.auth_failures.retry_after(client), kind)
        state.rejected_webhooks += 1
        logger.warning(
            "webhook refused: wrong secret or endpoint from %s (%d refused since start)",
            client,
            state.rejected_webhooks,
        )
        WEBHOOK_EVENTS.labels(kind.value if kind else "unknown", "rejected").inc()
        return _json(404, _NOT_FOUND)

    writer: IngestWriter = state.ingest
    body, size, truncated = await _read_limited(request, state.settings.max_body_bytes)
    raw = RawWebhook(
        kind=kind,
        received_at=datetime.now(UTC),
        body=body,
        content_type=request.headers.get("content-type"),
        client_addr=request.client.host if request.client else None,
        body_size=size,
        truncated=truncated,
    )
    examined = intake.examine(raw, state.settings.max_body_bytes)
    spool: OutageSpool = state.spool
    if spool.diverting:
        return await _keep_for_later(spool, raw, examined)
    try:
        result = await intake.store(writer, raw, examined)
    except IngestRefused as exc:
        WEBHOOK_EVENTS.labels(kind.value, "unparsed").inc()
        return _error(422, exc.message)
    except IngestUnavailable:
        return await _keep_for_later(spool, raw, examined)

    if examined.events is None:
        WEBHOOK_EVENTS.labels(kind.value, examined.outcome).inc()
        return _error(examined.status_code, examined.error or "")
    WEBHOOK_EVENTS.labels(kind.value, result.outcome).inc()
    if len(examined.events) == 1:
        return _json(200, _STORED if result.outcome == "stored" else _DUPLICATE)
    return _json(
        200,
        orjson.dumps(
            {"status": result.outcome, "stored": result.stored, "duplicates": result.duplicates}
        ),
    )


async def _keep_for_later(spool: OutageSpool, raw: RawWebhook, examined: Intake) -> Response:
    """The database cannot take the request: acknowledge it once it is in the outage spool."""
    try:
        await spool.keep(raw)
    except (SpoolFull, OSError, sqlite3.Error) as exc:
        WEBHOOK_EVENTS.labels(raw.kind.value, "unavailable").inc()
        logger.error("webhook request not kept: database unavailable and %s", exc)
        return _json(503, _UNAVAILABLE)
    WEBHOOK_EVENTS.labels(raw.kind.value, "spooled").inc()
    if examined.events is None:
        return _error(examined.status_code, examined.error or "")
    return _json(200, _SPOOLED)


routes = [Route("/webhooks/{secret}/{kind}", receive_webhook, methods=["POST"])]
