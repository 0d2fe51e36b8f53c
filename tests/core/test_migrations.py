"""The schema is made only by migrations: up, down and up again on both backends, no drift."""

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.core import migrate
from app.core.db import Base, JSONType, UTCDateTime, create_engine
from app.core.tables import Batch, Receipt
from tests.support.cli import run_cli
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database


@pytest.fixture(params=BACKENDS)
async def empty_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('migrations')}/empty.db"
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_table_names)
    finally:
        await engine.dispose()


async def test_migrations_go_up_down_and_up_again(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database)
    expected = {table.name for table in Base.metadata.sorted_tables}
    assert expected <= await tables(empty_database)

    await asyncio.to_thread(migrate.downgrade, empty_database, "base")
    assert await tables(empty_database) <= {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, empty_database)
    assert expected <= await tables(empty_database)


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_do_not_drift(migrated_database: str) -> None:
    engine = create_engine(migrated_database)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def _migrate_in_subprocess(database_url: str) -> int:
    code, _, _ = await run_cli({**os.environ, "DATABASE_URL": database_url}, "migrate")
    return code


async def test_concurrent_migrate_processes_migrate_once(empty_database: str) -> None:
    codes = await asyncio.gather(*(_migrate_in_subprocess(empty_database) for _ in range(3)))
    assert codes == [0, 0, 0]
    engine = create_engine(empty_database)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(migrate.current_revisions)
    finally:
        await engine.dispose()
    assert current == migrate.head_revisions()


async def test_receipts_stored_before_get_their_hlr_columns(empty_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database, "0012")
    receipts = sa.table(
        "receipts",
        sa.column("dedupe_key", sa.String()),
        sa.column("source", sa.String()),
        sa.column("received_at", UTCDateTime()),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("hlr", JSONType),
    )
    hlr = {
        "mccMnc": "23410",
        "originalNetwork": {"networkName": "MNO - BT", "countryName": "United Kingdom"},
        "ported": True,
        "portedNetwork": {"networkName": "MNO - O2", "countryName": "United Kingdom"},
        "status": {"groupName": "DELIVERED"},
    }
    now = datetime.now(UTC)
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(receipts),
                [
                    {"dedupe_key": key, "source": "webhook", "received_at": now,
                     "occurred_at": now, "hlr": value}
                    for key, value in (("with-hlr", hlr), ("without", None), ("odd", {"x": 1}))
                ],
            )  # fmt: skip
        await asyncio.to_thread(migrate.upgrade, empty_database)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    Receipt.dedupe_key,
                    Receipt.hlr_reachable,
                    Receipt.hlr_network,
                    Receipt.hlr_country,
                    Receipt.hlr_ported,
                    Receipt.hlr_mcc_mnc,
                ).order_by(Receipt.dedupe_key)
            )
            found = [tuple(row) for row in rows.all()]
    finally:
        await engine.dispose()
    assert found == [
        ("odd", None, None, None, None, None),
        ("with-hlr", True, "MNO - O2", "United Kingdom", True, "23410"),
        ("without", None, None, None, None, None),
    ]


async def test_batches_sent_before_background_submission_get_their_progress(
    empty_database: str,
) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database, "0014")
    now = datetime.now(UTC)
    batch = {
        "route_id": "mglobal", "shorten_urls": False, "exclude_duplicates": True,
        "requested": 4, "skipped": [], "mobivate_batch_ids": ["B1"], "created_at": now,
        "updated_at": now,
    }  # fmt: skip
    message = {
        "originator": "Shop", "body": "x", "route_id": "mglobal", "encoding": "GSM-7",
        "parts": 1, "shorten_urls": False, "status_at": now, "status_rank": 0, "final": False,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "skipped": JSONType, "mobivate_batch_ids": JSONType, "created_at": UTCDateTime(),
        "updated_at": UTCDateTime(), "status_at": UTCDateTime(),
    }  # fmt: skip
    batches = sa.table(
        "batches", *(sa.column(name, types.get(name)) for name in [*batch, "id", "state"])
    )
    messages = sa.table(
        "outbound_messages",
        *(
            sa.column(name, types.get(name))
            for name in [*message, "batch_id", "msisdn", "reference", "submission", "status"]
        ),
    )
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(batches), [
                {**batch, "id": 1, "state": "partially_submitted"},
                {**batch, "id": 2, "state": "failed"},
            ])  # fmt: skip
            await conn.execute(sa.insert(messages), [
                {**message, "batch_id": 1, "msisdn": f"+4477009000{i}", "reference": f"r{i}",
                 "submission": outcome, "status": outcome}
                for i, outcome in enumerate(["submitted", "submitted", "refused"])
            ])  # fmt: skip
        await asyncio.to_thread(migrate.upgrade, empty_database)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    Batch.id, Batch.total, Batch.submitted, Batch.not_submitted, Batch.checked,
                    Batch.prepared,
                ).order_by(Batch.id)
            )  # fmt: skip
            found = [tuple(row) for row in rows.all()]
    finally:
        await engine.dispose()
    assert found == [(1, 3, 2, 1, 4, True), (2, 0, 0, 0, 4, True)]


def test_head_is_single() -> None:
    assert len(migrate.head_revisions()) == 1
