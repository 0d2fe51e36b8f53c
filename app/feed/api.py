"""`GET /api/v1/events/stream`: the live feed as Server-Sent Events; `POST
/api/v1/events/stream-ticket`: a ticket that opens it from a browser (`app.api.tickets`).

The stream is on a router of its own (`stream_router`): it takes the bearer token or a ticket,
where every other route takes the token only."""

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api import tickets
from app.api.deps import EngineDep, SettingsDep, requires, runtime_part
from app.api.docs import ERRORS
from app.api.filters import MAX_ID, FeedQuery
from app.api.pagination import invalid
from app.config import Scope
from app.core.tables import FEED_EVENTS
from app.core.times import ORJSON_UTC
from app.feed import entries as feed
from app.feed.watch import FeedWatcher

router = APIRouter(tags=["live feed"])
stream_router = APIRouter(tags=["live feed"])

READ_CHUNK = 500
_EVENT_ID = re.compile(r"[0-9]{1,19}")
RETRY_MS = 2000
# The last event of a stream when the service stops; its id is where to resume from.
_SHUTDOWN = (
    "id: {position}\nevent: shutdown\n"
    'data: {{"detail":"the service is stopping; reconnect with Last-Event-ID"}}\n\n'
)

_EXAMPLE = (
    "retry: 2000\n\n"
    "id: 1042\nevent: receipt\n"
    'data: {"id":1042,"kind":"receipt","created_at":"2026-11-22T09:15:03.125000Z",'
    '"data":{"id":877,"status":"DELIVERED","status_code":1,"mobivate_id":"9A85B95E0A00..."}}'
    "\n\n: keep-alive\n\n"
)


def _filters(query: FeedQuery) -> list[ColumnElement[bool]]:
    columns = FEED_EVENTS.c
    where: list[ColumnElement[bool]] = []
    if query.kind:
        where.append(columns.kind.in_(query.kind))
    for name in (
        "msisdn",
        "status",
        "mobivate_id",
        "mobivate_batch_id",
        "message_id",
        "batch_id",
        "reference",
    ):
        value = getattr(query, name)
        if value is not None:
            where.append(columns[name] == value)
    return where


def _event(row: Any) -> str:
    body = orjson.dumps(
        {"id": row.id, "kind": row.kind, "created_at": row.created_at, "data": row.payload},
        option=ORJSON_UTC,
    ).decode()
    return f"id: {row.id}\nevent: {row.kind}\ndata: {body}\n\n"


async def _stream(
    engine: AsyncEngine,
    watcher: FeedWatcher,
    where: list[ColumnElement[bool]],
    position: int,
    keepalive: float,
) -> AsyncIterator[str]:
    async with watcher.subscription():
        yield f"retry: {RETRY_MS}\n\n"
        written = time.monotonic()
        while True:
            if watcher.closing:
                yield _SHUTDOWN.format(position=position)
                return
            horizon = watcher.horizon
            if horizon > position:
                rows = await feed.read(engine, position, horizon, where, READ_CHUNK)
                position = rows[-1].id if len(rows) == READ_CHUNK else horizon
                if rows:
                    yield "".join(_event(row) for row in rows)
                    written = time.monotonic()
                continue
            idle = time.monotonic() - written
            if idle >= keepalive:
                yield ": keep-alive\n\n"
                written = time.monotonic()
                continue
            await watcher.wait_beyond(position, keepalive - idle)


class StreamTicketOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket": "1795338960.q3pFZ0s1aWl2Y2hV.Vb8mB0eB3vN1q0k2J4x0Yg7mQ2c",
                    "expires_at": "2026-11-22T09:16:00Z",
                    "stream_url": "/api/v1/events/stream?ticket="
                    "1795338960.q3pFZ0s1aWl2Y2hV.Vb8mB0eB3vN1q0k2J4x0Yg7mQ2c",
                }
            ]
        }
    )

    ticket: str = Field(description="Pass as `?ticket=` to GET /api/v1/events/stream")
    expires_at: datetime = Field(description="A stream must be opened before this time")
    stream_url: str = Field(description="The stream's path with the ticket (under ROOT_PATH)")


@router.post(
    "/events/stream-ticket",
    response_model=StreamTicketOut,
    responses=ERRORS,
    summary="A short-lived ticket that opens the live feed from a browser",
    description="`EventSource` cannot send an `Authorization` header, and the API token must "
    "never be put in a URL. Ask for a ticket with the bearer token, then open "
    "`EventSource(stream_url)` (add the feed's filters to it). A ticket opens the live feed "
    "only, until `expires_at` (STREAM_TICKET_TTL_SECONDS); a stream opened in time stays open. "
    "To reconnect later, ask for a new ticket and pass `last_event_id`.",
    openapi_extra=requires(Scope.READ),
)
async def create_stream_ticket(request: Request, settings: SettingsDep) -> StreamTicketOut:
    ticket = tickets.issue(settings.api_token_list, settings.stream_ticket_ttl_seconds)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return StreamTicketOut(
        ticket=ticket.value,
        expires_at=datetime.fromtimestamp(ticket.expires_at, UTC),
        stream_url=f"{root}/api/v1/events/stream?{urlencode({'ticket': ticket.value})}",
    )


@stream_router.get(
    "/events/stream",
    summary="Live feed of new events (Server-Sent Events)",
    description="Every new receipt, incoming message, click, status change of a sent message "
    "and opt-out or opt-in, as it is committed, with an increasing `id`. Reconnect with "
    "`Last-Event-ID` (browsers' EventSource do it for you) to get exactly what was missed; "
    "without it the stream starts with events stored from now on. Entries are kept for "
    "EVENT_FEED_RETENTION_HOURS. Idle streams get a `: keep-alive` comment every "
    "EVENT_STREAM_KEEPALIVE_SECONDS. When the service stops, the stream ends at once with an "
    "`event: shutdown` whose `id` is where to resume. Filters combine with AND; receipts "
    "carry no phone number (filter `status` events for a number's delivery progress). From a "
    "browser, open it with a `ticket` from POST /api/v1/events/stream-ticket instead of the "
    "bearer token.",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless `text/event-stream`",
            "content": {"text/event-stream": {"schema": {"type": "string"}, "example": _EXAMPLE}},
        },
        **ERRORS,
    },
)
async def stream_events(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    watcher: Annotated[FeedWatcher, runtime_part("feed", FeedWatcher)],
    query: Annotated[FeedQuery, Query()],
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="The id of the last event received"),
    ] = None,
) -> StreamingResponse:
    resume_after = query.last_event_id
    if last_event_id is not None and last_event_id.strip():
        header = last_event_id.strip()
        if not _EVENT_ID.fullmatch(header) or int(header) > MAX_ID:
            raise invalid("Last-Event-ID", "must be the id of an event this stream sent")
        resume_after = int(header)
    # Decided before the answer starts: the stream sees every event committed after it.
    position = await watcher.settled_horizon() if resume_after is None else resume_after
    events = _stream(
        engine, watcher, _filters(query), position, settings.event_stream_keepalive_seconds
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
