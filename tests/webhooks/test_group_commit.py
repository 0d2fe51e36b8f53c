"""Group commit never waits for company: what arrives while a transaction commits forms the next
one, a second writer stores a request while the first transaction is still open (PostgreSQL),
and whatever the order, a request is answered only once its transaction committed, duplicates are
stored once and a failing step leaves nothing of its batch behind."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import FEED_EVENTS as FEED
from app.core.tables import Receipt, WebhookRequest
from app.feed.entries import FeedEntries
from app.mobivate.payloads import parse_webhook
from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import (
    AfterStoreStep,
    IngestRefused,
    IngestResult,
    IngestWriter,
    RawWebhook,
    StoredEvent,
)
from tests.support import bodies
from tests.support.rows import count_rows
from tests.support.waiting import eventually

# Far longer than any test: a writer that waited for it would never answer.
SAFETY_NET_SECONDS = 60


def receipt(n: int) -> dict[str, Any]:
    return bodies.receipt(
        f"{n:032X}", "ACCEPTED", 2, created="2023-07-28T03:23:22.000+00:00", batch="B1"
    )


def raw_receipt(n: int) -> RawWebhook:
    body = orjson.dumps(receipt(n))
    return RawWebhook(
        kind=WebhookKind.RECEIPT,
        received_at=datetime.now(UTC),
        body=body,
        content_type="application/json",
        client_addr="203.0.113.7",
        body_size=len(body),
    )


async def store(writer: IngestWriter, n: int) -> IngestResult:
    raw = raw_receipt(n)
    events = parse_webhook(raw.kind, raw.body, raw.content_type)
    return await asyncio.wait_for(writer.store(raw, events), SAFETY_NET_SECONDS)


class HoldFirst:
    """Holds the first transaction open (after its rows are written) until released, and notes
    the receipts each transaction stored."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.batches: list[int] = []

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        self.batches.append(len(events))
        if len(self.batches) == 1:
            self.entered.set()
            await asyncio.wait_for(self.release.wait(), SAFETY_NET_SECONDS)

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        pass


class Fails:
    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        raise RuntimeError("a step that fails")

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        pass


@asynccontextmanager
async def running_writer(
    engine: AsyncEngine, steps: Sequence[AfterStoreStep], **options: Any
) -> AsyncIterator[IngestWriter]:
    writer = IngestWriter(engine, steps=steps, **options)
    await writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


async def test_requests_queued_during_a_commit_are_written_together_in_the_next_transaction(
    engine: AsyncEngine,
) -> None:
    hold = HoldFirst()
    async with running_writer(engine, [hold], writers=1) as writer:
        first = asyncio.create_task(store(writer, 1))
        await asyncio.wait_for(hold.entered.wait(), SAFETY_NET_SECONDS)
        queued = [asyncio.create_task(store(writer, n)) for n in range(2, 6)]
        await asyncio.sleep(0)  # they reach the queue
        hold.release.set()
        results = await asyncio.gather(first, *queued)

    assert [result.outcome for result in results] == ["stored"] * 5
    assert hold.batches == [1, 4]
    assert writer.transactions == 2


async def test_a_lone_request_is_written_at_once_in_a_transaction_of_its_own(
    engine: AsyncEngine,
) -> None:
    async with running_writer(engine, []) as writer:
        for n in range(3):
            assert (await store(writer, n)).outcome == "stored"
            assert writer.transactions == n + 1


async def test_a_second_writer_stores_while_the_first_transaction_is_open(
    engine: AsyncEngine, backend: str
) -> None:
    """PostgreSQL keeps two transactions in flight; SQLite, one writer at a time, writes the
    second request in the next transaction."""
    hold = HoldFirst()
    async with running_writer(engine, [hold], writers=2) as writer:
        first = asyncio.create_task(store(writer, 1))
        await asyncio.wait_for(hold.entered.wait(), SAFETY_NET_SECONDS)
        second = asyncio.create_task(store(writer, 2))
        if backend == "postgresql":
            assert (await second).outcome == "stored"
            assert not first.done()
            assert await count_rows(engine, Receipt) == 1  # the second, committed
        hold.release.set()
        results = await asyncio.gather(first, second)

    assert [result.outcome for result in results] == ["stored", "stored"]
    assert await count_rows(engine, Receipt) == 2
    assert writer.transactions == 2


async def waiting_for_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        waiting = await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
    return bool(waiting)


async def test_a_duplicate_racing_in_two_open_transactions_is_stored_once(
    engine: AsyncEngine, backend: str
) -> None:
    hold = HoldFirst()
    async with running_writer(engine, [hold], writers=2) as writer:
        first = asyncio.create_task(store(writer, 7))
        await asyncio.wait_for(hold.entered.wait(), SAFETY_NET_SECONDS)
        again = asyncio.create_task(store(writer, 7))
        if backend == "postgresql":
            # The second transaction waits on the first one's new key before it can decide.
            await eventually(lambda: waiting_for_a_lock(engine), what="the second insert waits")
        hold.release.set()
        results = await asyncio.gather(first, again)

    assert [result.outcome for result in results] == ["stored", "duplicate"]
    assert await count_rows(engine, Receipt) == 1
    async with engine.connect() as conn:
        outcomes = sorted((await conn.scalars(select(WebhookRequest.outcome))).all())
    assert outcomes == ["duplicate", "stored"]


async def test_a_failing_step_leaves_nothing_of_its_batch_and_the_request_is_kept_unparsed(
    engine: AsyncEngine,
) -> None:
    async with running_writer(engine, [Fails()]) as writer:
        with pytest.raises(IngestRefused, match="a step that fails"):
            await store(writer, 1)

    assert await count_rows(engine, Receipt) == 0
    async with engine.connect() as conn:
        kept = (await conn.execute(select(WebhookRequest.outcome, WebhookRequest.error))).all()
    assert [outcome for outcome, _ in kept] == ["unparsed"]
    assert "a step that fails" in kept[0].error


class Deadlocked(Exception):
    sqlstate = "40P01"


class DeadlocksOnce:
    """Fails its first transaction as PostgreSQL fails the loser of a deadlock."""

    def __init__(self) -> None:
        self.calls = 0

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise DBAPIError("INSERT ...", None, Deadlocked("deadlock detected"))

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        pass


async def test_a_deadlocked_transaction_is_run_again_and_its_events_are_stored(
    engine: AsyncEngine,
) -> None:
    step = DeadlocksOnce()
    async with running_writer(engine, [step]) as writer:
        result = await store(writer, 1)
    assert result.outcome == "stored"
    assert step.calls == 2
    assert await count_rows(engine, Receipt) == 1
    async with engine.connect() as conn:
        outcomes = (await conn.execute(select(WebhookRequest.outcome))).scalars().all()
    assert outcomes == ["stored"]


async def test_each_new_event_of_a_batch_gets_one_feed_entry_naming_it(
    engine: AsyncEngine,
) -> None:
    """On PostgreSQL the entries are written by the batch's own statement; on SQLite by the
    step: either way one per inserted event, none for a duplicate, in the order of the ids."""
    woken: list[int] = []
    hold = HoldFirst()
    feed = FeedEntries(lambda: woken.append(1))
    async with running_writer(engine, [feed, hold], writers=1) as writer:
        first = asyncio.create_task(store(writer, 1))
        await asyncio.wait_for(hold.entered.wait(), SAFETY_NET_SECONDS)
        batch = [asyncio.create_task(store(writer, n)) for n in (2, 3, 2, 1)]
        await asyncio.sleep(0)
        hold.release.set()
        results = await asyncio.gather(first, *batch)

    assert [result.outcome for result in results] == ["stored"] * 3 + ["duplicate"] * 2
    async with engine.connect() as conn:
        receipts = (await conn.execute(select(Receipt.id, Receipt.message_id_norm))).all()
        entries = (
            await conn.execute(
                select(FEED.c.id, FEED.c.kind, FEED.c.ref_id, FEED.c.mobivate_id, FEED.c.payload)
            )
        ).all()
    norms = dict(receipts)
    assert sorted(entry.ref_id for entry in entries) == sorted(norms)
    for entry in entries:
        assert entry.kind == "receipt"
        assert entry.payload["id"] == entry.ref_id
        assert entry.mobivate_id == entry.payload["mobivate_id"] == norms[entry.ref_id]
    by_feed_id = sorted(entries, key=lambda entry: int(entry.id))
    assert [entry.ref_id for entry in by_feed_id] == sorted(norms)
    assert writer.transactions == 2
    assert len(woken) == 2
