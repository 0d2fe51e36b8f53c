"""Webhooks served ahead of the middleware stack keep what the stack gives every request: the
request id, the access-log line, the HTTP metrics under the route template, the client address
from a trusted proxy, ROOT_PATH, and a 500 naming the request id for a fault of ours."""

import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from app.api.client_address import ClientAddress
from app.api.hot_path import HotPath
from app.core.errors import ServiceError
from app.core.logs import configure_logging
from app.core.tables import WebhookRequest
from tests.support.app import WEBHOOK_SECRET, make_settings, start_app
from tests.support.bodies import receipt
from tests.support.metrics import metric_value

ROUTE = "/webhooks/{secret}/{kind}"


@pytest.fixture
def app_logging() -> Iterator[None]:
    """The service's own logging set-up (request ids on records), restored afterwards."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    configure_logging("INFO")
    yield
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_webhook_answer_carries_a_new_request_id_or_the_callers(
    client: httpx.AsyncClient,
) -> None:
    generated = await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt("AA01"))
    assert generated.json() == {"status": "stored"}
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    honoured = await client.post(
        f"/webhooks/{WEBHOOK_SECRET}/receipt",
        json=receipt("AA02"),
        headers={"X-Request-ID": "mobivate-77"},
    )
    assert honoured.headers["x-request-id"] == "mobivate-77"
    unsafe = await client.post(
        f"/webhooks/{WEBHOOK_SECRET}/receipt",
        json=receipt("AA03"),
        headers={"X-Request-ID": "two words"},
    )
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
    refused = await client.post("/webhooks/wrong-secret/receipt", json=receipt("AA04"))
    assert refused.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])


async def test_the_access_line_and_the_endpoints_own_lines_carry_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, app_logging: None
) -> None:
    caplog.set_level(logging.INFO)
    await client.post(
        "/webhooks/wrong-secret/click", json={}, headers={"X-Request-ID": "req-refused"}
    )
    [refusal] = [r for r in caplog.records if r.name == "app.webhooks.receive"]
    assert refusal.request_id == "req-refused"  # type: ignore[attr-defined]
    [access] = [r for r in caplog.records if r.name == "app.access"]
    assert access.request_id == "req-refused"  # type: ignore[attr-defined]
    assert (access.method, access.route, access.status) == ("POST", ROUTE, 404)  # type: ignore[attr-defined]
    assert "wrong-secret" not in access.getMessage()


async def test_metrics_count_webhooks_by_template_and_status_and_other_methods_too(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/metrics")).text
    await client.post(f"/webhooks/{WEBHOOK_SECRET}/incoming", json={"id": "M1", "body": "Hi"})
    await client.post(f"/webhooks/{WEBHOOK_SECRET}/nothing", json={})
    not_allowed = await client.get(f"/webhooks/{WEBHOOK_SECRET}/receipt")
    assert not_allowed.status_code == 405
    assert "x-request-id" in not_allowed.headers
    after = (await client.get("/metrics")).text

    def delta(**labels: str) -> float:
        return metric_value(after, "http_requests_total", **labels) - metric_value(
            before, "http_requests_total", **labels
        )

    assert delta(route=ROUTE, method="POST", status="200") == 1
    assert delta(route=ROUTE, method="POST", status="404") == 1
    assert delta(route=ROUTE, method="GET", status="405") == 1
    count = "http_request_duration_seconds_count"
    assert (
        metric_value(after, count, route=ROUTE, method="POST")
        - metric_value(before, count, route=ROUTE, method="POST")
        == 2
    )
    assert WEBHOOK_SECRET not in after


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        ("203.0.113.7", "198.51.100.9", "198.51.100.9"),
        ("203.0.113.0/24", "198.51.100.9, 192.0.2.4", "192.0.2.4"),
        ("203.0.113.7", "not an address", "203.0.113.7"),
        ("192.0.2.1", "198.51.100.9", "203.0.113.7"),
    ],
)
async def test_a_webhook_is_stored_with_the_address_a_trusted_proxy_names(
    database_url: str, engine: AsyncEngine, trusted: str, forwarded: str, expected: str
) -> None:
    """The test client connects from 203.0.113.7."""
    async with start_app(make_settings(database_url, forwarded_allow_ips=trusted)) as running:
        answer = await running.client.post(
            f"/webhooks/{WEBHOOK_SECRET}/receipt",
            json=receipt("AB01"),
            headers={"X-Forwarded-For": forwarded},
        )
        assert answer.json() == {"status": "stored"}
    async with engine.connect() as conn:
        assert await conn.scalar(select(WebhookRequest.client_addr)) == expected


async def test_under_a_root_path_webhooks_are_served_with_and_without_the_prefix(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    async with start_app(make_settings(database_url, root_path="/sms/")) as running:
        client = running.client
        before = (await client.get("/metrics")).text
        prefixed = await client.post(f"/sms/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt("R1"))
        stripped = await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt("R2"))
        elsewhere = await client.post(f"/other/webhooks/{WEBHOOK_SECRET}/receipt", json={})
        after = (await client.get("/metrics")).text
    assert prefixed.json() == stripped.json() == {"status": "stored"}
    assert elsewhere.status_code == 404
    stored = metric_value(after, "http_requests_total", route=ROUTE, status="200")
    assert stored - metric_value(before, "http_requests_total", route=ROUTE, status="200") == 2
    routes = [r.route for r in caplog.records if r.name == "app.access"]  # type: ignore[attr-defined]
    assert routes.count(ROUTE) == 2


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise self.error


async def _not_reached(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("the stack was called for a webhook")


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (RuntimeError("boom"), 500, "internal error; the request id is in X-Request-ID"),
        (ServiceError("not now", status=503), 503, "not now"),
    ],
)
async def test_a_fault_in_the_endpoint_is_answered_with_the_request_id(
    caplog: pytest.LogCaptureFixture, error: Exception, status: int, detail: str
) -> None:
    hot_path = HotPath(
        _not_reached,
        endpoint=_Failing(error),
        template=ROUTE,
        client_address=ClientAddress("127.0.0.1"),
    )
    transport = httpx.ASGITransport(app=hot_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.post("/webhooks/s/receipt", headers={"X-Request-ID": "req-500"})
    assert (answer.status_code, answer.json()) == (status, {"detail": detail})
    assert answer.headers["x-request-id"] == "req-500"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == (1 if status == 500 else 0)
