"""Webhook self-registration at startup, against the fake Mobivate, on both backends."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import WebhookRegistration
from app.fake_mobivate import FakeMobivate
from tests.support.app import WEBHOOK_SECRET, start_app
from tests.support.fake import fake_mobivate
from tests.support.registration import (
    API_KEY,
    KINDS,
    SlowTransport,
    all_in,
    expected_url,
    registration_calls,
    registration_settings,
    registration_task,
    states,
    wait_until_done,
)
from tests.support.waiting import eventually


@pytest.fixture
async def fake() -> AsyncIterator[FakeMobivate]:
    async with fake_mobivate(api_key=API_KEY) as fake:
        yield fake


async def test_startup_registers_the_three_urls_with_the_bearer_key(
    database_url: str, fake: FakeMobivate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = registration_settings(database_url)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
        calls = registration_calls(fake)
        assert [(c.path, c.json) for c in calls] == [
            (f"/webhooks/{kind}", {"url": expected_url(kind)}) for kind in KINDS
        ]
        assert {c.headers["authorization"] for c in calls} == {f"Bearer {API_KEY}"}
        assert fake.webhooks == {kind: expected_url(kind) for kind in KINDS}

        response = await running.client.get("/api/v1/registrations")
        assert response.status_code == 200
        body = response.json()
        assert WEBHOOK_SECRET not in response.text
        assert (body["enabled"], body["reason"]) == (True, None)
        for item in body["registrations"]:
            assert item["state"] == "registered"
            assert item["url"] == f"https://hooks.example/sms/webhooks/tes…/{item['kind']}"
            assert item["current"] is True
            assert item["attempts"] == 1
            assert item["last_status_code"] == 200
            assert item["mobivate_message"] == "Webhook updated successfully"
            assert item["last_success_at"] is not None
            assert item["next_attempt_at"] is None

        ready = (await running.client.get("/readyz")).json()
        assert ready["registrations"] == {
            "enabled": True,
            "receipt": "registered",
            "incoming": "registered",
            "click": "registered",
        }
    assert API_KEY not in caplog.text
    assert "webhook registration complete: receipt, incoming, click" in caplog.text


async def test_registrations_need_an_api_token(database_url: str, fake: FakeMobivate) -> None:
    settings = registration_settings(database_url)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        response = await running.client.get(
            "/api/v1/registrations", headers={"Authorization": "Bearer wrong"}
        )
        assert response.status_code == 401


async def test_registration_is_retried_until_mobivate_recovers(
    database_url: str, fake: FakeMobivate, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next(2, status=500)
    settings = registration_settings(database_url)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
        assert [c.path for c in registration_calls(fake)] == [
            "/webhooks/receipt",  # 500
            "/webhooks/incoming",  # 500
            "/webhooks/click",
            "/webhooks/receipt",
            "/webhooks/incoming",
        ]
        body = (await running.client.get("/api/v1/registrations")).json()
        attempts = {item["kind"]: item["attempts"] for item in body["registrations"]}
        assert attempts == {"receipt": 2, "incoming": 2, "click": 1}
        assert {item["state"] for item in body["registrations"]} == {"registered"}
    failures = [r for r in caplog.records if "failed (attempt 1)" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.levelno == logging.WARNING for r in failures)
    assert "HTTP 500" in failures[0].getMessage()


async def test_failed_attempt_is_recorded_with_mobivate_status_and_next_attempt(
    database_url: str, fake: FakeMobivate
) -> None:
    fake.down = True
    settings = registration_settings(
        database_url,
        registration_backoff_initial_seconds=5,
        registration_backoff_max_seconds=5,
    )
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        await eventually(all_in("failed", running.client), within=5, what="failed registrations")
        body = (await running.client.get("/api/v1/registrations")).json()
        for item in body["registrations"]:
            assert item["attempts"] == 1
            assert item["last_status_code"] is None
            assert "unreachable" in item["mobivate_message"]
            assert item["next_attempt_at"] > item["last_attempt_at"]
        ready = await running.client.get("/readyz")
        assert ready.status_code == 200, "Mobivate being down must not make the service unready"
        assert ready.json()["registrations"]["receipt"].startswith("failed (Mobivate unreachable")


async def test_refused_url_is_recorded_with_mobivate_message_and_logged_as_error(
    database_url: str, fake: FakeMobivate, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next(3, status=400)
    settings = registration_settings(
        database_url, registration_backoff_initial_seconds=5, registration_backoff_max_seconds=5
    )
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        await eventually(all_in("failed", running.client), within=5, what="failed registrations")
        body = (await running.client.get("/api/v1/registrations")).json()
        for item in body["registrations"]:
            assert (item["last_status_code"], item["mobivate_message"]) == (400, "Bad Request")
        ready = (await running.client.get("/readyz")).json()
        assert ready["registrations"]["click"] == "failed (HTTP 400: Bad Request)"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    assert "HTTP 400: Bad Request" in errors[0].getMessage()


async def test_refused_key_is_recorded_once_and_not_hammered(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = registration_settings(
        database_url,
        registration_backoff_initial_seconds=0.01,
        registration_backoff_max_seconds=0.3,
    )
    async with (
        fake_mobivate(api_key="the-right-key") as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await eventually(
            all_in("unauthorized", running.client), within=5, what="unauthorized registrations"
        )
        await asyncio.sleep(0.7)
        body = (await running.client.get("/api/v1/registrations")).json()
        ready = (await running.client.get("/readyz")).json()
    # One call per round (the other kinds are not sent with a key known to be refused), one
    # round per REGISTRATION_BACKOFF_MAX_SECONDS: at most 1 + 0.7 / 0.3 calls, not hundreds.
    calls = registration_calls(fake)
    assert 1 <= len(calls) <= 4
    assert {c.path for c in calls} == {"/webhooks/receipt"}
    for item in body["registrations"]:
        assert item["state"] == "unauthorized"
        assert (item["last_status_code"], item["mobivate_message"]) == (401, "Unauthorized")
    assert ready["registrations"]["incoming"] == "unauthorized (HTTP 401: Unauthorized)"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "Mobivate refused the API key (HTTP 401: Unauthorized)" in errors[0].getMessage()
    assert "MOBIVATE_API_KEY" in errors[0].getMessage()
    assert API_KEY not in caplog.text


@pytest.mark.parametrize(
    ("overrides", "reason", "level"),
    [
        ({"mobivate_api_key": None}, "MOBIVATE_API_KEY is not set", logging.WARNING),
        ({"public_base_url": None}, "PUBLIC_BASE_URL is not set", logging.WARNING),
        (
            {"mobivate_api_key": None, "public_base_url": None},
            "MOBIVATE_API_KEY and PUBLIC_BASE_URL are not set",
            logging.WARNING,
        ),
        ({"register_webhooks": False}, "REGISTER_WEBHOOKS is false", logging.INFO),
    ],
)
async def test_no_registration_when_a_setting_is_missing(
    database_url: str,
    fake: FakeMobivate,
    caplog: pytest.LogCaptureFixture,
    overrides: dict[str, object],
    reason: str,
    level: int,
) -> None:
    caplog.set_level(logging.INFO)
    settings = registration_settings(database_url, **overrides)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        assert running.runtime.registration is None
        body = (await running.client.get("/api/v1/registrations")).json()
        ready = (await running.client.get("/readyz")).json()
    assert fake.requests == []
    assert (body["enabled"], body["reason"]) == (False, reason)
    assert {item["state"] for item in body["registrations"]} == {"disabled"}
    assert ready["registrations"] == {
        "enabled": False,
        "reason": reason,
        **dict.fromkeys(KINDS, "disabled"),
    }
    [line] = [r for r in caplog.records if "not registering webhooks" in r.getMessage()]
    assert line.levelno == level
    assert reason in line.getMessage()


async def test_instances_starting_together_register_each_kind_once(
    database_url: str, fake: FakeMobivate
) -> None:
    settings = registration_settings(database_url)
    # Each call takes 50 ms, so the instances overlap while a registration is in flight.
    transport = SlowTransport(fake.transport(), delay=0.05)
    async with AsyncExitStack() as stack:
        starts = [start_app(settings, mobivate_transport=transport) for _ in range(4)]
        instances = await asyncio.gather(*(stack.enter_async_context(start) for start in starts))
        tasks = [registration_task(running) for running in instances]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        for kind in KINDS:
            assert len(registration_calls(fake, kind)) == 1, kind
        for running in instances:
            assert set((await states(running.client)).values()) == {"registered"}


async def test_restart_within_the_fresh_window_does_not_register_again(
    database_url: str, fake: FakeMobivate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = registration_settings(database_url)
    for _ in range(2):
        async with start_app(settings, mobivate_transport=fake.transport()) as running:
            await wait_until_done(running)
    assert len(registration_calls(fake)) == 3
    assert "the click webhook is already registered" in caplog.text


async def test_restart_registers_again_after_the_fresh_window_or_with_a_new_url(
    database_url: str, fake: FakeMobivate, engine: AsyncEngine
) -> None:
    settings = registration_settings(database_url)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
    async with engine.begin() as conn:
        long_ago = utcnow() - timedelta(seconds=settings.registration_fresh_seconds + 1)
        await conn.execute(update(WebhookRegistration).values(last_success_at=long_ago))
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
    assert len(registration_calls(fake)) == 6

    moved = registration_settings(database_url, public_base_url="https://new.example/")
    async with start_app(moved, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
        body = (await running.client.get("/api/v1/registrations")).json()
    assert len(registration_calls(fake)) == 9
    assert fake.webhooks["click"] == expected_url("click", "https://new.example")
    assert {item["attempts"] for item in body["registrations"]} == {1}


async def test_restart_after_a_refused_key_tries_at_once(
    database_url: str, fake: FakeMobivate
) -> None:
    wrong = registration_settings(
        database_url,
        mobivate_api_key="an-old-revoked-key",
        registration_backoff_max_seconds=60,
    )
    async with start_app(wrong, mobivate_transport=fake.transport()) as running:
        await eventually(
            all_in("unauthorized", running.client), within=5, what="unauthorized registrations"
        )
    # The corrected key comes with a restart, which does not wait out the 60 s backoff.
    fixed = registration_settings(database_url, registration_backoff_max_seconds=60)
    async with start_app(fixed, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
        assert set((await states(running.client)).values()) == {"registered"}


async def test_a_new_api_key_registers_again_within_the_fresh_window(
    database_url: str, fake: FakeMobivate
) -> None:
    async with start_app(
        registration_settings(database_url), mobivate_transport=fake.transport()
    ) as running:
        await wait_until_done(running)
    fake.api_key = "key-of-another-account"
    other = registration_settings(database_url, mobivate_api_key="key-of-another-account")

    passive = other.model_copy(update={"register_webhooks": False})
    async with start_app(passive, mobivate_transport=fake.transport()) as running:
        body = (await running.client.get("/api/v1/registrations")).json()
    assert {(i["state"], i["current"]) for i in body["registrations"]} == {("registered", False)}

    async with start_app(other, mobivate_transport=fake.transport()) as running:
        await wait_until_done(running)
        body = (await running.client.get("/api/v1/registrations")).json()
    calls = registration_calls(fake)
    assert len(calls) == 6
    assert {c.headers["authorization"] for c in calls[3:]} == {"Bearer key-of-another-account"}
    assert {(i["state"], i["current"]) for i in body["registrations"]} == {("registered", True)}
    assert "key-of-another-account" not in str(body)
