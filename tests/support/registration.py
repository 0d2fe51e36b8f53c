"""Settings and readings for the webhook registration tests."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from app.config import Settings
from app.fake_mobivate import FakeMobivate, RecordedRequest
from tests.support.app import WEBHOOK_SECRET, RunningApp, make_settings

API_KEY = "mv-live-4f1c-SECRET-9a7e"
PUBLIC_BASE_URL = "https://hooks.example/sms"
KINDS = ("receipt", "incoming", "click")


def registration_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mobivate_api_key": API_KEY,
        "public_base_url": PUBLIC_BASE_URL,
        "registration_backoff_initial_seconds": 0.01,
        "registration_backoff_max_seconds": 0.2,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


def expected_url(kind: str, base: str = PUBLIC_BASE_URL) -> str:
    return f"{base}/webhooks/{WEBHOOK_SECRET}/{kind}"


def registration_calls(fake: FakeMobivate, kind: str | None = None) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if r.method == "POST"
        and r.path.startswith("/webhooks/")
        and (kind is None or r.path == f"/webhooks/{kind}")
    ]


async def states(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/api/v1/registrations")
    assert response.status_code == 200, response.text
    return {item["kind"]: item["state"] for item in response.json()["registrations"]}


def all_in(state: str, client: httpx.AsyncClient) -> Callable[[], Awaitable[dict[str, str] | None]]:
    async def check() -> dict[str, str] | None:
        current = await states(client)
        return current if set(current.values()) == {state} else None

    return check


class SlowTransport(httpx.AsyncBaseTransport):
    """Delays every request, so that concurrent instances overlap while a call is in flight."""

    def __init__(self, inner: httpx.AsyncBaseTransport, delay: float) -> None:
        self._inner = inner
        self._delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self._delay)
        return await self._inner.handle_async_request(request)


def registration_task(running: RunningApp) -> asyncio.Task[None]:
    """The task of the registration the app started with."""
    registration = running.runtime.registration
    assert registration is not None, "the app registers no webhooks"
    assert registration.task is not None, "the registration is not running"
    return registration.task


async def wait_until_done(running: RunningApp) -> None:
    """Until the registration the app started with has finished (five seconds at most)."""
    await asyncio.wait_for(asyncio.shield(registration_task(running)), timeout=5)
