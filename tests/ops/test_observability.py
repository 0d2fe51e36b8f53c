"""Request ids, access logs without secrets or full numbers, metrics, proxies and root path."""

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.serve import clear_metric_samples
from app.core.logs import JsonFormatter, TextFormatter, configure_logging, register_secret
from app.core.tables import WebhookRequest
from tests.support.app import API_TOKEN, WEBHOOK_SECRET, make_settings, start_app
from tests.support.bodies import receipt
from tests.support.metrics import metric_value
from tests.support.ports import free_port
from tests.support.service import wait_until_ready

RECEIPT = receipt("9A85B95E")


@pytest.fixture
def app_logging() -> Iterator[None]:
    """The service's own logging set-up (redaction included), restored afterwards."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    configure_logging("INFO", "json")
    yield
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_request_id_is_generated_or_honoured(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    honoured = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert honoured.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert unsafe.headers["x-request-id"] != "bad id\twith tab"


async def test_logs_carry_route_template_never_secret_or_full_number(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, app_logging: None
) -> None:
    register_secret(WEBHOOK_SECRET)
    caplog.set_level(logging.INFO)
    await client.post(
        f"/webhooks/{WEBHOOK_SECRET}/incoming",
        json={"id": "AB1", "originator": "447700900123", "body": "STOP"},
        headers={"X-Request-ID": "req-42"},
    )
    logging.getLogger("app.test").info("number 447700900123 and secret %s", WEBHOOK_SECRET)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST /webhooks/{secret}/{kind} 200" in text
    assert WEBHOOK_SECRET not in text
    assert "447700900123" not in text
    assert "4477******23" in text
    access = [r for r in caplog.records if r.name == "app.access"]
    assert access[0].request_id == "req-42"  # type: ignore[attr-defined]


async def test_json_lines_carry_the_request_fields_and_redact_extras(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, app_logging: None
) -> None:
    caplog.set_level(logging.INFO)
    await client.post(
        f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT, headers={"X-Request-ID": "req-7"}
    )
    logging.getLogger("uvicorn.error").info("plain", extra={"color_message": "\x1b[36mplain"})
    logging.getLogger("app.test").info(
        "extra", extra={"peer": "call +447700900123", "peers": ["447700900123"], "count": 3}
    )
    formatter = JsonFormatter()
    lines = {r.name: json.loads(formatter.format(r)) for r in caplog.records}

    access = lines["app.access"]
    assert access["request_id"] == "req-7"
    assert (access["method"], access["route"], access["status"]) == (
        "POST",
        "/webhooks/{secret}/{kind}",
        200,
    )
    assert isinstance(access["duration_ms"], float)
    assert "color_message" not in lines["uvicorn.error"]
    assert lines["app.test"]["peer"] == "call 4477******23"
    assert lines["app.test"]["peers"] == "['4477******23']"
    assert lines["app.test"]["count"] == 3

    caplog.clear()
    await client.post(
        f"/webhooks/{WEBHOOK_SECRET}/receipt",
        json=RECEIPT,
        headers={"X-Request-ID": "447700900123"},
    )
    [access_record] = [r for r in caplog.records if r.name == "app.access"]
    assert json.loads(formatter.format(access_record))["request_id"] == "4477******23"


async def test_metrics_count_requests_and_webhook_outcomes(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
    await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
    await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", content=b"{", headers={})
    await client.post("/webhooks/wrong/receipt", json=RECEIPT)
    after = (await client.get("/metrics")).text

    def delta(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("webhook_requests_total", kind="receipt", outcome="stored") == 1
    assert delta("webhook_requests_total", kind="receipt", outcome="duplicate") == 1
    assert delta("webhook_requests_total", kind="receipt", outcome="unparsed") == 1
    assert delta("webhook_requests_total", kind="receipt", outcome="rejected") == 1
    route = "/webhooks/{secret}/{kind}"
    assert delta("http_requests_total", route=route, method="POST", status="200") == 2
    assert delta("http_requests_total", route=route, method="POST", status="404") == 1
    assert delta("http_request_duration_seconds_count", route=route, method="POST") == 4
    assert WEBHOOK_SECRET not in after


async def test_logs_and_metrics_name_full_route_templates(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the /api/v1 prefix, under ROOT_PATH too, and mounted assets as one template."""
    caplog.set_level(logging.INFO, logger="app.access")
    async with start_app(make_settings(database_url, root_path="/sms")) as running:
        client = running.client
        before = (await client.get("/metrics")).text
        await client.get("/api/v1/messages/987654")
        await client.get("/sms/api/v1/stats")
        await client.get("/docs-assets/swagger-ui.css")
        after = (await client.get("/metrics")).text

    def delta(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    message = "/api/v1/messages/{message_id}"
    assert delta("http_requests_total", route=message, method="GET", status="404") == 1
    assert delta("http_requests_total", route="/api/v1/stats", method="GET", status="200") == 1
    assets = "/docs-assets/{path}"
    assert delta("http_requests_total", route=assets, method="GET", status="200") == 1
    routes = [r.route for r in caplog.records if r.name == "app.access"]  # type: ignore[attr-defined]
    assert routes[1:4] == [message, "/api/v1/stats", assets]
    assert "987654" not in after


async def test_metrics_token_protects_metrics(database_url: str) -> None:
    settings = make_settings(database_url, metrics_token="metrics-token-0123456789")
    async with start_app(settings) as running:
        refused = await running.client.get("/metrics")
        assert refused.status_code == 401
        allowed = await running.client.get(
            "/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"}
        )
        assert allowed.status_code == 200
        assert "http_requests_total" in allowed.text


@pytest.mark.parametrize(
    ("trusted", "expected"), [("203.0.113.7", "198.51.100.9"), ("", "203.0.113.7")]
)
async def test_forwarded_client_address_is_taken_only_from_trusted_proxies(
    database_url: str, engine: AsyncEngine, trusted: str, expected: str
) -> None:
    settings = make_settings(database_url, forwarded_allow_ips=trusted or "127.0.0.1")
    async with start_app(settings) as running:
        response = await running.client.post(
            f"/webhooks/{WEBHOOK_SECRET}/receipt",
            json=RECEIPT,
            headers={"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"},
        )
        assert response.status_code == 200
    async with engine.connect() as conn:
        assert await conn.scalar(select(WebhookRequest.client_addr)) == expected


async def test_root_path_prefix_serves_and_documents_routes(database_url: str) -> None:
    settings = make_settings(database_url, root_path="/sms")
    async with start_app(settings) as running:
        prefixed = await running.client.get("/sms/healthz")
        assert prefixed.status_code == 200
        stored = await running.client.post(f"/sms/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
        assert stored.json() == {"status": "stored"}
        schema = (await running.client.get("/sms/openapi.json")).json()
        assert schema["servers"] == [{"url": "/sms"}]
        docs = await running.client.get("/sms/docs")
        assert "/sms/openapi.json" in docs.text


@pytest.mark.parametrize(("trusted", "scheme"), [("203.0.113.7", "https"), ("", "http")])
async def test_generated_urls_follow_root_path_and_trusted_proxy_headers(
    database_url: str, trusted: str, scheme: str
) -> None:
    settings = make_settings(
        database_url, root_path="/sms", forwarded_allow_ips=trusted or "127.0.0.1"
    )
    proxied = {"X-Forwarded-Proto": "https", "Host": "sms.example.com"}
    async with start_app(settings) as running:
        created = await running.client.post(
            "/sms/api/v1/optouts", json={"msisdn": "+447700900123"}, headers=proxied
        )
        assert created.status_code == 201
        assert created.headers["location"] == "/sms/api/v1/optouts/+447700900123"
        redirected = await running.client.get("/sms/api/v1/receipts/", headers=proxied)
        assert redirected.status_code == 307
        assert redirected.headers["location"] == f"{scheme}://sms.example.com/sms/api/v1/receipts"
        schema = (await running.client.get("/sms/openapi.json", headers=proxied)).json()
        assert schema["servers"] == [{"url": "/sms"}]


def workers_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/workers.db",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "API_TOKENS": API_TOKEN,
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    if "PROMETHEUS_MULTIPROC_DIR" not in extra:
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@asynccontextmanager
async def served_by_two_workers(env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_ready(base)
        async with httpx.AsyncClient(base_url=base) as client:
            yield client
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def test_metrics_aggregate_over_two_workers(tmp_path: Path) -> None:
    async with served_by_two_workers(workers_env(tmp_path)) as client:
        posts = [
            client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json={**RECEIPT, "statusCode": i})
            for i in range(40)
        ]
        assert all(r.status_code == 200 for r in await asyncio.gather(*posts))
        for _ in range(4):  # whichever worker answers, the totals are the same
            text = (await client.get("/metrics")).text
            stored = metric_value(text, "webhook_requests_total", kind="receipt", outcome="stored")
            assert stored == 40
            # Database-backed gauges are read at scrape time: once, not once per worker.
            assert metric_value(text, "database_up") == 1
            assert [line for line in text.splitlines() if line.startswith("outbox_pending ")] == [
                "outbox_pending 0.0"
            ]


async def test_a_restart_starts_the_counters_afresh_in_a_given_directory(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = workers_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    async with served_by_two_workers(env) as client:
        posted = await client.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
        assert posted.status_code == 200
        text = (await client.get("/metrics")).text
        assert metric_value(text, "webhook_requests_total", kind="receipt", outcome="stored") == 1

    async with served_by_two_workers(env) as client:
        text = (await client.get("/metrics")).text
        assert metric_value(text, "webhook_requests_total", kind="receipt", outcome="stored") == 0


def test_only_metric_sample_files_are_cleared(tmp_path: Path) -> None:
    names = ["counter_41.db", "gauge_livesum_41.db", "histogram_7.db", "mobivate-hooks.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")

    clear_metric_samples(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["mobivate-hooks.db"]


def test_text_lines_escape_line_breaks_and_control_characters_in_every_field(
    app_logging: None,
) -> None:
    """A message from Mobivate holding a newline cannot forge a second log line."""
    formatter = TextFormatter()
    record = logging.LogRecord(
        "app.test",
        logging.WARNING,
        __file__,
        1,
        "incoming text %r then %s",
        ("x", "STOP\n2026-12-01 10:00:00,000 ERROR app.forged [-] forged\r\x1b[2J\u2028end"),
        None,
    )
    record.request_id = "id\nforged"
    line = formatter.format(record)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "STOP\\n2026-12-01 10:00:00,000 ERROR app.forged [-] forged\\r\\x1b[2J\\u2028end" in line
    assert "[id\\nforged]" in line
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord(
            "app.test", logging.ERROR, __file__, 1, "failed: %s", ("a\nb",), sys.exc_info()
        )
    first, *traceback = formatter.format(failed).splitlines()
    assert first.endswith("failed: a\\nb")
    assert traceback[0] == "Traceback (most recent call last):"
