"""Faults an operator will see, against the real service process: PostgreSQL stopped and
restarted under load, the service killed with SIGKILL under load, and nothing acknowledged may
be lost. Each test is bounded in time and prints its figures."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app import migrate
from app.db import create_engine
from app.models import Optout
from tests.fault_support import (
    API_TOKEN,
    SECRET,
    ServiceProcess,
    WebhookLoad,
    eventually,
    service,
    steady_load,
    stored_receipts,
)
from tests.figures import record
from tests.pg_cluster import PgCluster, throwaway_postgres

pytestmark = pytest.mark.fault

RATE = 60  # webhook posts per second
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    async with throwaway_postgres() as pg:
        await pg.migrate()
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database of each backend, for scenarios that apply to both."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/faults.db"
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
        return
    async with throwaway_postgres() as pg:
        await pg.migrate()
        yield pg.url


async def check_nothing_lost(name: str, url: str, load: WebhookLoad) -> None:
    report = load.report
    engine = create_engine(url)
    try:
        stored = await stored_receipts(engine, report.keys_posted)
    finally:
        await engine.dispose()
    lost = report.acknowledged - set(stored)
    record(
        name,
        posted=report.posted,
        unique_events=len(report.keys_posted),
        acknowledged=len(report.acknowledged),
        stored=len(stored),
        lost=len(lost),
        server_errors=report.server_errors,
        refused_connections=report.failed_to_connect,
        answers=dict(sorted(report.answers.items())),
    )
    assert not lost, sorted(lost)[:10]
    assert all(count == 1 for count in stored.values()), "an event was stored twice"
    assert report.server_errors == 0


async def spool_empty(process: ServiceProcess) -> bool:
    async with process.client() as client:
        response = await client.get("/readyz")
    return bool(response.json().get("spool", {}).get("entries", 0) == 0)


async def test_service_killed_under_load_loses_no_acknowledged_event(
    database: str, tmp_path: Path
) -> None:
    async with asyncio.timeout(120):
        async with service(tmp_path, {"DATABASE_URL": database}) as process:
            async with steady_load([process.base_url], RATE) as load:
                await asyncio.sleep(3)
                await process.kill()
                await asyncio.sleep(1)
                await process.start()
                await asyncio.sleep(3)
            await eventually(lambda: spool_empty(process), within=30, what="spool drained")
        backend = database.split(":")[0].split("+")[0]
        await check_nothing_lost(f"SIGKILL under load ({backend})", database, load)


async def test_postgresql_down_for_20_seconds_under_load_loses_nothing(
    cluster: PgCluster, tmp_path: Path
) -> None:
    number = "447700900777"
    async with asyncio.timeout(150):
        async with service(tmp_path, {"DATABASE_URL": cluster.url}) as process:
            async with (
                process.client(**AUTH) as client,
                steady_load([process.base_url], RATE) as load,
            ):
                await asyncio.sleep(3)
                await cluster.stop("fast")
                await asyncio.sleep(1)
                created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
                stop = {"id": "STOPDURINGOUTAGE", "originator": number, "body": "STOP"}
                stop["created"] = created
                stop_answer = await client.post(f"/webhooks/{SECRET}/incoming", json=stop)
                listing = await client.get("/api/v1/optouts")
                during = (await client.get("/readyz")).json()
                await asyncio.sleep(19)
                await cluster.start()
                await asyncio.sleep(5)
            await eventually(lambda: spool_empty(process), within=60, what="spool drained")
        engine = create_engine(cluster.url)
        try:
            async with engine.connect() as conn:
                opted_out = await conn.scalar(
                    select(Optout.opted_out).where(Optout.msisdn == number)
                )
        finally:
            await engine.dispose()
        await check_nothing_lost("PostgreSQL stopped for 20 s under load", cluster.url, load)
    assert stop_answer.status_code == 200
    assert listing.status_code == 503
    assert "database unavailable" in listing.json()["detail"]
    assert during["spool"]["entries"] > 0
    assert opted_out is True
