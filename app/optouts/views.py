"""Reading the opt-out registry: one number with its history and pushes, and paged lists."""

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.phone import normalise_msisdn
from app.optouts.registry import EVENTS, OPTOUTS, OUTBOX

PushState = Literal["pending", "delivered", "failed"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OptoutState:
    msisdn: str
    opted_out: bool
    changed_at: datetime
    source: str
    keyword: str | None
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    action: str
    source: str
    keyword: str | None
    reason: str | None
    incoming_message_id: int | None
    event_at: datetime
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Push:
    id: int
    operation: str
    msisdn: str
    event_id: int | None
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    mobivate_status: int | None
    mobivate_message: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class OptoutDetail:
    msisdn: str
    # None when the number has only asked for help.
    state: OptoutState | None
    history: list[HistoryEntry]
    pushes: list[Push]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    # Pass back as `after` for the next page; None on the last page.
    next_after: Any


def _columns(table: Any, cls: Any) -> list[Any]:
    return [table.c[field.name] for field in fields(cls)]


async def get_optout(engine: AsyncEngine, raw_msisdn: str) -> OptoutDetail | None:
    """The number's state, history (oldest first) and pushes; None for a number never seen.
    Raises InvalidPhoneNumber."""
    msisdn = normalise_msisdn(raw_msisdn)
    async with engine.connect() as conn:
        state = (
            await conn.execute(
                select(*_columns(OPTOUTS, OptoutState)).where(OPTOUTS.c.msisdn == msisdn)
            )
        ).first()
        history = (
            await conn.execute(
                select(*_columns(EVENTS, HistoryEntry))
                .where(EVENTS.c.msisdn == msisdn)
                .order_by(EVENTS.c.event_at, EVENTS.c.id)
            )
        ).all()
        pushes = (
            await conn.execute(
                select(*_columns(OUTBOX, Push))
                .where(OUTBOX.c.msisdn == msisdn)
                .order_by(OUTBOX.c.id)
            )
        ).all()
    if state is None and not history:
        return None
    return OptoutDetail(
        msisdn=msisdn,
        state=OptoutState(*state) if state else None,
        history=[HistoryEntry(*row) for row in history],
        pushes=[Push(*row) for row in pushes],
    )


async def list_opted_out(
    engine: AsyncEngine,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[OptoutState]:
    """Numbers opted out now, most recently changed first; `since`/`until` bound the time of
    the change."""
    query = select(*_columns(OPTOUTS, OptoutState)).where(OPTOUTS.c.opted_out.is_(True))
    if since is not None:
        query = query.where(OPTOUTS.c.changed_at >= since)
    if until is not None:
        query = query.where(OPTOUTS.c.changed_at < until)
    if after is not None:
        changed_at, msisdn = after
        query = query.where(
            or_(
                OPTOUTS.c.changed_at < changed_at,
                and_(OPTOUTS.c.changed_at == changed_at, OPTOUTS.c.msisdn < msisdn),
            )
        )
    query = query.order_by(OPTOUTS.c.changed_at.desc(), OPTOUTS.c.msisdn.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = [OptoutState(*row) for row in (await conn.execute(query)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, (rows[-1].changed_at, rows[-1].msisdn) if more else None)


async def list_pushes(
    engine: AsyncEngine, *, limit: int, state: PushState | None = None, after: int | None = None
) -> Page[Push]:
    """Pushes to Mobivate, newest first, optionally only those in one state."""
    query = select(*_columns(OUTBOX, Push))
    if state is not None:
        query = query.where(OUTBOX.c.state == state)
    if after is not None:
        query = query.where(OUTBOX.c.id < after)
    query = query.order_by(OUTBOX.c.id.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = [Push(*row) for row in (await conn.execute(query)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more else None)
