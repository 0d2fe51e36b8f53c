"""The app wired to the fake Mobivate in both directions: the app calls the fake through its
transport, and the fake posts receipts, replies and clicks to the app's webhooks over ASGI."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.db import create_engine, utcnow
from app.core.phone import resolve_msisdn
from app.core.tables import OutboundMessage
from app.fake_mobivate import FakeMobivate
from app.fake_mobivate.records import FakeMessage, RecordedRequest
from app.optouts.registry import OptoutChange, record_changes
from tests.support.app import WEBHOOK_SECRET, RunningApp, make_settings, start_app
from tests.support.asgi import Forward
from tests.support.fake import FAKE_API_KEY, fake_mobivate
from tests.support.waiting import eventually


def sending_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mobivate_api_key": FAKE_API_KEY,
        "register_webhooks": False,
        "default_originator": "Shop",
        "idempotency_poll_seconds": 0.01,
        "batch_poll_seconds": 0.05,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@dataclass
class Harness:
    running: RunningApp
    fake: FakeMobivate
    engine: AsyncEngine

    @property
    def client(self) -> httpx.AsyncClient:
        return self.running.client

    def calls(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.method == "POST" and r.path == path]

    def fake_message(self, mobivate_id: str) -> FakeMessage:
        return self.fake.find_message(mobivate_id)

    def by_reference(self, reference: str) -> FakeMessage:
        [message] = [m for m in self.fake.sent if m.reference == reference]
        return message

    async def send(self, **body: Any) -> httpx.Response:
        payload = {"to": "+44 7700 900123", "text": "Hello"}
        payload.update(body)
        return await self.client.post("/api/v1/messages", json=payload)

    async def message(self, message_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/messages/{message_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def batch(self, batch_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/batches/{batch_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def settled_batch(self, batch_id: int) -> dict[str, Any]:
        """The batch once its background submission has settled."""

        async def settled() -> dict[str, Any]:
            body = await self.batch(batch_id)
            return {} if body["state"] in ("queued", "submitting") else body

        return await eventually(settled, what=f"batch {batch_id} settling", within=60)

    async def send_batch(self, messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """A batch posted (which must be queued) and followed until it settles, with its stored
        messages under "messages" (id, to, reference, status) in request order."""
        response = await self.client.post("/api/v1/batches", json={"messages": messages, **fields})
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "queued"
        body = await self.settled_batch(response.json()["id"])
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    OutboundMessage.id,
                    OutboundMessage.msisdn,
                    OutboundMessage.reference,
                    OutboundMessage.status,
                )
                .where(OutboundMessage.batch_id == body["id"])
                .order_by(OutboundMessage.id)
            )
            body["messages"] = [
                {"id": id_, "to": to, "reference": reference, "status": status}
                for id_, to, reference, status in rows.all()
            ]
        return body

    async def opt_out(self, *numbers: str) -> None:
        async with self.engine.begin() as conn:
            await record_changes(
                conn,
                [
                    OptoutChange(
                        resolve_msisdn(n), "opt_out", "operator", utcnow(), reason="asked by phone"
                    )
                    for n in numbers
                ],
            )

    async def age(self, message_id: int, submitted_at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == message_id)
                .values(submitted_at=submitted_at)
            )


@asynccontextmanager
async def start_harness(
    settings: Settings,
    *,
    wrap: Callable[[FakeMobivate], httpx.AsyncBaseTransport] | None = None,
) -> AsyncIterator[Harness]:
    """`wrap` makes the transport the app calls Mobivate through, when a test needs to step in
    between the app and the fake."""
    forward = Forward()
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=forward), base_url="http://app"
        ) as callbacks,
        fake_mobivate(callback_client=callbacks) as fake,
    ):
        for kind in ("receipt", "incoming", "click"):
            fake.webhooks[kind] = f"http://app/webhooks/{WEBHOOK_SECRET}/{kind}"
        engine = create_engine(settings.database_url)
        try:
            transport = wrap(fake) if wrap else fake.transport()
            async with start_app(settings, mobivate_transport=transport) as running:
                forward.target = running.app
                yield Harness(running, fake, engine)
        finally:
            await engine.dispose()


async def send_message(harness: Harness, to: str, reference: str) -> dict[str, Any]:
    """A message sent through the API, which must be accepted."""
    response = await harness.send(to=to, text="Hello", reference=reference)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
