"""The three endpoints Mobivate posts to: `POST /webhooks/{secret}/receipt|incoming|click`.

This is a plain ASGI endpoint rather than a FastAPI operation: it is the hot path, it takes raw
bodies that must be kept even when they cannot be parsed, and it needs none of FastAPI's request
validation nor Starlette's Request and Response objects (measured: a FastAPI operation costs
~145 us of CPU per request, a Starlette endpoint ~73 us, this ~63 us). Its OpenAPI description
is added in `app/api/openapi.py`.
"""

import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.api.deps import part_of
from app.core.metrics import WEBHOOK_EVENTS, WEBHOOK_ITEMS_REJECTED, WEBHOOKS_IN_PROGRESS
from app.mobivate.payloads import RejectedItem
from app.mobivate.vocabulary import WebhookKind
from app.webhooks import intake
from app.webhooks.ingest import (
    IngestRefused,
    IngestRejected,
    IngestUnavailable,
    IngestWriter,
    RawWebhook,
)
from app.webhooks.intake import Intake
from app.webhooks.outage import OutageSpool
from app.webhooks.secret import secret_matches
from app.webhooks.spool import SpoolFull
from app.webhooks.throttle import FailureLimiter

logger = logging.getLogger(__name__)

_KINDS = {kind.value: kind for kind in WebhookKind}
_STORED = b'{"status":"stored"}'
_DUPLICATE = b'{"status":"duplicate"}'
_NOT_FOUND = b'{"detail":"Not Found"}'
_SPOOLED = b'{"status":"spooled"}'
_UNAVAILABLE = b'{"detail":"storage is unavailable and the outage spool is full; please retry"}'
_THROTTLED = b'{"detail":"too many requests with a wrong secret from this address; retry later"}'
# How many rejected items of an array an answer lists one by one (`rejected_count` counts all).
_REJECTED_LISTED = 100


class Response:
    """A complete JSON answer, sent as two ASGI messages."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self, status_code: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status_code = status_code
        self.body = body
        # A tuple: the common answers are made once and shared by every request.
        self.headers = (
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            *(headers or ()),
        )

    async def __call__(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.headers}
        )
        await send({"type": "http.response.body", "body": self.body})


# The answers to nearly every request, made once.
_ANSWERED_STORED = Response(200, _STORED)
_ANSWERED_DUPLICATE = Response(200, _DUPLICATE)
_ANSWERED_SPOOLED = Response(200, _SPOOLED)


def _json(status_code: int, content: bytes) -> Response:
    return Response(status_code, content)


def _counted(kind: str, outcome: str) -> None:
    """One more webhook request of `kind` with `outcome` (the metric's children kept)."""
    counter = _EVENT_COUNTERS.get((kind, outcome))
    if counter is None:
        counter = _EVENT_COUNTERS[kind, outcome] = WEBHOOK_EVENTS.labels(kind, outcome)
    counter.inc()


_EVENT_COUNTERS: dict[tuple[str, str], Any] = {}


def _error(status_code: int, detail: str) -> Response:
    return _json(status_code, orjson.dumps({"status": "unparsed", "detail": detail}))


def _throttled(retry_after: int, kind: WebhookKind | None) -> Response:
    """Too many wrong secrets from one address: refused without a log line each (metrics count
    them), so guessing can neither go fast nor flood the logs."""
    _counted(kind.value if kind else "unknown", "throttled")
    return Response(429, _THROTTLED, [(b"retry-after", str(retry_after).encode())])


def _length_and_type(scope: Scope) -> tuple[str | None, str | None]:
    """The request's Content-Length and Content-Type, in one pass over its headers."""
    length = content_type = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            length = value.decode("latin-1")
        elif key == b"content-type":
            content_type = value.decode("latin-1")
    return length, content_type


async def _read_limited(
    receive: Receive, declared: str | None, limit: int
) -> tuple[bytes, int, bool]:
    """The body up to `limit` bytes, its size, and whether it was cut off."""
    chunks: list[bytes] = []
    kept = 0
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if kept < limit and chunk:
            chunks.append(chunk[: limit - kept])
            kept += len(chunks[-1])
        if size > limit:
            total = int(declared) if declared is not None and declared.isdigit() else size
            return b"".join(chunks), max(total, size), True
        if not message.get("more_body", False):
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), size, False


class WebhookReceiver:
    """Receives the webhooks of one running service (built by `app.runtime`)."""

    def __init__(
        self,
        *,
        secret: str,
        writer: IngestWriter,
        spool: OutageSpool,
        limiter: FailureLimiter,
        max_body_bytes: int,
    ) -> None:
        self.secret = secret
        self.writer = writer
        self.spool = spool
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.refused = 0

    async def receive(self, scope: Scope, receive: Receive) -> Response:
        path_params = scope["path_params"]
        peer = scope.get("client")
        client = peer[0] if peer else "unknown"
        kind = _KINDS.get(path_params["kind"])
        if self.limiter.throttled(client):
            return _throttled(self.limiter.retry_after(client), kind)
        secret_ok = secret_matches(path_params["secret"], self.secret)
        if kind is None or not secret_ok:
            if not secret_ok and not self.limiter.fail(client):
                return _throttled(self.limiter.retry_after(client), kind)
            self.refused += 1
            logger.warning(
                "webhook refused: wrong secret or endpoint from %s (%d refused since start)",
                client,
                self.refused,
            )
            _counted(kind.value if kind else "unknown", "rejected")
            return _json(404, _NOT_FOUND)

        declared, content_type = _length_and_type(scope)
        body, size, truncated = await _read_limited(receive, declared, self.max_body_bytes)
        raw = RawWebhook(
            kind=kind,
            received_at=datetime.now(UTC),
            body=body,
            content_type=content_type,
            client_addr=peer[0] if peer else None,
            body_size=size,
            truncated=truncated,
        )
        examined = intake.examine(raw, self.max_body_bytes)
        if self.spool.diverting:
            return await _keep_for_later(self.spool, raw, examined)
        try:
            result = await intake.store(self.writer, raw, examined)
        except IngestRefused as exc:
            _counted(kind.value, "unparsed")
            return _error(422, exc.message)
        except IngestUnavailable:
            return await _keep_for_later(self.spool, raw, examined)
        except IngestRejected as exc:
            return await _quarantine(self.spool, raw, exc.message)

        if examined.events is None:
            _counted(kind.value, examined.outcome)
            return _error(examined.status_code, examined.error or "")
        _counted(kind.value, result.outcome)
        if examined.rejected:
            WEBHOOK_ITEMS_REJECTED.labels(kind.value).inc(len(examined.rejected))
        if len(examined.events) == 1 and not examined.rejected:
            return _ANSWERED_STORED if result.outcome == "stored" else _ANSWERED_DUPLICATE
        answer: dict[str, object] = {
            "status": result.outcome,
            "stored": result.stored,
            "duplicates": result.duplicates,
        }
        return _json(200, orjson.dumps(answer | _rejected_answer(examined.rejected)))


class WebhookEndpoint:
    """The ASGI app behind the route: hands the request to the running service's receiver."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        receiver = part_of(scope["app"], "webhooks", WebhookReceiver)
        with WEBHOOKS_IN_PROGRESS.track_inprogress():
            try:
                response = await receiver.receive(scope, receive)
            except ClientDisconnect:  # gone (or cut off) before its body arrived: nothing to keep
                return
            await response(send)


def _rejected_answer(rejected: Sequence[RejectedItem]) -> dict[str, object]:
    """The items of an array that were not stored, for the answer: each position (from 0) and
    reason, the first `_REJECTED_LISTED` of them."""
    if not rejected:
        return {}
    return {
        "rejected": [
            {"index": item.index, "detail": item.message} for item in rejected[:_REJECTED_LISTED]
        ],
        "rejected_count": len(rejected),
    }


async def _keep_for_later(spool: OutageSpool, raw: RawWebhook, examined: Intake) -> Response:
    """The database cannot take the request: acknowledge it once it is in the outage spool."""
    try:
        await spool.keep(raw)
    except (SpoolFull, OSError, sqlite3.Error) as exc:
        _counted(raw.kind.value, "unavailable")
        logger.error("webhook request not kept: database unavailable and %s", exc)
        return _json(503, _UNAVAILABLE)
    _counted(raw.kind.value, "spooled")
    if examined.events is None:
        return _error(examined.status_code, examined.error or "")
    if examined.rejected:
        return _json(200, orjson.dumps({"status": "spooled"} | _rejected_answer(examined.rejected)))
    return _ANSWERED_SPOOLED


async def _quarantine(spool: OutageSpool, raw: RawWebhook, reason: str) -> Response:
    """The database answers but will not store the request, not even raw: keep it aside."""
    try:
        await spool.quarantine.add(raw, reason)
    except (OSError, sqlite3.Error) as exc:
        _counted(raw.kind.value, "unavailable")
        logger.error("webhook request not kept: refused by the database and %s", exc)
        return _json(503, _UNAVAILABLE)
    _counted(raw.kind.value, "quarantined")
    return _error(422, reason)


TEMPLATE = "/webhooks/{secret}/{kind}"
endpoint = WebhookEndpoint()
# The app serves `POST` ahead of its middleware stack (`app.api.hot_path`); the route stays for the
# OpenAPI description and for other methods' 405.
routes = [Route(TEMPLATE, endpoint, methods=["POST"])]
