"""Helpers shared by the webhook registration tests."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.fake_mobivate import FakeMobivate, RecordedRequest
from tests.conftest import WEBHOOK_SECRET, make_settings

API_KEY = "mv-live-4f1c-SECRET-9a7e"
PUBLIC_BASE_URL = "https://hooks.example/sms"
KINDS = ("receipt", "incoming", "click")

T = TypeVar("T")


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


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 5.0) -> T:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s (last: {result!r})")
        await asyncio.sleep(0.01)


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


class Forward:
    """An ASGI app that forwards to one set later: the fake's callbacks reach an app created
    after the fake."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "no app to forward to yet"
        await self.target(scope, receive, send)
