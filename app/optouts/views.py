"""Reading the opt-out registry: one number with its state, history and pushes (the lists are in
`app.optouts.lists`)."""

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.phone import InvalidPhoneNumber, resolve_msisdn
from app.core.tables import OPTOUT_EVENTS as EVENTS
from app.core.tables import OPTOUTS
from app.core.tables import OUTBOX_MESSAGES as OUTBOX
from app.optouts.registry import raw_key

PushState = Literal["pending", "delivered", "failed"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OptoutState:
    msisdn: str
    unresolved: bool
    opted_out: bool
    changed_at: datetime
    source: str
    keyword: str | None
    reason: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    written_as: str | None
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
    unresolved: bool
    # None when the number has only asked for help.
    state: OptoutState | None
    history: list[HistoryEntry]
    pushes: list[Push]


def _columns(table: Any, cls: Any) -> list[Any]:
    return [table.c[field.name] for field in fields(cls)]


async def get_optout(
    engine: AsyncEngine, raw_msisdn: str, region: str | None = None
) -> OptoutDetail | None:
    """The number's state, history (oldest first) and pushes; None for a number never seen.
    Any spelling of a number finds its E.164 entry; a spelling that does not resolve finds the
    unresolved sender written exactly so. Raises InvalidPhoneNumber when it finds neither."""
    unresolved = False
    try:
        msisdn = resolve_msisdn(raw_msisdn, region)
    except InvalidPhoneNumber:
        unresolved = True
        msisdn = raw_key(raw_msisdn)
        async with engine.connect() as conn:
            known = await conn.scalar(
                select(EVENTS.c.id)
                .where(EVENTS.c.msisdn == msisdn, EVENTS.c.unresolved.is_(True))
                .limit(1)
            )
        if known is None:
            raise
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
        unresolved=unresolved,
        state=OptoutState(*state) if state else None,
        history=[HistoryEntry(*row) for row in history],
        pushes=[Push(*row) for row in pushes],
    )
