"""One identity per person: numbers re-keyed to E.164, one registry entry per person

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00

Schema: the registry and its history may hold a sender that cannot be resolved to E.164, under
its raw form (up to 64 characters, as `incoming_messages.originator`), flagged
`unresolved`; a history entry keeps the spelling it was written in (`written_as`) when that
differs from its key.

Data, upgrade: every number in the registry, its history, the outbox of pushes, sent messages,
incoming messages and clicks is re-keyed from registry digits (`447700900123`, or a spelling such
as `4407700900123` that older versions let through) to E.164 (`app.core.phone.resolve_msisdn`).
Registry entries that turn out to be one person are merged by the newest-event rule: the entry
whose change happened last (on a tie, the one updated last) becomes the person's state. Every
history entry is kept, re-keyed, with its old key in `written_as`. When a merge leaves a state
that came from another spelling than the canonical one, a push of that state is queued, so
Mobivate's list holds the number in the form it is sent. A key that does not resolve is kept as
it is and flagged `unresolved`. Live-feed entries (kept for hours) are not re-keyed.

Data, downgrade (restores what it can): history entries get their old keys back (`written_as`
when it is one, else the E.164 digits), and the registry is rebuilt from the history by the
newest-event rule, one entry per old key, as the older versions kept it. Pushes linked to a
history entry take its key; other pushes, sent messages, incoming messages and clicks get the
E.164 digits (a message sent to `4407700900123` comes back as `447700900123`). Unresolved senders
recorded after the upgrade whose raw form does not fit the older 32-character key are dropped
with their history: the older versions could neither record nor match them.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.core.db import UTCDateTime
from app.core.phone import InvalidPhoneNumber, resolve_msisdn

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000
# Tables whose `msisdn` is re-keyed with a mapping table (indexed or small enough).
PLAIN_TABLES = ("outbox", "outbound_messages", "incoming_messages", "clicks")
_OLD_FORM = re.compile(r"[1-9][0-9]{5,14}")


def _optouts() -> sa.TableClause:
    return sa.table(
        "optouts",
        sa.column("msisdn", sa.String),
        sa.column("unresolved", sa.Boolean),
        sa.column("opted_out", sa.Boolean),
        sa.column("changed_at", UTCDateTime()),
        sa.column("source", sa.String),
        sa.column("keyword", sa.String),
        sa.column("reason", sa.Text),
        sa.column("updated_at", UTCDateTime()),
    )


def _events() -> sa.TableClause:
    return sa.table(
        "optout_events",
        sa.column("id", sa.BigInteger),
        sa.column("msisdn", sa.String),
        sa.column("unresolved", sa.Boolean),
        sa.column("written_as", sa.String),
        sa.column("action", sa.String),
        sa.column("source", sa.String),
        sa.column("keyword", sa.String),
        sa.column("reason", sa.Text),
        sa.column("event_at", UTCDateTime()),
        sa.column("recorded_at", UTCDateTime()),
    )


def _outbox() -> sa.TableClause:
    return sa.table(
        "outbox",
        sa.column("id", sa.BigInteger),
        sa.column("operation", sa.String),
        sa.column("msisdn", sa.String),
        sa.column("event_id", sa.BigInteger),
        sa.column("state", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("next_attempt_at", UTCDateTime()),
        sa.column("created_at", UTCDateTime()),
    )


def _mapping() -> sa.Table:
    return sa.Table(
        "msisdn_rekey_0010",
        sa.MetaData(),
        sa.Column("old", sa.String(64), primary_key=True),
        sa.Column("new", sa.String(64), nullable=False),
    )


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _e164(key: str) -> str | None:
    try:
        return resolve_msisdn(key)
    except InvalidPhoneNumber:
        return None


def _old_form(value: str | None) -> str | None:
    """`value` when it is a key of the older versions (international digits, no `+`)."""
    return value if value is not None and _OLD_FORM.fullmatch(value) else None


def _rekey_tables(conn: sa.Connection, mapping: dict[str, str]) -> None:
    """`msisdn = mapping[msisdn]` in the history (keeping the old key in `written_as`) and in
    PLAIN_TABLES, through a mapping table: one statement per table."""
    changed = [{"old": old, "new": new} for old, new in mapping.items() if old != new]
    if not changed:
        return
    table = _mapping()
    table.create(conn)
    for chunk in _chunks(changed):
        conn.execute(table.insert(), list(chunk))
    for name in ("optout_events", *PLAIN_TABLES):
        target = sa.table(name, sa.column("msisdn", sa.String), sa.column("written_as", sa.String))
        values: dict[str, Any] = {
            "msisdn": sa.select(table.c.new).where(table.c.old == target.c.msisdn).scalar_subquery()
        }
        if name == "optout_events":
            # Both backends evaluate every SET expression on the row as it was.
            values["written_as"] = target.c.msisdn
        conn.execute(
            target.update().where(target.c.msisdn.in_(sa.select(table.c.old))).values(values)
        )
    table.drop(conn)


def _distinct_keys(conn: sa.Connection) -> set[str]:
    keys: set[str] = set()
    for name in ("optouts", "optout_events", *PLAIN_TABLES):
        column = sa.column("msisdn", sa.String)
        query = sa.select(column).select_from(sa.table(name, column)).distinct()
        keys.update(key for key in conn.execute(query).scalars() if key is not None)
    return keys


def _newest(rows: Iterable[Any]) -> Any:
    return max(rows, key=lambda row: (row.changed_at, row.updated_at))


def upgrade() -> None:
    with op.batch_alter_table("optouts") as batch_op:
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=32), type_=sa.String(length=64)
        )
        batch_op.add_column(
            sa.Column("unresolved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("optout_events") as batch_op:
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=32), type_=sa.String(length=64)
        )
        batch_op.add_column(
            sa.Column("unresolved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("written_as", sa.String(length=64), nullable=True))
    _rekey_up(op.get_bind())


def _rekey_up(conn: sa.Connection) -> None:
    resolved = {key: _e164(key) for key in _distinct_keys(conn)}
    mapping = {key: new for key, new in resolved.items() if new is not None}
    unresolved = sorted(key for key, new in resolved.items() if new is None)

    events = _events()
    for chunk in _chunks(unresolved):
        conn.execute(events.update().where(events.c.msisdn.in_(chunk)).values(unresolved=True))

    optouts = _optouts()
    rows = conn.execute(sa.select(optouts)).all()
    people: dict[str, list[Any]] = {}
    for row in rows:
        people.setdefault(mapping.get(row.msisdn, row.msisdn), []).append(row)
    conn.execute(optouts.delete())
    resolved_keys = set(mapping.values())
    merged = []
    pushes = []
    now = datetime.now(UTC)
    for key, entries in sorted(people.items()):
        newest = _newest(entries)
        merged.append({**newest._asdict(), "msisdn": key, "unresolved": key not in resolved_keys})
        came_from_another_spelling = newest.msisdn != key.removeprefix("+")
        if len(entries) > 1 and came_from_another_spelling and newest.source != "imported":
            pushes.append(
                {
                    "operation": "optout_add" if newest.opted_out else "optout_delete",
                    "msisdn": key,
                    "event_id": None,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    for chunk in _chunks(merged):
        conn.execute(optouts.insert(), list(chunk))
    _rekey_tables(conn, mapping)
    for chunk in _chunks(pushes):
        conn.execute(_outbox().insert(), list(chunk))


def downgrade() -> None:
    _rekey_down(op.get_bind())
    with op.batch_alter_table("optout_events") as batch_op:
        batch_op.drop_column("written_as")
        batch_op.drop_column("unresolved")
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=64), type_=sa.String(length=32)
        )
    with op.batch_alter_table("optouts") as batch_op:
        batch_op.drop_column("unresolved")
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=64), type_=sa.String(length=32)
        )


def _rekey_down(conn: sa.Connection) -> None:
    events, optouts, outbox = _events(), _optouts(), _outbox()
    too_long = sa.func.length(events.c.msisdn) > 32
    dropped = events.c.unresolved.is_(True) & too_long
    conn.execute(
        outbox.update()
        .where(outbox.c.event_id.in_(sa.select(events.c.id).where(dropped)))
        .values(event_id=None)
    )
    conn.execute(events.delete().where(dropped))

    restored = []
    for row in conn.execute(
        sa.select(events.c.id, events.c.msisdn, events.c.written_as, events.c.unresolved)
    ):
        old = row.msisdn if row.unresolved else _old_form(row.written_as)
        old = old or row.msisdn.removeprefix("+")
        if old != row.msisdn:
            restored.append({"event_id": row.id, "old": old})
    for chunk in _chunks(restored):
        conn.execute(
            events.update()
            .where(events.c.id == sa.bindparam("event_id"))
            .values(msisdn=sa.bindparam("old")),
            list(chunk),
        )

    conn.execute(optouts.delete())
    newest: dict[str, Any] = {}
    query = sa.select(events).where(events.c.action != "help").order_by(events.c.id)
    for event in conn.execute(query):
        current = newest.get(event.msisdn)
        if current is None or event.event_at >= current.event_at:
            newest[event.msisdn] = event
    states = [
        {
            "msisdn": key,
            "unresolved": event.unresolved,
            "opted_out": event.action == "opt_out",
            "changed_at": event.event_at,
            "source": event.source,
            "keyword": event.keyword,
            "reason": event.reason,
            "updated_at": event.recorded_at,
        }
        for key, event in sorted(newest.items())
    ]
    for chunk in _chunks(states):
        conn.execute(optouts.insert(), list(chunk))

    linked = sa.select(events.c.msisdn).where(events.c.id == outbox.c.event_id).scalar_subquery()
    conn.execute(outbox.update().where(outbox.c.event_id.is_not(None)).values(msisdn=linked))
    conn.execute(
        outbox.update()
        .where(outbox.c.msisdn.like("+%"), outbox.c.event_id.is_(None))
        .values(msisdn=sa.func.substr(outbox.c.msisdn, 2))
    )
    for name in ("outbound_messages", "incoming_messages", "clicks"):
        target = sa.table(name, sa.column("msisdn", sa.String))
        conn.execute(
            target.update()
            .where(target.c.msisdn.like("+%"))
            .values(msisdn=sa.func.substr(target.c.msisdn, 2))
        )
