"""The opt-out registry: one current state per number, an append-only history, pushes to Mobivate.

Every change is an event (opt-out, opt-in or help) with the time it happened. The history keeps
every event; the current state follows the newest one, in this order:
1. an operator's or API caller's change (source `operator` or `api`) takes effect at once, whatever
   event times are stored: it is made now, by a person who knows what they want now;
2. otherwise an event changes the state when its time is after the time of the change that set
   it, so a STOP delivered late by Mobivate cannot undo a START the customer sent after it;
3. two changes at the same time (Mobivate dates replies to the second, so two replies in one
   second tie): an opt-out wins over an opt-in, whichever arrived first; between equal actions
   the one recorded later wins.
Event times too far in the future are not trusted in the first place (`trusted_event_time`).

A change the rule applies, unless it came from Mobivate (imported from its list, or learned from
its refusals and receipts), also writes a push to the outbox (`optout_add` or `optout_delete`) in
the same transaction, and with OPTOUT_CONTACTS_PROXY one for the contacts proxy
(`contacts_create` or `contacts_delete`); the outbox worker delivers them.
A change the rule does not apply is kept in the history only.

Numbers are keyed in E.164 (`app.core.phone.resolve_msisdn`), so every spelling of one phone is
one person here. A sender that cannot be resolved is keyed by its raw form and flagged
`unresolved`: kept and listed, never pushed to Mobivate (it would not take it), and never matched
by a send, which needs a resolved number.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Table, and_, any_, bindparam, insert, literal_column, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.errors import ServiceError
from app.core.phone import resolve_msisdn
from app.core.tables import OPTOUT_EVENTS as EVENTS
from app.core.tables import OPTOUTS
from app.core.tables import OUTBOX_MESSAGES as OUTBOX
from app.feed import entries as feed

Action = Literal["opt_out", "opt_in", "help"]
Source = Literal["incoming_sms", "api", "operator", "imported", "mobivate"]
# The pushes of a change, per destination: (opt-out, opt-in). Mobivate's opt-out list always;
# its contacts proxy with OPTOUT_CONTACTS_PROXY.
PUSH_OPERATIONS: dict[str, tuple[str, str]] = {
    "optouts": ("optout_add", "optout_delete"),
    "contacts": ("contacts_create", "contacts_delete"),
}
# Changes Mobivate told us about: Mobivate has them already, so they are never pushed back.
FROM_MOBIVATE: frozenset[str] = frozenset({"imported", "mobivate"})
# Changes made now by a person through the API: they apply whatever event times are stored.
IMMEDIATE_SOURCES = ("api", "operator")


# SQLite: numbers per `IN (...)` of `is_opted_out`.
_SQLITE_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class OptoutChange:
    msisdn: str
    action: Action
    source: Source
    event_at: datetime
    keyword: str | None = None
    reason: str | None = None
    incoming_message_id: int | None = None
    unresolved: bool = False
    written_as: str | None = None
    # Repeating an event with the same key records nothing (a redelivered STOP, a re-import).
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class RecordResult:
    recorded: int
    changed: frozenset[str]
    pushes: int


class OptoutNotFound(ServiceError):
    status = 404

    def __init__(self, msisdn: str) -> None:
        super().__init__(
            f"{msisdn} has never been opted out here, so there is nothing to remove; if Mobivate "
            "lists it, import Mobivate's list first (mobivate-hooks sync-optouts)"
        )
        self.msisdn = msisdn


def trusted_event_time(
    event_at: datetime | None, received_at: datetime, tolerance: timedelta
) -> tuple[datetime, str | None]:
    """The time to order an event by, and a note for its history entry when that is not the
    event's own time: one further than `tolerance` ahead of its receipt is not trusted (a clock
    or time-zone error at the sender), and the receipt time is used."""
    if event_at is None:
        return received_at, None
    if event_at - received_at <= tolerance:
        return event_at, None
    note = (
        f"event time {event_at.isoformat()} was {_ahead(event_at - received_at)} ahead of its "
        f"receipt; ordered by the receipt time"
    )
    return received_at, note


def _ahead(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def _order(event: Any) -> tuple[datetime, bool, bool, int]:
    """Rules 1 to 3 of the module docstring, as a sort key among new events of one number."""
    return (
        event.event_at,
        event.source in IMMEDIATE_SOURCES,
        event.action == "opt_out",
        event.id,
    )


def raw_key(text: str) -> str:
    """How a number that cannot be resolved is kept: as written, without surrounding space and
    with control characters (which PostgreSQL refuses in text) replaced, at most 64 characters."""
    return "".join(char if char.isprintable() else "\ufffd" for char in text.strip())[:64]


def _written_as(change: OptoutChange) -> str | None:
    written = change.written_as
    return None if written is None or written == change.msisdn else raw_key(written)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def record_changes(
    conn: AsyncConnection,
    changes: Sequence[OptoutChange],
    *,
    now: datetime | None = None,
    contacts: bool = False,
) -> RecordResult:
    """Record events, apply the newest per number, enqueue pushes: three multi-row statements
    (per thousand changes). With `contacts` (OPTOUT_CONTACTS_PROXY) each change is also pushed
    to Mobivate's contacts proxy, as a push of its own (`contacts_create`/`contacts_delete`).

    Runs inside the caller's transaction.
    """
    if not changes:
        return RecordResult(0, frozenset(), 0)
    now = now or utcnow()
    rows = [
        {
            "msisdn": change.msisdn,
            "unresolved": change.unresolved,
            "written_as": _written_as(change),
            "action": change.action,
            "source": change.source,
            "keyword": change.keyword,
            "reason": change.reason,
            "incoming_message_id": change.incoming_message_id,
            "dedupe_key": change.dedupe_key,
            "event_at": change.event_at,
            "recorded_at": now,
        }
        for change in changes
    ]
    # executemany: SQLAlchemy sends these as multi-row INSERTs ("insertmanyvalues"), compiled once.
    new_events = (
        _insert(conn, EVENTS)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(
            EVENTS.c.id,
            EVENTS.c.msisdn,
            EVENTS.c.unresolved,
            EVENTS.c.action,
            EVENTS.c.source,
            EVENTS.c.keyword,
            EVENTS.c.reason,
            EVENTS.c.event_at,
        )
    )
    inserted = (await conn.execute(new_events, rows)).all()

    await feed.append(conn, [feed.optout_entry(event, now) for event in inserted])

    # The newest new event per number; help requests do not change the state.
    newest: dict[str, Any] = {}
    for event in inserted:
        if event.action == "help":
            continue
        current = newest.get(event.msisdn)
        if current is None or _order(event) >= _order(current):
            newest[event.msisdn] = event
    if not newest:
        return RecordResult(len(inserted), frozenset(), 0)

    # Sorted, so concurrent transactions lock rows in the same order.
    state_rows = [
        {
            "msisdn": event.msisdn,
            "unresolved": event.unresolved,
            "opted_out": event.action == "opt_out",
            "changed_at": event.event_at,
            "source": event.source,
            "keyword": event.keyword,
            "reason": event.reason,
            "updated_at": now,
        }
        for _, event in sorted(newest.items())
    ]
    upsert = _insert(conn, OPTOUTS)
    upsert = upsert.on_conflict_do_update(
        index_elements=["msisdn"],
        set_={
            name: upsert.excluded[name]
            for name in ("opted_out", "changed_at", "source", "keyword", "reason", "updated_at")
        },
        where=or_(
            # Literal: an expanding IN cannot be used in an executemany.
            *(upsert.excluded.source == literal_column(f"'{name}'") for name in IMMEDIATE_SOURCES),
            OPTOUTS.c.changed_at < upsert.excluded.changed_at,
            and_(
                OPTOUTS.c.changed_at == upsert.excluded.changed_at,
                or_(upsert.excluded.opted_out.is_(True), OPTOUTS.c.opted_out.is_(False)),
            ),
        ),
    ).returning(OPTOUTS.c.msisdn, OPTOUTS.c.opted_out)
    changed: dict[str, bool] = dict((await conn.execute(upsert, state_rows)).all())

    operations = [PUSH_OPERATIONS["optouts"]]
    if contacts:
        operations.append(PUSH_OPERATIONS["contacts"])
    pushes = [
        {
            "operation": add if opted_out else delete,
            "msisdn": msisdn,
            "event_id": newest[msisdn].id,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for msisdn, opted_out in sorted(changed.items())
        if newest[msisdn].source not in FROM_MOBIVATE and not newest[msisdn].unresolved
        for add, delete in operations
    ]
    if pushes:
        await conn.execute(insert(OUTBOX), pushes)
    return RecordResult(len(inserted), frozenset(changed), len(pushes))


async def change_number(
    engine: AsyncEngine,
    raw_msisdn: str,
    action: Literal["opt_out", "opt_in"],
    *,
    source: Source,
    region: str | None = None,
    reason: str | None = None,
    require_known: bool = False,
    on_commit: Callable[[], None] | None = None,
    contacts: bool = False,
) -> str:
    """Opt a number out or in now, on behalf of an operator or API caller; returns its E.164.
    Raises InvalidPhoneNumber (an ambiguous number included: an operator names one person), or
    OptoutNotFound with `require_known` for a number the registry has never seen."""
    msisdn = resolve_msisdn(raw_msisdn, region)
    async with engine.begin() as conn:
        if require_known and not await _is_known(conn, msisdn):
            raise OptoutNotFound(msisdn)
        change = OptoutChange(
            msisdn, action, source, utcnow(), reason=reason, written_as=raw_msisdn.strip()
        )
        result = await record_changes(conn, [change], contacts=contacts)
    if result.pushes and on_commit is not None:
        on_commit()
    return msisdn


async def _is_known(conn: AsyncConnection, msisdn: str) -> bool:
    state = await conn.scalar(select(OPTOUTS.c.msisdn).where(OPTOUTS.c.msisdn == msisdn))
    if state is not None:
        return True
    event = await conn.scalar(select(EVENTS.c.id).where(EVENTS.c.msisdn == msisdn).limit(1))
    return event is not None


async def is_opted_out(
    conn_or_engine: AsyncConnection | AsyncEngine, numbers: Iterable[str]
) -> set[str]:
    """The numbers, E.164 as `app.core.phone.resolve_msisdn` gives them, that are opted out now.

    Resolve numbers before asking: any other spelling matches nothing. One query on PostgreSQL
    however many numbers are asked about; on SQLite one per 10,000.
    """
    wanted = set(numbers)
    if not wanted:
        return set()
    if isinstance(conn_or_engine, AsyncEngine):
        async with conn_or_engine.connect() as conn:
            return await _opted_out(conn, sorted(wanted))
    return await _opted_out(conn_or_engine, sorted(wanted))


async def _opted_out(conn: AsyncConnection, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    opted_out = select(OPTOUTS.c.msisdn).where(OPTOUTS.c.opted_out.is_(True))
    if conn.dialect.name == "postgresql":
        array = bindparam("numbers", numbers, type_=postgresql.ARRAY(OPTOUTS.c.msisdn.type))
        found.update(
            (await conn.execute(opted_out.where(OPTOUTS.c.msisdn == any_(array)))).scalars()
        )
        return found
    for start in range(0, len(numbers), _SQLITE_CHUNK):
        chunk = numbers[start : start + _SQLITE_CHUNK]
        found.update((await conn.execute(opted_out.where(OPTOUTS.c.msisdn.in_(chunk)))).scalars())
    return found
