"""Shared helpers for the opt-out tests: the app wired to the fake Mobivate, incoming messages,
and bounded waiting for the outbox worker."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.tables import OutboxMessage
from app.fake_mobivate import FakeMobivate
from tests.conftest import WEBHOOK_SECRET, RunningApp, make_settings, start_app

FAKE_API_KEY = "fake-mobivate-key-for-optout-tests"
_ids = itertools.count(1)


def optout_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mobivate_api_key": FAKE_API_KEY,
        "register_webhooks": False,
        "outbox_poll_interval_seconds": 0.05,
        "outbox_backoff_initial_seconds": 0.01,
        "outbox_backoff_max_seconds": 0.05,
        "outbox_lease_seconds": 5.0,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@asynccontextmanager
async def fake_mobivate() -> AsyncIterator[FakeMobivate]:
    fake = FakeMobivate(api_key=FAKE_API_KEY)
    try:
        yield fake
    finally:
        await fake.aclose()


@asynccontextmanager
async def app_with(settings: Settings, fake: FakeMobivate) -> AsyncIterator[RunningApp]:
    async for running in start_app(settings, mobivate_transport=fake.transport()):
        yield running


def incoming(
    originator: str, body: str, *, message_id: str | None = None, created: datetime | None = None
) -> dict[str, Any]:
    """An incoming-message webhook body as Mobivate sends it."""
    return {
        "id": message_id or f"{next(_ids):032X}",
        "originator": originator,
        "recipient": "12345",
        "body": body,
        "created": (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S%z"),
        "inReplyTo": None,
        "logicalMessageId": None,
        "ownerUserId": "94B8CC070A000A9D2FBD467124131CA6",
    }


async def send_incoming(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    response = await client.post(f"/webhooks/{WEBHOOK_SECRET}/incoming", json=payload)
    assert response.status_code == 200, response.text
    return response


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = "condition"
) -> float:
    """Seconds until `check()` held; fails the test after `within` seconds."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > within:
            raise AssertionError(f"{what} did not happen within {within} s")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def pushes(engine: AsyncEngine, msisdn: str | None = None) -> list[Any]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if msisdn is not None:
        query = query.where(OutboxMessage.msisdn == msisdn)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def all_settled(engine: AsyncEngine) -> bool:
    rows = await pushes(engine)
    return bool(rows) and all(row.state != "pending" for row in rows)


def optout_calls(fake: FakeMobivate) -> list[tuple[str, str]]:
    """(method, mobile) of every opt-out add and delete that reached the fake, in order."""
    return [
        (request.method, request.json["mobile"])
        for request in fake.requests
        if request.path in ("/addressbook/optout", "/optout") and request.method != "GET"
    ]
