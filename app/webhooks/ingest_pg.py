"""One statement per batch for the ingest writer on PostgreSQL.

The raw requests and the events of all kinds go in with a single statement: one data-modifying
CTE per event table (`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING ...`) and one for
the raw requests, whose `outcome` becomes "duplicate" in the same statement when none of its
events was inserted. Every round trip to the server costs more CPU (system calls, wake-ups on
both sides) than the rows themselves, so the batch is one round trip between BEGIN and COMMIT.

An after-store step may put its rows in that statement too (`Companion`: the live feed's entries,
one per inserted event, with the event's new id), which saves it a round trip of its own.

Values travel as one array per column (`SELECT ... FROM unnest(:a, :b, ...)`), so the SQL text
depends only on which tables take part, never on the number of rows: each variant is compiled
once and prepared once per connection. Foreign keys from events to their request are checked at
the end of the statement, when both are in place.

With asyncpg the statement goes straight to the driver connection: SQLAlchemy's execution and
result layers cost more CPU than the statement itself (measured ~0.4 ms per batch). So the
transaction is the driver's too (`transaction`): SQLAlchemy's asyncpg adapter sends its BEGIN
only before the first statement that goes through SQLAlchemy, which would leave a statement sent
straight to the driver outside the transaction, committed on its own. The writer's connection is
set to autocommit for SQLAlchemy (`prepared`), so SQLAlchemy sends no BEGIN or COMMIT at all and
the after-store steps' statements run inside the driver's transaction. Driver errors are raised
as the SQLAlchemy errors the writer handles (DataError, IntegrityError, DBAPIError). Other
drivers (psycopg) go through SQLAlchemy and its transaction.
"""

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from asyncpg import Connection as AsyncpgConnection  # type: ignore[import-untyped]
from asyncpg import PostgresError
from asyncpg.exceptions import DataError as AsyncpgDataError  # type: ignore[import-untyped]
from sqlalchemy import JSON, String, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

Row = dict[str, Any]
_Shape = tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...], tuple["Companion", ...]]

# Companion rows carry the event they belong to in these two columns, read by the join only.
_EVENT_TABLE, _EVENT_KEY = "event_table", "event_dedupe_key"


@dataclass(frozen=True, slots=True)
class Companion:
    """Rows of another table written in the batch's statement, one per event the statement
    inserts (none for a duplicate), in the order of the events' ids: the `columns` given per
    event, `ref_column` set to the event's new id, and the JSON `json_column` given that id as
    its "id" key. The advisory lock `shared_lock` is taken in shared mode before the first row
    (and held until the transaction ends)."""

    table: Table
    columns: tuple[str, ...]
    ref_column: str
    json_column: str
    shared_lock: int


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_ASYNCPG_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class _Statement:
    clause: TextClause
    params: dict[str, tuple[str, str, bool]]  # bind name -> (table, column, is JSON)
    asyncpg_sql: str  # the same statement with $n placeholders, in the order of `positions`
    positions: tuple[str, ...]


_STATEMENTS: dict[_Shape, _Statement] = {}


async def _driver(conn: AsyncConnection) -> object:
    return driver_connection(conn) or (await conn.get_raw_connection()).driver_connection


def driver_connection(conn: AsyncConnection) -> object | None:
    """The driver's connection under an open `conn`, without the greenlet hop of
    `get_raw_connection` (it costs more than a small statement); None when not open."""
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    return sync.connection.driver_connection


async def prepared(conn: AsyncConnection) -> AsyncConnection:
    """A fresh connection made ready for `transaction`: with asyncpg, autocommit for SQLAlchemy
    (the pool restores the isolation level when the connection goes back)."""
    if isinstance(await _driver(conn), AsyncpgConnection):
        return await conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


@asynccontextmanager
async def transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """One transaction holding every statement of the block, sent straight to the driver or
    through SQLAlchemy. With asyncpg, `conn` must come from `prepared`."""
    driver = await _driver(conn)
    if not isinstance(driver, AsyncpgConnection):
        async with conn.begin():
            yield
        return
    try:
        async with driver.transaction(), conn.begin():
            yield
    except (PostgresError, AsyncpgDataError) as exc:
        raise _translated("the ingest transaction", exc) from exc


async def insert_batch(
    conn: AsyncConnection,
    requests_table: Table,
    requests: Sequence[Row],
    events: Mapping[Table, Sequence[Row]],
    companions: Mapping[Companion, Mapping[Table, Sequence[Row]]] | None = None,
) -> dict[str, dict[str, int]]:
    """Insert the raw requests and the events whose `dedupe_key` is new, and each companion's
    rows for the events inserted (given per event table, in the order of that table's rows).

    A request row whose `outcome` is "stored" is stored as "duplicate" when none of the event
    rows naming it in `request_id` was inserted. Returns, per event table name, the id of each
    inserted row by its `dedupe_key`.
    """
    tables = {table.name: table for table, rows in events.items() if rows}
    companion_rows = {
        companion: [
            {**row, _EVENT_TABLE: table.name, _EVENT_KEY: event["dedupe_key"]}
            for table, rows in by_table.items()
            for event, row in zip(events[table], rows, strict=True)
        ]
        for companion, by_table in (companions or {}).items()
    }
    companion_rows = {companion: rows for companion, rows in companion_rows.items() if rows}
    shape: _Shape = (
        tuple(requests[0]) if requests else (),
        tuple((name, tuple(events[table][0])) for name, table in tables.items()),
        tuple(companion_rows),
    )
    statement = _statement(shape, tables, requests_table)
    by_name = {companion.table.name: rows for companion, rows in companion_rows.items()}
    values: Row = {}
    for param, (table_name, column, is_json) in statement.params.items():
        if table_name == requests_table.name:
            rows = requests
        elif table_name in tables:
            rows = events[tables[table_name]]
        else:
            rows = by_name[table_name]
        column_values = [row.get(column) for row in rows]
        if is_json:
            column_values = [None if v is None else orjson.dumps(v).decode() for v in column_values]
        values[param] = column_values
    inserted: dict[str, dict[str, int]] = {name: {} for name in tables}
    for table_name, key, row_id in await _execute(conn, statement, values):
        inserted[table_name][key] = row_id
    return inserted


async def _execute(conn: AsyncConnection, statement: _Statement, values: Row) -> list[Any]:
    driver = await _driver(conn)
    if not isinstance(driver, AsyncpgConnection):
        return list((await conn.execute(statement.clause, values)).all())
    try:
        records = await driver.fetch(
            statement.asyncpg_sql, *[values[name] for name in statement.positions]
        )
    except (PostgresError, AsyncpgDataError) as exc:
        raise _translated(statement.asyncpg_sql, exc) from exc
    return [tuple(record) for record in records]


def _translated(sql: str, exc: Exception) -> DBAPIError:
    """The SQLAlchemy error for a driver error: data (SQLSTATE 22, or a value the driver cannot
    encode), integrity (23), or any other database error."""
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    if isinstance(exc, AsyncpgDataError) or sqlstate.startswith("22"):
        return DataError(sql, None, exc)
    if sqlstate.startswith("23"):
        return IntegrityError(sql, None, exc)
    return DBAPIError(sql, None, exc)


def _statement(shape: _Shape, tables: Mapping[str, Table], requests: Table) -> _Statement:
    cached = _STATEMENTS.get(shape)
    if cached is not None:
        return cached
    request_columns, event_shapes, companions = shape
    params: dict[str, tuple[str, str, bool]] = {}
    ctes = []
    for index, (name, columns) in enumerate(event_shapes):
        source = _unnest(tables[name], columns, f"e{index}_", params)
        ctes.append(
            f"e{index} AS (INSERT INTO {name} ({', '.join(columns)}) {source} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING request_id, dedupe_key, id)"
        )
    if request_columns:
        outcome = "v.outcome"
        if event_shapes:
            stored = " OR ".join(
                f"EXISTS (SELECT FROM e{index} WHERE e{index}.request_id = v.id)"
                for index in range(len(event_shapes))
            )
            outcome = (
                f"CASE WHEN v.outcome = 'stored' AND NOT ({stored}) THEN 'duplicate' "
                "ELSE v.outcome END"
            )
        source = _unnest(requests, request_columns, "r_", params, {"outcome": outcome})
        names = ", ".join(request_columns)
        ctes.append(f"r AS (INSERT INTO {requests.name} ({names}) {source})")
    inserted = " UNION ALL ".join(
        f"SELECT '{name}' AS event_table, dedupe_key, id FROM e{index}"  # noqa: S608
        for index, (name, _) in enumerate(event_shapes)
    )
    for index, companion in enumerate(companions):
        ctes.extend(_companion(companion, f"c{index}", inserted, params))
    selects = [
        f"SELECT '{name}', dedupe_key, id FROM e{index}"  # noqa: S608
        for index, (name, _) in enumerate(event_shapes)
    ] or ["SELECT '', '', 0 WHERE false"]
    # Only names from the table metadata go into the SQL text; values are bound parameters.
    clause = text(f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}")
    compiled = clause.compile(dialect=_ASYNCPG_DIALECT)
    positions = tuple(compiled.positiontup or ())
    _STATEMENTS[shape] = cached = _Statement(clause, params, compiled.string, positions)
    return cached


def _companion(
    companion: Companion, name: str, inserted: str, params: dict[str, tuple[str, str, bool]]
) -> list[str]:
    """The CTEs of one companion: its lock, and its rows joined to the events just inserted."""
    table, arrays, selected = companion.table, [], []
    columns = (*companion.columns, _EVENT_TABLE, _EVENT_KEY)
    for column in columns:
        param = f"{name}_{column}"
        column_type = table.c[column].type if column in table.c else String()
        is_json = isinstance(column_type, JSON)
        params[param] = (table.name, column, is_json)
        sql_type = "TEXT" if is_json or isinstance(column_type, String) else None
        arrays.append(f"CAST(:{param} AS {sql_type or column_type.compile(_DIALECT)}[])")
        if column == companion.json_column:
            selected.append(f"jsonb_build_object('id', e.id) || CAST(v.{column} AS JSONB)")
        elif is_json:
            selected.append(f"CAST(v.{column} AS JSONB)")
        elif column in companion.columns:
            selected.append(f"v.{column}")
    names = ", ".join(companion.columns)
    lock = int(companion.shared_lock)
    return [
        f"{name}_lock AS (SELECT pg_advisory_xact_lock_shared({lock}))",
        f"{name} AS (INSERT INTO {table.name} ({names}, {companion.ref_column}) "  # noqa: S608
        f"SELECT {', '.join(selected)}, e.id FROM {name}_lock CROSS JOIN ({inserted}) AS e "
        f"JOIN unnest({', '.join(arrays)}) AS v({', '.join(columns)}) "
        f"ON v.{_EVENT_TABLE} = e.event_table AND v.{_EVENT_KEY} = e.dedupe_key ORDER BY e.id)",
    ]


def _unnest(
    table: Table,
    columns: tuple[str, ...],
    prefix: str,
    params: dict[str, tuple[str, str, bool]],
    expressions: Mapping[str, str] | None = None,
) -> str:
    """`SELECT v.a, v.b, ... FROM unnest(CAST(:p_a AS type[]), ...) AS v(a, b, ...)`."""
    arrays, selected = [], []
    for column in columns:
        param = prefix + column
        column_type = table.c[column].type
        is_json = isinstance(column_type, JSON)
        params[param] = (table.name, column, is_json)
        if is_json:
            arrays.append(f"CAST(:{param} AS TEXT[])")
            selected.append(f"CAST(v.{column} AS JSONB)")
        else:
            # Strings go as TEXT: a cast to VARCHAR(n) would cut a value the INSERT must refuse.
            sql_type = "TEXT" if isinstance(column_type, String) else column_type.compile(_DIALECT)
            arrays.append(f"CAST(:{param} AS {sql_type}[])")
            selected.append((expressions or {}).get(column, f"v.{column}"))
    names = ", ".join(columns)
    return f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) AS v({names})"  # noqa: S608
