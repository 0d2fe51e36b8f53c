"""Secrets stay secret, unauthenticated requests store nothing, list filters are data not code."""

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import Base
from tests.support.app import (
    API_TOKEN,
    WEBHOOK_SECRET,
    RunningApp,
    client_from,
    make_settings,
    start_app,
)
from tests.support.bodies import incoming, receipt

RECEIPT = receipt("9A85B95E")
STOP = incoming("447700900123", "STOP", message_id="1C9A658F")
SECOND_TOKEN = "second-api-token-for-rotation"
METRICS_TOKEN = "metrics-token-0123456789"
INJECTIONS = [
    "' OR '1'='1",
    "1' OR 1=1 --",
    '" OR ""="',
    "'); DROP TABLE receipts; --",
    "1; DELETE FROM webhook_requests",
    "%",
    "_",
    "*",
    "\\",
    "' UNION SELECT NULL --",
]


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[RunningApp]:
    settings = make_settings(
        database_url,
        api_tokens=f"{API_TOKEN},{SECOND_TOKEN}",
        metrics_token=METRICS_TOKEN,
        webhook_auth_failures_per_minute=5,
    )
    async with start_app(settings) as running:
        yield running


def operations(app: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, concrete URL, operation) of every REST operation, path parameters filled in."""
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/webhooks/"):
            continue
        for method, operation in item.items():
            if "text/event-stream" in str(operation.get("responses", {})):
                continue  # a live feed never ends; its authentication is the same dependency
            url = path
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "path":
                    value = "447700900123" if "msisdn" in parameter["name"] else "1"
                    url = url.replace("{" + parameter["name"] + "}", value)
            yield method.upper(), url, operation


async def test_secrets_never_appear_in_logs_error_bodies_or_metrics(
    app_logs: io.StringIO, secured: RunningApp
) -> None:
    client = secured.client
    answers: list[httpx.Response] = []
    for kind in ("receipt", "incoming", "click"):
        answers.append(await client.post(f"/webhooks/{WEBHOOK_SECRET}/{kind}", json=RECEIPT))
        answers.append(await client.post(f"/webhooks/{WEBHOOK_SECRET}/{kind}", content=b"{"))
        answers.append(await client.post(f"/webhooks/{WEBHOOK_SECRET}x/{kind}", json=RECEIPT))
    answers.append(await client.post(f"/webhooks/{WEBHOOK_SECRET}/nonsense", json=RECEIPT))
    answers.append(await client.post(f"/webhooks/{WEBHOOK_SECRET}/incoming", json=STOP))
    for _ in range(8):  # past the throttling threshold
        answers.append(await client.post("/webhooks/guess/receipt", json=RECEIPT))
    for token in (API_TOKEN, SECOND_TOKEN, API_TOKEN + "x", METRICS_TOKEN, WEBHOOK_SECRET):
        headers = {"Authorization": f"Bearer {token}"}
        for method, url, operation in operations(secured.app):
            body = {"msisdn": "not a number"} if "requestBody" in operation else None
            answers.append(await client.request(method, url, json=body, headers=headers))
    answers.append(await client.get("/readyz"))
    metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert any(a.status_code == 429 for a in answers)

    logs = app_logs.getvalue()
    assert "webhook refused" in logs  # the handler really wrote here
    assert "/webhooks/***/receipt" in logs  # the test client's own request lines, redacted
    for secret in (WEBHOOK_SECRET, API_TOKEN, SECOND_TOKEN, METRICS_TOKEN):
        assert secret not in logs
        assert secret not in metrics.text
        for answer in answers:
            assert secret not in answer.text, (answer.request.url.path, answer.text)
            assert all(secret not in value for value in answer.headers.values())


async def test_unauthenticated_requests_store_nothing(
    secured: RunningApp, engine: AsyncEngine
) -> None:
    before = await table_counts(engine)
    sent = 0
    for token in (None, "wrong-token", ""):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with client_from(secured.app, "198.51.100.20", **headers) as anonymous:
            for method, url, operation in operations(secured.app):
                if not operation.get("security"):
                    continue
                body = {"msisdn": "447700900123", "to": "447700900123", "body": "hello"}
                kwargs: dict[str, Any] = {"json": body} if "requestBody" in operation else {}
                response = await anonymous.request(method, url, **kwargs)
                sent += 1
                assert response.status_code == 401, (method, url, response.text)
            for kind in ("receipt", "incoming", "click"):
                for secret in ("wrong", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET.upper(), ""):
                    response = await anonymous.post(f"/webhooks/{secret}/{kind}", json=STOP)
                    sent += 1
                    assert response.status_code in (404, 429)
    assert sent > 20
    assert await table_counts(engine) == before


async def test_list_filters_are_not_injectable(secured: RunningApp, engine: AsyncEngine) -> None:
    client = secured.client
    for kind, payload in (
        ("receipt", {**RECEIPT, "clientReference": "ref-1"}),
        ("incoming", {**STOP, "body": "hello"}),
        ("click", {"mobile": "447700900123", "messageId": "9AEC3BB9", "clientRef": "ref-1"}),
    ):
        assert (await client.post(f"/webhooks/{WEBHOOK_SECRET}/{kind}", json=payload)).is_success
    before = await table_counts(engine)

    checked = 0
    for path, item in secured.app.openapi()["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path or not path.startswith("/api/"):
            continue
        if "text/event-stream" in str(operation.get("responses", {})):
            continue
        for parameter in operation.get("parameters", ()):
            if parameter["in"] != "query" or parameter["name"] in ("cursor", "format"):
                continue
            if "string" not in str(parameter.get("schema")) or "enum" in str(parameter):
                continue
            for value in INJECTIONS:
                response = await client.get(path, params={parameter["name"]: value})
                checked += 1
                assert response.status_code in (200, 422), (path, parameter["name"], value)
                if response.status_code == 200:
                    assert response.json()["items"] == [], (path, parameter["name"], value)
    if not checked:
        pytest.skip("no list takes a text filter")
    assert await table_counts(engine) == before
