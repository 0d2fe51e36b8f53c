"""Data the database cannot take is isolated, never taken for an outage: an array past the
backend's bound-variable limit is stored in chunks, and webhooks posted after it (a STOP among
them) are stored and applied at once."""

import asyncio
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Optout, Receipt, WebhookRequest
from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import RawWebhook
from app.webhooks.spool import open_own_spool
from tests.support.app import RunningApp, make_settings, start_app
from tests.support.bodies import incoming, receipt
from tests.support.cli import run_cli
from tests.support.refusals import refusing_body, refusing_receipt
from tests.support.rows import count_rows
from tests.support.waiting import eventually
from tests.support.webhooks import post_webhook

RECEIPT_COLUMNS = 17


def past_the_variable_limit() -> int:
    """More receipts than one multi-row INSERT can bind on this machine's SQLite."""
    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return limit // RECEIPT_COLUMNS + 50


async def test_an_array_past_the_variable_limit_is_stored_and_later_webhooks_are_not_held_up(
    database_url: str, engine: AsyncEngine
) -> None:
    count = past_the_variable_limit()
    body = [{"deliveryMessageId": f"R{n}", "statusCode": 1} for n in range(count)]
    settings = make_settings(database_url, max_body_bytes=4 * 1024 * 1024)
    async with start_app(settings) as running:
        client = running.client
        big = await post_webhook(client, "receipt", body)
        assert big.status_code == 200, big.text
        assert big.json() == {"status": "stored", "stored": count, "duplicates": 0}
        later = [
            await post_webhook(client, "receipt", receipt("LATER1")),
            await post_webhook(
                client, "incoming", incoming("447700900321", "STOP", message_id="M1")
            ),
        ]
        assert [r.json() for r in later] == [{"status": "stored"}] * 2
        ready = (await client.get("/readyz")).json()
        assert ready["spool"]["entries"] == 0
        optout = await client.get("/api/v1/optouts/+447700900321")
        assert optout.status_code == 200, optout.text
        assert optout.json()["opted_out"] is True
    assert await count_rows(engine, Receipt) == count + 1
    async with engine.connect() as conn:
        assert (await conn.scalars(select(Optout.opted_out))).all() == [True]


async def test_a_request_the_database_refuses_is_kept_unparsed_and_its_batch_mates_commit(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with refusing_receipt(engine, "POISON"):
        answers = await asyncio.gather(
            *(post_webhook(client, "receipt", receipt(f"OK{n}")) for n in range(8)),
            post_webhook(client, "receipt", [receipt("OK-A"), receipt("POISON")]),
            post_webhook(client, "incoming", incoming("447700900321", "STOP", message_id="M9")),
        )
    *fine, poisoned, stop = answers
    assert [a.json() for a in fine] == [{"status": "stored"}] * 8
    assert stop.json() == {"status": "stored"}
    assert poisoned.status_code == 422
    assert "the database refused the event" in poisoned.json()["detail"]
    assert "refused by the test trigger" in poisoned.json()["detail"]
    assert (await client.get("/readyz")).json()["spool"]["entries"] == 0
    assert await count_rows(engine, Receipt) == 8
    kept = await count_rows(engine, WebhookRequest, WebhookRequest.outcome == "unparsed")
    assert kept == 1
    assert (await client.get("/api/v1/optouts/+447700900321")).json()["opted_out"] is True


async def test_a_request_refused_even_raw_is_quarantined_listed_and_replayed(
    running: RunningApp, engine: AsyncEngine
) -> None:
    client = running.client
    async with refusing_body(engine, "REJECT-ME"):
        refused = await post_webhook(client, "receipt", receipt("REJECT-ME"))
        after = await post_webhook(client, "receipt", receipt("AFTER"))
        assert refused.status_code == 422
        assert "refused by the test trigger" in refused.json()["detail"]
        assert after.json() == {"status": "stored"}
        listed = (await client.get("/api/v1/webhooks/quarantine")).json()["items"]
        assert [(i["kind"], i["attempts"]) for i in listed] == [("receipt", 1)]
        assert "refused by the test trigger" in listed[0]["reason"]
        ready = (await client.get("/readyz")).json()
        assert ready["spool"]["quarantined"] == 1
        assert "spool_quarantined 1.0" in (await client.get("/metrics")).text
        still = await client.post("/api/v1/webhooks/quarantine/replay", json={})
        assert [i["outcome"] for i in still.json()["items"]] == ["still refused"]
        assert (await client.get("/api/v1/webhooks/quarantine")).json()["items"][0]["attempts"] == 2
    replayed = await client.post("/api/v1/webhooks/quarantine/replay", json={})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["items"] == [
        {"request_id": listed[0]["request_id"], "outcome": "stored", "detail": None}
    ]
    assert (await client.get("/api/v1/webhooks/quarantine")).json() == {"items": []}
    assert await count_rows(engine, Receipt) == 2


async def test_the_spool_drain_quarantines_what_the_database_refuses_and_moves_on(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Entries left in the spool (an outage before a restart): a refused one is quarantined,
    the STOP behind it is stored and applied."""
    spool = await open_own_spool(tmp_path, max_bytes=10**6)
    for kind, body in [
        (WebhookKind.RECEIPT, receipt("REJECT-ME")),
        (WebhookKind.INCOMING, incoming("447700900321", "STOP", message_id="M7")),
    ]:
        await spool.put(
            RawWebhook(kind, datetime.now(UTC), orjson.dumps(body), "application/json", None, 10)
        )
    await spool.close()
    async with (
        refusing_body(engine, "REJECT-ME"),
        start_app(make_settings(database_url, spool_dir=tmp_path)) as running,
    ):
        client = running.client

        async def drained() -> bool:
            return bool((await client.get("/readyz")).json()["spool"]["entries"] == 0)

        await eventually(drained, within=10, what="the spool drained", interval=0.05)
        assert (await client.get("/api/v1/optouts/+447700900321")).json()["opted_out"] is True
        [held] = (await client.get("/api/v1/webhooks/quarantine")).json()["items"]
        assert "refused by the test trigger" in held["reason"]
        assert (await post_webhook(client, "receipt", receipt("LIVE"))).json() == {
            "status": "stored"
        }
    assert await count_rows(engine, Receipt) == 1


async def test_the_quarantine_command_lists_and_replays(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    settings = make_settings(database_url, spool_dir=tmp_path)
    async with refusing_body(engine, "REJECT-ME"), start_app(settings) as running:
        refused = await post_webhook(running.client, "receipt", receipt("REJECT-ME"))
        assert refused.status_code == 422
        env = {**os.environ, "DATABASE_URL": database_url, "SPOOL_DIR": str(tmp_path)}
        code, out, _ = await run_cli(env, "quarantine")
        assert code == 0
        assert "refused by the test trigger" in out
        assert out.strip().endswith("1 quarantined")
        code, out, _ = await run_cli(env, "quarantine", "--replay")
        assert code == 1
        assert "still refused 1" in out
    code, out, _ = await run_cli(env, "quarantine", "--replay")
    assert (code, out.strip().splitlines()[-1]) == (0, "replayed 1, still refused 0")
    assert await count_rows(engine, Receipt) == 1
    code, out, _ = await run_cli(env, "quarantine")
    assert out.strip() == "0 quarantined"
