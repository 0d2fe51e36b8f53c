"""Group commit: concurrent webhook requests share transactions, yet each gets its own outcome."""

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.core.tables import Click, IncomingMessage, Receipt, WebhookRequest
from app.main import create_app
from app.mobivate.payloads import parse_webhook
from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import IngestWriter, RawWebhook, StoredEvent
from tests.support import bodies
from tests.support.app import client_from
from tests.support.rows import count_rows
from tests.support.webhooks import post_webhook


def receipt(n: int, status_code: int = 2) -> dict[str, Any]:
    return bodies.receipt(
        f"{n:032X}",
        "ACCEPTED",
        status_code,
        created="2023-07-28T03:23:22.000+00:00",
        batch="9A85B9110A000A9D2FBD4671D691C328",
        hlr={"network": "Vodafone", "ported": False} if n % 2 else None,
    )


def incoming(n: int) -> dict[str, Any]:
    return bodies.incoming(
        f"4477009{n:05d}",
        "Thanks",
        message_id=f"{n:032X}",
        recipient="61400",
        created="2023-09-01T00:30:36+0000",
    )


def click(n: int) -> dict[str, Any]:
    return bodies.click(f"4477009{n:05d}", f"{n:032X}", url=f"https://e.x/{n}")


async def test_concurrent_mixed_requests_are_each_answered_and_recorded_correctly(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    requests: list[tuple[str, Any]] = [("receipt", receipt(n)) for n in range(12)]
    requests += [("receipt", receipt(1))] * 3  # redeliveries racing the original
    requests += [("incoming", incoming(n)) for n in range(4)] + [("incoming", incoming(0))]
    requests += [("click", click(n)) for n in range(4)] + [("click", click(3))]
    requests += [("receipt", b"{not json"), ("click", b"[]")]
    requests += [("receipt", [receipt(100), receipt(101), receipt(100)])]
    requests += [("receipt", [receipt(1), receipt(2, status_code=1)])]  # one old, one new

    responses = await asyncio.gather(*(post_webhook(client, kind, body) for kind, body in requests))

    answers = Counter(r.json().get("status") for r in responses)
    assert answers == {"stored": 22, "duplicate": 5, "unparsed": 2}
    assert [r.status_code for r in responses[-4:-2]] == [400, 422]
    assert responses[-2].json() == {"status": "stored", "stored": 2, "duplicates": 1}
    assert responses[-1].json() == {"status": "stored", "stored": 1, "duplicates": 1}
    assert await count_rows(engine, Receipt) == 12 + 2 + 1
    assert await count_rows(engine, IncomingMessage) == 4
    assert await count_rows(engine, Click) == 4
    async with engine.connect() as conn:
        outcomes = Counter((await conn.scalars(select(WebhookRequest.outcome))).all())
        owners = set((await conn.scalars(select(Receipt.request_id))).all())
        stored_ids = set(
            (
                await conn.scalars(
                    select(WebhookRequest.id).where(WebhookRequest.outcome == "stored")
                )
            ).all()
        )
    assert outcomes == answers
    assert owners <= stored_ids


async def test_after_store_steps_see_only_new_events_inside_the_batch_transaction(
    engine: AsyncEngine,
) -> None:
    seen: list[tuple[str, str]] = []
    committed: list[int] = []

    class Probe:
        async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
            assert conn.in_transaction()
            keys = [stored.row["dedupe_key"] for stored in events if stored.kind.value == "receipt"]
            # The rows are visible here, before the commit that acknowledges them.
            query = select(func.count()).select_from(Receipt).where(Receipt.dedupe_key.in_(keys))
            assert await conn.scalar(query) == len(keys)
            seen.extend((stored.kind.value, stored.row["dedupe_key"]) for stored in events)

        def after_commit(self, events: Sequence[StoredEvent]) -> None:
            committed.append(len(events))

    writer = IngestWriter(engine, linger_seconds=0.01, steps=[Probe()])
    await writer.start()
    try:
        await store(writer, "receipt", receipt(7))
        bodies = [("receipt", receipt(7)), ("receipt", receipt(8)), ("click", click(1))]
        await asyncio.gather(*(store(writer, kind, body) for kind, body in bodies))
    finally:
        await writer.stop()

    assert Counter(kind for kind, _ in seen) == {"receipt": 2, "click": 1}
    assert len(set(seen)) == 3
    assert sum(committed) == 3


async def store(writer: IngestWriter, kind: str, body: dict[str, Any]) -> None:
    raw = RawWebhook(
        kind=WebhookKind(kind),
        received_at=datetime.now(UTC),
        body=orjson.dumps(body),
        content_type="application/json",
        client_addr="203.0.113.7",
        body_size=len(orjson.dumps(body)),
    )
    await writer.store(raw, parse_webhook(raw.kind, raw.body, raw.content_type))


async def test_a_request_the_database_refuses_does_not_fail_the_others_in_its_batch(
    settings: Settings, engine: AsyncEngine
) -> None:
    """PostgreSQL refuses a client address longer than its column; SQLite keeps it."""
    app = create_app(settings)
    long_host = "2001:db8::" + "a" * 80
    async with app.router.lifespan_context(app):
        clients = [client_from(app, host) for host in ("203.0.113.7", long_host)]
        try:
            good, refused = clients
            responses = await asyncio.gather(
                *(post_webhook(good, "receipt", receipt(n)) for n in range(5)),
                post_webhook(refused, "receipt", receipt(99)),
                *(post_webhook(good, "click", click(n)) for n in range(5)),
            )
        finally:
            for client in clients:
                await client.aclose()

    others = responses[:5] + responses[6:]
    assert [r.json()["status"] for r in others] == ["stored"] * 10
    assert await count_rows(engine, Receipt) in (5, 6)
    assert await count_rows(engine, Click) == 5
