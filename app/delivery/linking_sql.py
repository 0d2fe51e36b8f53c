"""The statements of delivery tracking, per database.

PostgreSQL gets one statement per step whatever the number of rows: values travel as one array
per column (`= ANY(:array)`, `FROM unnest(...)`), so the SQL text never changes, the driver
prepares it once per connection, and each step is a single round trip. With asyncpg the statements
go straight to the driver connection (inside the caller's transaction): on the webhook hot path
SQLAlchemy's per-statement work would cost more than the database does. Rows of messages are
locked in id order first, so two writers moving overlapping messages cannot deadlock.
SQLite runs in-process: the same steps are plain statements executed with many parameter sets.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asyncpg import Connection as AsyncpgConnection  # type: ignore[import-untyped]
from sqlalchemy import (
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from app.core.db import IN_LIST_CHUNK, UTCDateTime, chunked
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.webhooks.ingest_pg import driver_connection

_MESSAGE_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.mobivate_id_norm,
    MESSAGES.c.reference,
    MESSAGES.c.mobivate_batch_id_norm,
)


def _is_postgresql(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class _PgSql:
    """One PostgreSQL statement: as SQLAlchemy text (:name) and as asyncpg SQL ($n)."""

    clause: TextClause
    asyncpg_sql: str
    names: tuple[str, ...]


def _pg(source: str) -> _PgSql:
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PgSql(text(source), re.sub(r":([a-z_]+)", placeholder, source), tuple(names))


async def _pg_run(conn: AsyncConnection, sql: _PgSql, values: Mapping[str, Any]) -> list[Any]:
    driver = driver_connection(conn) or (await conn.get_raw_connection()).driver_connection
    if isinstance(driver, AsyncpgConnection):
        records = await driver.fetch(sql.asyncpg_sql, *[values[name] for name in sql.names])
        return [tuple(record) for record in records]
    result = await conn.execute(sql.clause, dict(values))
    return list(result.all()) if result.returns_rows else []


async def lock_receipts(conn: AsyncConnection, timeout_seconds: float) -> bool:
    """`LOCK TABLE receipts IN SHARE MODE` on PostgreSQL, giving up after the timeout (the
    transaction goes on either way); nothing to do on SQLite."""
    if not _is_postgresql(conn):
        return True
    try:
        async with conn.begin_nested():
            milliseconds = max(1, int(timeout_seconds * 1000))
            await conn.execute(text(f"SET LOCAL lock_timeout = {milliseconds}"))
            await conn.execute(text("LOCK TABLE receipts IN SHARE MODE"))
            await conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    except OperationalError:
        return False
    return True


_PG_FIND = _pg(
    "SELECT id, mobivate_id_norm, reference, mobivate_batch_id_norm FROM outbound_messages "
    "WHERE mobivate_id_norm = ANY(CAST(:norms AS text[])) "
    "OR reference = ANY(CAST(:refs AS text[]))"
)


async def find_messages(
    conn: AsyncConnection, norms: list[str], references: list[str]
) -> list[tuple[int, str | None, str, str | None]]:
    """Messages whose Mobivate id is among `norms` or whose reference is among `references`."""
    if _is_postgresql(conn):
        return await _pg_run(conn, _PG_FIND, {"norms": norms, "refs": references})
    found: dict[int, tuple[int, str | None, str, str | None]] = {}
    for column, values in (
        (MESSAGES.c.mobivate_id_norm, norms),
        (MESSAGES.c.reference, references),
    ):
        for chunk in chunked(values, IN_LIST_CHUNK):
            rows = await conn.execute(select(*_MESSAGE_COLUMNS).where(column.in_(chunk)))
            found.update({row[0]: (row[0], row[1], row[2], row[3]) for row in rows.all()})
    return list(found.values())


_PG_LINKS: dict[str, _PgSql] = {}


def _pg_link(table_name: str) -> _PgSql:
    if table_name not in _PG_LINKS:
        _PG_LINKS[table_name] = _pg(
            f"UPDATE {table_name} AS t SET outbound_message_id = v.message_id "  # noqa: S608 (our table)
            "FROM unnest(CAST(:event_ids AS bigint[]), CAST(:message_ids AS bigint[])) "
            "AS v(event_id, message_id) WHERE t.id = v.event_id"
        )
    return _PG_LINKS[table_name]


async def set_links(conn: AsyncConnection, table: Table, pairs: Sequence[tuple[int, int]]) -> None:
    """Set `outbound_message_id` of event rows: (event id, message id) pairs."""
    if not pairs:
        return
    if _is_postgresql(conn):
        await _pg_run(
            conn,
            _pg_link(table.name),
            {"event_ids": [p[0] for p in pairs], "message_ids": [p[1] for p in pairs]},
        )
        return
    statement = (
        update(table)
        .where(table.c.id == bindparam("l_event_id"))
        .values(outbound_message_id=bindparam("l_message_id"))
    )
    await conn.execute(statement, [{"l_event_id": e, "l_message_id": m} for e, m in pairs])


# The new status must have a greater key (rank, time, receipt id) than the current one.
_PG_APPLY = _pg(
    """
UPDATE outbound_messages AS m SET
    status = v.status, status_code = v.status_code, status_at = v.status_at,
    status_rank = v.status_rank, status_receipt_id = v.receipt_id, final = v.final,
    delivered_at = v.delivered_at, parts = COALESCE(v.parts, m.parts),
    mobivate_id = COALESCE(m.mobivate_id, v.mobivate_id),
    mobivate_id_norm = COALESCE(m.mobivate_id_norm, v.norm), updated_at = :now
FROM unnest(
    CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:codes AS integer[]),
    CAST(:ats AS timestamptz[]), CAST(:ranks AS integer[]), CAST(:receipt_ids AS bigint[]),
    CAST(:finals AS boolean[]), CAST(:delivered AS timestamptz[]), CAST(:parts AS integer[]),
    CAST(:mobivate_ids AS text[]), CAST(:norms AS text[])
) AS v(id, status, status_code, status_at, status_rank, receipt_id, final, delivered_at, parts,
       mobivate_id, norm)
WHERE m.id = v.id AND (
    m.status_receipt_id IS NULL OR m.status_rank < v.status_rank
    OR (m.status_rank = v.status_rank AND (m.status_at < v.status_at
        OR (m.status_at = v.status_at AND m.status_receipt_id < v.receipt_id)))
)
RETURNING m.id, m.status
"""
)
_PG_LOCK_ROWS = _pg(
    "SELECT id, status FROM outbound_messages WHERE id = ANY(CAST(:ids AS bigint[])) "
    "ORDER BY id FOR UPDATE"
)

_KEY_IS_HIGHER = or_(
    MESSAGES.c.status_receipt_id.is_(None),
    MESSAGES.c.status_rank < bindparam("s_rank"),
    and_(
        MESSAGES.c.status_rank == bindparam("s_rank"),
        or_(
            MESSAGES.c.status_at < bindparam("s_at", type_=UTCDateTime()),
            and_(
                MESSAGES.c.status_at == bindparam("s_at", type_=UTCDateTime()),
                MESSAGES.c.status_receipt_id < bindparam("s_receipt_id"),
            ),
        ),
    ),
)
_APPLY = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("s_id"), _KEY_IS_HIGHER)
    .values(
        status=bindparam("s_status"),
        status_code=bindparam("s_status_code"),
        status_at=bindparam("s_at", type_=UTCDateTime()),
        status_rank=bindparam("s_rank"),
        status_receipt_id=bindparam("s_receipt_id"),
        final=bindparam("s_final"),
        delivered_at=bindparam("s_delivered_at", type_=UTCDateTime()),
        parts=func.coalesce(bindparam("s_parts", type_=MESSAGES.c.parts.type), MESSAGES.c.parts),
        mobivate_id=func.coalesce(
            MESSAGES.c.mobivate_id, bindparam("s_mobivate_id", type_=MESSAGES.c.mobivate_id.type)
        ),
        mobivate_id_norm=func.coalesce(
            MESSAGES.c.mobivate_id_norm,
            bindparam("s_norm", type_=MESSAGES.c.mobivate_id_norm.type),
        ),
        updated_at=bindparam("s_now", type_=UTCDateTime()),
    )
)

_FIELDS = {
    "ids": "s_id",
    "statuses": "s_status",
    "codes": "s_status_code",
    "ats": "s_at",
    "ranks": "s_rank",
    "receipt_ids": "s_receipt_id",
    "finals": "s_final",
    "delivered": "s_delivered_at",
    "parts": "s_parts",
    "mobivate_ids": "s_mobivate_id",
    "norms": "s_norm",
}


async def apply_statuses(
    conn: AsyncConnection, updates: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """Each update (keys as in `_FIELDS` values, plus "s_now") moves one message's status,
    unless the message already has a status with a greater key. Sorted by message id.
    Returns (status before, status after) of each message that was updated."""
    if not updates:
        return []
    ids = [u["s_id"] for u in updates]
    if not _is_postgresql(conn):
        before = await _statuses(conn, ids)
        await conn.execute(_APPLY, list(updates))
        after = await _statuses(conn, ids)
        return [(before[i], after[i]) for i in ids if i in before and before[i] != after.get(i)]
    before = dict(await _pg_run(conn, _PG_LOCK_ROWS, {"ids": ids}))
    values: dict[str, Any] = {name: [u[key] for u in updates] for name, key in _FIELDS.items()}
    values["now"] = updates[0]["s_now"]
    moved = await _pg_run(conn, _PG_APPLY, values)
    return [(before[message_id], status) for message_id, status in moved if message_id in before]


async def _statuses(conn: AsyncConnection, ids: list[int]) -> dict[int, str]:
    statuses: dict[int, str] = {}
    for chunk in chunked(ids, IN_LIST_CHUNK):
        query = select(MESSAGES.c.id, MESSAGES.c.status).where(MESSAGES.c.id.in_(chunk))
        statuses.update({int(i): str(status) for i, status in await conn.execute(query)})
    return statuses
