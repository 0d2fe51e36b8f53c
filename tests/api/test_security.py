"""Secrets stay secret, unauthenticated requests store nothing, list filters are data not code,
and guessing the webhook secret is throttled per client address without touching Mobivate."""

import io
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import Base
from app.core.logs import configure_logging
from app.webhooks.throttle import FailureLimiter
from tests.conftest import API_TOKEN, WEBHOOK_SECRET, RunningApp, make_settings, start_app

RECEIPT = {"deliveryMessageId": "9A85B95E", "status": "DELIVERED", "statusCode": 1}
STOP = {"id": "1C9A658F", "originator": "447700900123", "recipient": "12345", "body": "STOP"}
SECOND_TOKEN = "second-api-token-for-rotation"
METRICS_TOKEN = "metrics-token-0123456789"
MOBIVATE = "203.0.113.7"  # the address the test client connects from
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


def client_from(app: Any, address: str, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def app_logs() -> Iterator[io.StringIO]:
    """What the service's own log handler (JSON, DEBUG) writes, every logger included."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    configure_logging("DEBUG", "json")
    written = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    yield written
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
async def secured(database_url: str) -> AsyncIterator[RunningApp]:
    settings = make_settings(
        database_url,
        api_tokens=f"{API_TOKEN},{SECOND_TOKEN}",
        metrics_token=METRICS_TOKEN,
        webhook_auth_failures_per_minute=5,
    )
    async for running in start_app(settings):
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


async def test_wrong_secrets_are_throttled_per_address_but_never_the_right_secret(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = make_settings(database_url, webhook_auth_failures_per_minute=3)
    async for running in start_app(settings):
        mobivate = running.client
        async with client_from(running.app, "198.51.100.1") as attacker:
            wrong = [
                (await attacker.post(f"/webhooks/guess-{n}/receipt", json=RECEIPT)).status_code
                for n in range(6)
            ]
            assert wrong == [404, 404, 404, 429, 429, 429]
            refused = await attacker.post("/webhooks/guess/receipt", json=RECEIPT)
            assert int(refused.headers["retry-after"]) >= 1
            assert "retry later" in refused.json()["detail"]
            # Whoever shares the address, the right secret still gets through.
            right = await attacker.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
            assert right.status_code == 200
        for n in range(10):
            receipt = {**RECEIPT, "deliveryMessageId": f"M{n}"}
            ok = await mobivate.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt)
            assert ok.json() == {"status": "stored"}
        assert (await mobivate.post("/webhooks/typo/receipt", json=RECEIPT)).status_code == 404
        metrics = (await mobivate.get("/metrics")).text
        assert 'outcome="throttled"' in metrics
    assert await count_requests(engine) == 11


async def test_addresses_behind_a_trusted_proxy_are_throttled_one_by_one(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url, webhook_auth_failures_per_minute=2, forwarded_allow_ips="10.0.0.5"
    )
    async for running in start_app(settings):
        async with client_from(running.app, "10.0.0.5") as proxy:

            async def guess(address: str) -> int:
                response = await proxy.post(
                    "/webhooks/guess/receipt", json=RECEIPT, headers={"X-Forwarded-For": address}
                )
                return response.status_code

            assert [await guess("198.51.100.1") for _ in range(3)] == [404, 404, 429]
            assert [await guess("198.51.100.2") for _ in range(3)] == [404, 404, 429]
            right = await proxy.post(
                f"/webhooks/{WEBHOOK_SECRET}/receipt",
                json=RECEIPT,
                headers={"X-Forwarded-For": "198.51.100.1"},
            )
            assert right.status_code == 200


async def count_requests(engine: AsyncEngine) -> int:
    counts = await table_counts(engine)
    return counts["webhook_requests"]


def test_failure_budget_refills_over_the_minute_and_the_table_stays_bounded() -> None:
    now = [1000.0]
    limiter = FailureLimiter(6, max_addresses=2, clock=lambda: now[0])
    assert [limiter.fail("a") for _ in range(7)] == [True] * 6 + [False]
    assert limiter.retry_after("a") == 10
    now[0] += 10  # one failure's worth (60 s / 6)
    assert limiter.fail("a") is True
    assert limiter.fail("a") is False
    limiter.fail("b")
    limiter.fail("c")  # "a" is forgotten: the least recently seen of three
    assert [limiter.fail("a") for _ in range(6)] == [True] * 6


def test_zero_failures_per_minute_turns_throttling_off() -> None:
    limiter = FailureLimiter(0)
    assert all(limiter.fail("a") for _ in range(1000))
