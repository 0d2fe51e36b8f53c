"""Probes, the generated webhook secret, replay of unparsed bodies and the CLI, on both backends."""

import json
import logging
import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Receipt, ServiceSetting, WebhookRequest
from app.webhooks.ingest import IngestWriter
from app.webhooks.replay import reprocess_unparsed
from tests.cli_support import run_cli
from tests.conftest import count_rows, make_settings, start_app


async def test_healthz_answers_without_io(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == "ok"


async def test_readyz_is_503_when_schema_is_behind(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/unmigrated.db"
    settings = make_settings(url)
    # An unmigrated database: the lifespan cannot even keep the secret, so give one.
    async for running in start_app(settings):
        response = await running.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["schema"].startswith("at []")


async def test_generated_secret_is_kept_and_shared_by_instances(
    database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, webhook_secret=None, public_base_url="https://h.example")
    caplog.set_level(logging.INFO)
    secrets = []
    for _ in range(2):
        async for running in start_app(settings):
            secrets.append(running.runtime.webhook_secret)
            response = await running.client.post(
                f"/webhooks/{running.runtime.webhook_secret}/receipt",
                json={"deliveryMessageId": "AB12", "statusCode": 1},
            )
            assert response.status_code == 200
    assert secrets[0] == secrets[1]
    assert len(secrets[0]) >= 32
    async with engine.connect() as conn:
        stored = await conn.scalar(select(ServiceSetting.value))
    assert stored == secrets[0]
    startup = [r.getMessage() for r in caplog.records if "webhook URLs" in r.getMessage()]
    assert startup
    assert "https://h.example/webhooks/" in startup[0]
    assert all(secrets[0] not in line for line in startup)


async def test_reprocess_stores_events_of_bodies_that_failed_to_parse_once(
    database_url: str, engine: AsyncEngine
) -> None:
    """A body kept as unparsed by an older parser is stored once the parser accepts it."""
    parseable = json.dumps({"deliveryMessageId": "9A85B95E", "status": "DELIVERED"}).encode()
    still_bad = b'{"statusCode": "abc"}'
    async with engine.begin() as conn:
        for body in (parseable, still_bad):
            await conn.execute(
                insert(WebhookRequest).values(
                    id=uuid.uuid4(),
                    kind="receipt",
                    received_at=datetime.now(UTC),
                    content_type="application/json",
                    client_addr="203.0.113.7",
                    body=body,
                    body_size=len(body),
                    truncated=False,
                    outcome="unparsed",
                    error="rejected by an older parser",
                    event_count=0,
                )
            )
    writer = IngestWriter(engine)
    await writer.start()
    try:
        first = await reprocess_unparsed(engine, writer, page_size=1)
        second = await reprocess_unparsed(engine, writer)
    finally:
        await writer.stop()
    assert (first.examined, first.stored, first.still_unparsed) == (2, 1, 1)
    assert (second.examined, second.stored, second.still_unparsed) == (1, 0, 1)
    assert await count_rows(engine, Receipt) == 1
    async with engine.connect() as conn:
        outcomes = dict(
            (await conn.execute(select(WebhookRequest.body, WebhookRequest.outcome))).all()
        )
        [receipt] = (await conn.execute(select(Receipt))).all()
    assert outcomes == {parseable: "stored", still_bad: "unparsed"}
    assert receipt.status == "DELIVERED"


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": "https://sms.example/x"}
    env.pop("WEBHOOK_SECRET", None)
    return await run_cli(env, *args)


async def test_cli_webhook_urls_prints_the_urls_with_the_generated_secret(
    database_url: str, engine: AsyncEngine
) -> None:
    code, out, _ = await _cli(database_url, "webhook-urls")
    assert code == 0
    async with engine.connect() as conn:
        secret = await conn.scalar(select(ServiceSetting.value))
    assert secret
    for kind in ("receipt", "incoming", "click"):
        assert f"https://sms.example/x/webhooks/{secret}/{kind}" in out


async def test_cli_reprocess_reports_counts(database_url: str) -> None:
    code, out, _ = await _cli(database_url, "reprocess")
    assert code == 0
    assert "examined 0" in out


async def test_cli_without_command_fails_with_usage(database_url: str) -> None:
    code, _, err = await _cli(database_url)
    assert code == 2
    assert "usage: mobivate-hooks" in err
