"""The outage spool through HTTP: while PostgreSQL (a throwaway cluster) is down, webhooks are
acknowledged from the spool and stored once it returns, in order, de-duplicated, with opt-outs
applied; probes and metrics show the spool; only a full spool answers 503."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import create_engine
from app.core.tables import Optout, Receipt, WebhookRequest
from tests.support.app import make_settings, start_app
from tests.support.bodies import incoming, receipt
from tests.support.postgres import PgCluster
from tests.support.waiting import eventually
from tests.support.webhooks import post_webhook

RECEIPT = receipt("A1")
STOP = incoming("447700900321", "STOP", message_id="MO1")


@pytest.fixture
async def pg_engine(cluster: PgCluster) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(cluster.url)
    yield engine
    await engine.dispose()


async def drain(client: httpx.AsyncClient) -> None:
    async def drained() -> bool:
        return bool((await client.get("/readyz")).json()["spool"]["entries"] == 0)

    await eventually(drained, within=20, what="the spool drained", interval=0.1)


async def rows(engine: AsyncEngine, query: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def test_webhooks_are_spooled_during_an_outage_and_stored_when_it_ends(
    cluster: PgCluster, pg_engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(cluster.url, spool_dir=tmp_path)
    async with start_app(settings) as running:
        client = running.client
        assert (await post_webhook(client, "receipt", RECEIPT)).json() == {"status": "stored"}
        await cluster.stop()

        answers = [
            await post_webhook(client, "receipt", RECEIPT),  # posted again across the outage
            await post_webhook(client, "receipt", receipt("A2")),
            await post_webhook(client, "incoming", STOP),
            await post_webhook(client, "click", b"{not json"),
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 400]
        assert answers[0].json() == {"status": "spooled"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"].startswith("degraded")
        assert ready.json()["spool"]["entries"] == 4
        assert ready.json()["spool"]["diverting"] is True
        metrics = (await client.get("/metrics")).text
        assert "spool_entries 4.0" in metrics
        refused = await client.get("/api/v1/optouts")
        assert refused.status_code == 503
        assert "database unavailable" in refused.json()["detail"]

        await cluster.start()
        await drain(client)

        async def ready_again() -> bool:  # /readyz asks the database at most once a second
            return bool((await client.get("/readyz")).json()["status"] == "ready")

        await eventually(ready_again, within=5, what="ready again", interval=0.2)
        after = (await client.get("/readyz")).json()
        assert after["spool"] == {
            "entries": 0,
            "bytes": 0,
            "oldest_age_seconds": 0.0,
            "diverting": False,
            "full": False,
            "quarantined": 0,
        }
        assert (await post_webhook(client, "receipt", receipt("A3"))).json() == {"status": "stored"}

    receipts = await rows(pg_engine, select(Receipt.message_id_norm).order_by(Receipt.id))
    assert [r.message_id_norm for r in receipts] == ["A1", "A2", "A3"]
    requests = await rows(
        pg_engine,
        select(WebhookRequest.kind, WebhookRequest.outcome).order_by(WebhookRequest.received_at),
    )
    assert [tuple(r) for r in requests] == [
        ("receipt", "stored"),
        ("receipt", "duplicate"),
        ("receipt", "stored"),
        ("incoming", "stored"),
        ("click", "unparsed"),
        ("receipt", "stored"),
    ]
    [optout] = await rows(pg_engine, select(Optout.msisdn, Optout.opted_out))
    assert tuple(optout) == ("+447700900321", True)


async def test_entries_left_by_a_stopped_process_are_stored_by_the_next_one(
    cluster: PgCluster, pg_engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(cluster.url, spool_dir=tmp_path)
    async with start_app(settings) as running:
        await cluster.stop()
        for n in range(3):
            answer = await post_webhook(running.client, "receipt", receipt(f"B{n}"))
            assert answer.json() == {"status": "spooled"}
    await cluster.start()
    async with start_app(settings) as running:
        await drain(running.client)
    receipts = await rows(pg_engine, select(Receipt.message_id_norm).order_by(Receipt.id))
    assert [r.message_id_norm for r in receipts] == ["B0", "B1", "B2"]


async def test_only_a_full_spool_answers_503(cluster: PgCluster, tmp_path: Path) -> None:
    settings = make_settings(cluster.url, spool_dir=tmp_path, spool_max_bytes=1024)
    padded = receipt("A1", padding="x" * 600)
    async with start_app(settings) as running:
        await cluster.stop()
        first = await post_webhook(running.client, "receipt", padded)
        second = await post_webhook(running.client, "receipt", receipt("A9", padding="x" * 600))
        ready = await running.client.get("/readyz")
        await cluster.start()
    assert first.json() == {"status": "spooled"}
    assert second.status_code == 503
    assert "spool is full" in second.json()["detail"]
    assert ready.status_code == 503
    assert ready.json()["spool"]["full"] is True
