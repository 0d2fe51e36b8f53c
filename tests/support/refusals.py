"""A database that refuses some rows, as a real one does with data it cannot hold: a trigger
raises for rows matching a condition, on SQLite and on PostgreSQL. Dropped on exit."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def refusing(
    engine: AsyncEngine, table: str, *, sqlite_when: str, postgres_when: str
) -> AsyncIterator[None]:
    """Inserts into `table` whose NEW row matches the condition fail inside the database."""
    name = f"refuse_{table}"
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        if postgres:
            await conn.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$"
                )
            )
            await conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                    f"WHEN ({postgres_when}) EXECUTE FUNCTION {name}()"
                )
            )
        else:
            await conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {sqlite_when} "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
                )
            )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {name}" + (f" ON {table}" if postgres else "")))
            if postgres:
                await conn.execute(text(f"DROP FUNCTION {name}()"))


def refusing_receipt(engine: AsyncEngine, message_id: str) -> AbstractAsyncContextManager[None]:
    return refusing(
        engine,
        "receipts",
        sqlite_when=f"NEW.delivery_message_id = '{message_id}'",
        postgres_when=f"NEW.delivery_message_id = '{message_id}'",
    )


def refusing_body(engine: AsyncEngine, marker: str) -> AbstractAsyncContextManager[None]:
    """Raw webhook requests whose body contains `marker` are refused."""
    return refusing(
        engine,
        "webhook_requests",
        sqlite_when=f"instr(CAST(NEW.body AS TEXT), '{marker}') > 0",
        postgres_when=f"position('{marker}'::bytea in NEW.body) > 0",
    )
