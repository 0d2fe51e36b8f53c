"""Storing webhook requests with group commit.

Every request handler hands its raw body (and the events parsed from it) to the `IngestWriter`
and waits. A writer takes everything queued (up to `max_batch`) the moment it is free, writes it
with one multi-row INSERT per table (one statement for all of them on PostgreSQL) and a single
COMMIT, and only then answers each waiting handler. So a request is acknowledged only once the
transaction holding its rows has committed, while the database sees a few large transactions
instead of one per request.

A writer never waits for company: a request that finds a writer free is written at once, and
what arrives while a transaction commits forms the next one. On PostgreSQL more writers (each
with its own connection, INGEST_WRITERS) keep as many transactions in flight, so one batch is
written while another waits for its commit; the order between batches does not matter, since
duplicates are absorbed by unique keys and the opt-out steps order by event time. A linger
time (`linger_seconds`, INGEST_LINGER_MS, default 0) makes each transaction wait that long
after its first request for more to join it. Measured with bench/run.py at 32 connections on a
loaded 2-core machine, 2 ms took 10-25 % less CPU per request (larger transactions), and one
writer 15-30 % less than two, while at 1 and 4 connections two writers made no difference the
noise let us see: one writer and no wait are the defaults. Every request pays a linger: with
2 ms, one connection took 4.5 ms a receipt.

Duplicates are absorbed by the unique `dedupe_key` of each event table (INSERT ... ON CONFLICT DO
NOTHING), so two identical requests racing on two connections or processes still give one row.
Multi-row statements on SQLite are cut below its bound-variable limit.

A failing transaction is either an outage or data the database cannot take, and only a question
to the database tells them apart: if it still answers `SELECT 1`, the batch is split in halves
until the request that cannot be stored is found; its raw body is kept as `unparsed` with the
reason (answered 422) and everything else commits. Only when the database does not answer is the
batch reported unavailable (the caller keeps it in the outage spool). A request whose raw body
cannot be stored either is reported `IngestRejected` (the caller quarantines it).

The items of a JSON array that could not be parsed (`RejectedItem`) are written in the same
transaction as one more raw request: the rejected items as a JSON array, outcome "unparsed", an
error listing each one's position in the original array and its reason, and an id derived from
the original request's, so `reprocess` can read them again once the parser accepts them.
"""

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from sqlalchemy import Table, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import DATABASE_ERRORS, chunked, rows_per_statement
from app.core.tables import (
    CLICKS,
    INCOMING_MESSAGES,
    RECEIPTS,
)
from app.core.tables import WEBHOOK_REQUESTS as REQUESTS_TABLE
from app.mobivate.payloads import ParsedEvent, RejectedItem, rejected_json
from app.mobivate.vocabulary import WebhookKind
from app.webhooks import ingest_pg
from app.webhooks.rows import Row, cleaned, event_row

logger = logging.getLogger(__name__)

RequestOutcome = Literal["stored", "duplicate", "unparsed", "too_large"]

EVENT_TABLES: dict[WebhookKind, Table] = {
    WebhookKind.RECEIPT: RECEIPTS,
    WebhookKind.INCOMING: INCOMING_MESSAGES,
    WebhookKind.CLICK: CLICKS,
}


@dataclass(frozen=True, slots=True)
class RawWebhook:
    """One webhook request as it reached us."""

    kind: WebhookKind
    received_at: datetime
    body: bytes
    content_type: str | None
    client_addr: str | None
    body_size: int
    truncated: bool = False
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event row that was inserted (not a duplicate), handed to the after-store hooks."""

    id: int
    kind: WebhookKind
    event: ParsedEvent
    row: Row


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: RequestOutcome
    stored: int = 0
    duplicates: int = 0
    # Items of a JSON array that could not be parsed, kept as the unparsed request `rejected_id`.
    rejected: tuple[RejectedItem, ...] = ()
    rejected_id: uuid.UUID | None = None


# How many rejected items the stored error text names one by one.
_REJECTED_NAMED = 20


def rejected_request_id(request_id: uuid.UUID) -> uuid.UUID:
    """The id of the request that keeps the rejected items of request `request_id`."""
    return uuid.uuid5(request_id, "rejected items")


_KEPT_ITEMS_HEADING = re.compile(r"[0-9]+ item\(s\) of request [0-9a-f-]{36}: ")


def keeps_rejected_items(error: str | None) -> bool:
    """Whether a kept request's error is the one written for the rejected items of an array
    (which names the original request and positions there: worth keeping as it is)."""
    return error is not None and _KEPT_ITEMS_HEADING.match(error) is not None


def rejected_summary(heading: str, rejected: Sequence[RejectedItem]) -> str:
    """`heading`, then the position and reason of each rejected item (the first twenty)."""
    named = "; ".join(f"item {item.index}: {item.message}" for item in rejected[:_REJECTED_NAMED])
    more = len(rejected) - _REJECTED_NAMED
    tail = f"; and {more} more" if more > 0 else ""
    return f"{heading}: {named}{tail}"


class IngestUnavailable(Exception):
    """The database could not take the request; nothing was acknowledged."""


class IngestRefused(Exception):
    """The database refused the events of this request; its raw body was kept as unparsed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IngestRejected(Exception):
    """The database answers but cannot store even the raw body of this request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def refusal_reason(exc: BaseException) -> str:
    """Why the database refused a write, without the statement or its parameters."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first_line = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


# Failures that say nothing about the data: a deadlock between two writers (two processes
# storing the same events in opposite orders), a serialization failure, a lock wait cut short.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
_TRANSIENT_RETRIES = 3


def is_transient(exc: BaseException) -> bool:
    """Whether the same transaction may well succeed if simply run again."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    for name in ("sqlstate", "pgcode"):
        if getattr(cause, name, None) in _TRANSIENT_SQLSTATES:
            return True
    return False


class AfterStoreStep(Protocol):
    """One step applied to every batch of newly stored events (duplicates never reach it)."""

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        """Runs inside the transaction that stores the events: what it writes commits with
        them or not at all, and a failure here fails the batch (nothing is acknowledged)."""

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        """Runs once that transaction has committed; must not block (it wakes a worker)."""


@runtime_checkable
class InStatementStep(AfterStoreStep, Protocol):
    """An after-store step whose rows can join the batch's one statement on PostgreSQL
    (`ingest_pg.Companion`): there the writer writes them and does not call `after_store`."""

    companion: ingest_pg.Companion

    def companion_rows(self, kind: WebhookKind, rows: Sequence[Row]) -> list[Row]:
        """One companion row per event row (the event's id is filled in by the statement)."""
        ...


@dataclass(slots=True)
class _Pending:
    raw: RawWebhook
    events: list[ParsedEvent] | None
    outcome_if_unparsed: RequestOutcome
    error: str | None
    future: asyncio.Future[IngestResult]
    already_stored: bool = False
    rejected: tuple[RejectedItem, ...] = ()


_STOP = object()


class IngestWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 500,
        writers: int = 1,
        linger_seconds: float = 0.0,
        click_window_seconds: int = 600,
        default_region: str | None = None,
        steps: Sequence[AfterStoreStep] = (),
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._postgres = engine.dialect.name == "postgresql"
        # SQLite takes one writer at a time: a second transaction would only wait for the lock.
        self._writer_count = max(1, writers) if self._postgres else 1
        self._linger = linger_seconds
        self._click_window = click_window_seconds
        self._region = default_region
        self.steps = tuple(steps)
        self._in_statement = tuple(
            step for step in self.steps if self._postgres and isinstance(step, InStatementStep)
        )
        self._in_transaction = tuple(step for step in self.steps if step not in self._in_statement)
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        self._idle: list[AsyncConnection] = []
        # Committed write transactions (the split halves of a refused batch included).
        self.transactions = 0

    async def start(self) -> None:
        for index in range(self._writer_count):
            self._tasks.append(asyncio.create_task(self._run(), name=f"ingest-writer-{index}"))

    async def stop(self) -> None:
        """Finish everything already queued, then stop."""
        for _ in self._tasks:
            self._queue.put_nowait(_STOP)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        while self._idle:
            await self._idle.pop().close()

    async def store(
        self,
        raw: RawWebhook,
        events: list[ParsedEvent],
        rejected: Sequence[RejectedItem] = (),
    ) -> IngestResult:
        return await self._submit(raw, events, "stored", None, rejected=tuple(rejected))

    async def restore(
        self,
        raw: RawWebhook,
        events: list[ParsedEvent],
        rejected: Sequence[RejectedItem] = (),
    ) -> IngestResult:
        """Store the events of a raw request that is already kept (re-parsing after a fix)."""
        return await self._submit(
            raw, events, "stored", None, already_stored=True, rejected=tuple(rejected)
        )

    async def store_unparsed(
        self, raw: RawWebhook, error: str, outcome: RequestOutcome = "unparsed"
    ) -> IngestResult:
        return await self._submit(raw, None, outcome, error)

    async def _submit(
        self,
        raw: RawWebhook,
        events: list[ParsedEvent] | None,
        outcome: RequestOutcome,
        error: str | None,
        *,
        already_stored: bool = False,
        rejected: tuple[RejectedItem, ...] = (),
    ) -> IngestResult:
        if not self._tasks:
            raise IngestUnavailable("the ingest writer is not running")
        if rejected:
            kept_as = rejected_request_id(raw.id)
            error = rejected_summary(
                f"{len(rejected)} item(s) rejected, kept as request {kept_as}", rejected
            )
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(
            _Pending(raw, events, outcome, error, future, already_stored, rejected)
        )
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Pending)
            batch = [first]
            stop_after = self._take_queued(batch)
            if self._linger > 0 and not stop_after and len(batch) < self._max_batch:
                await asyncio.sleep(self._linger)
                stop_after = self._take_queued(batch)
            await self._process(batch)
            if stop_after:
                return

    def _take_queued(self, batch: list[_Pending]) -> bool:
        """Move what is queued into `batch`, up to the batch limit; True when a stop came."""
        while len(batch) < self._max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _STOP:
                return True
            assert isinstance(item, _Pending)
            batch.append(item)
        return False

    async def _process(self, batch: list[_Pending], retries: int = _TRANSIENT_RETRIES) -> None:
        try:
            results = await self._write(batch)
        except Exception as exc:  # the writer must outlive any failure of one batch
            if retries and is_transient(exc):
                logger.warning("ingest transaction failed (%s); retrying it", refusal_reason(exc))
                await self._process(batch, retries - 1)
                return
            if not isinstance(exc, DATABASE_ERRORS):
                logger.exception("unexpected failure storing %d webhook request(s)", len(batch))
            if not await self.database_answers():
                self._fail(batch, exc)
            elif len(batch) > 1:
                logger.warning(
                    "database refused a batch of %d (%s); splitting it",
                    len(batch),
                    refusal_reason(exc),
                )
                half = len(batch) // 2
                await self._process(batch[:half])
                await self._process(batch[half:])
            else:
                await self._keep_refused(batch[0], exc)
            return
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    async def database_answers(self) -> bool:
        """Whether the database answers at all: what tells an outage from refused data."""
        try:
            async with asyncio.timeout(5), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def _keep_refused(self, item: _Pending, exc: Exception) -> None:
        """Keep the raw body of a request whose events the database refused, marked unparsed."""
        message = f"the database refused the event: {refusal_reason(exc)}"
        logger.warning("webhook request %s: %s", item.raw.id, message)
        if item.events is None:  # the raw body itself was refused
            self._reject(item, message)
            return
        unparsed = _Pending(item.raw, None, "unparsed", message, item.future, item.already_stored)
        try:
            await self._write([unparsed])
        except Exception as second:
            if await self.database_answers():
                self._reject(item, f"the database refused the request: {refusal_reason(second)}")
            else:
                self._fail([item], second)
            return
        if not item.future.done():
            item.future.set_exception(IngestRefused(message))

    @staticmethod
    def _reject(item: _Pending, message: str) -> None:
        logger.error("webhook request %s cannot be stored: %s", item.raw.id, message)
        if not item.future.done():
            item.future.set_exception(IngestRejected(message))

    def _fail(self, batch: list[_Pending], exc: Exception) -> None:
        logger.error("could not store %d webhook request(s): %s", len(batch), type(exc).__name__)
        for item in batch:
            if not item.future.done():
                item.future.set_exception(IngestUnavailable(type(exc).__name__))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction on a connection kept from one batch to the next (a pool checkout costs a
        ping round trip). A connection that saw an error goes back to the pool instead, which
        pings it before anyone uses it again."""
        conn = self._idle.pop() if self._idle else await self._connect()
        try:
            async with ingest_pg.transaction(conn) if self._postgres else conn.begin():
                yield conn
        except BaseException:
            await conn.close()
            raise
        self.transactions += 1
        self._idle.append(conn)

    async def _connect(self) -> AsyncConnection:
        conn = await self._engine.connect()
        return await ingest_pg.prepared(conn) if self._postgres else conn

    async def _write(self, batch: list[_Pending]) -> list[IngestResult]:
        new_rows: dict[WebhookKind, list[tuple[ParsedEvent, Row]]] = {}
        keys_per_item: list[list[str]] = []
        first_by_key: dict[str, int] = {}
        for index, item in enumerate(batch):
            keys: list[str] = []
            for event in item.events or ():
                row = event_row(
                    event, item.raw.id, item.raw.received_at, self._click_window, self._region
                )
                key = row["dedupe_key"]
                keys.append(key)
                if key not in first_by_key:
                    first_by_key[key] = index
                    new_rows.setdefault(item.raw.kind, []).append((event, row))
            keys_per_item.append(keys)

        async with self._transaction() as conn:
            new_requests = [self._request_row(item) for item in batch if not item.already_stored]
            new_requests.extend(
                self._rejected_row(item) for item in batch if item.rejected and item.events
            )
            if self._postgres:
                events = {
                    EVENT_TABLES[kind]: [row for _, row in rows] for kind, rows in new_rows.items()
                }
                companions = {
                    step.companion: {
                        EVENT_TABLES[kind]: step.companion_rows(kind, [row for _, row in rows])
                        for kind, rows in new_rows.items()
                    }
                    for step in self._in_statement
                }
                inserted_by_table = await ingest_pg.insert_batch(
                    conn, REQUESTS_TABLE, new_requests, events, companions
                )
            else:
                inserted_by_table = await self._insert_sqlite(conn, new_requests, new_rows)
            inserted_keys: set[str] = set()
            stored_events: list[StoredEvent] = []
            for kind, entries in new_rows.items():
                inserted = inserted_by_table[EVENT_TABLES[kind].name]
                inserted_keys.update(inserted)
                stored_events.extend(
                    StoredEvent(inserted[row["dedupe_key"]], kind, event, row)
                    for event, row in entries
                    if row["dedupe_key"] in inserted
                )
            results = [
                _result(item, keys, index, inserted_keys, first_by_key)
                for index, (item, keys) in enumerate(zip(batch, keys_per_item, strict=True))
            ]
            # On PostgreSQL the INSERT already marked the new duplicates.
            duplicate_ids = [
                item.raw.id
                for item, result in zip(batch, results, strict=True)
                if result.outcome == "duplicate" and not item.already_stored and not self._postgres
            ]
            for item, result in zip(batch, results, strict=True):
                if item.already_stored:
                    await conn.execute(
                        update(REQUESTS_TABLE)
                        .where(REQUESTS_TABLE.c.id == item.raw.id)
                        .values(
                            outcome=result.outcome,
                            error=item.error,
                            event_count=len(item.events or ()),
                        )
                    )
            if duplicate_ids:
                await conn.execute(
                    update(REQUESTS_TABLE)
                    .where(REQUESTS_TABLE.c.id.in_(duplicate_ids))
                    .values(outcome="duplicate")
                )
            if stored_events:
                for step in self._in_transaction:
                    await step.after_store(conn, stored_events)
        if stored_events:
            self._run_after_commit(stored_events)
        return results

    async def _insert_sqlite(
        self,
        conn: AsyncConnection,
        requests: list[Row],
        new_rows: dict[WebhookKind, list[tuple[ParsedEvent, Row]]],
    ) -> dict[str, dict[str, int]]:
        if requests:
            await conn.execute(insert(REQUESTS_TABLE), requests)
        inserted: dict[str, dict[str, int]] = {}
        for kind, entries in new_rows.items():
            table = EVENT_TABLES[kind]
            rows = [row for _, row in entries]
            inserted[table.name] = {}
            for chunk in chunked(rows, rows_per_statement(len(rows[0]))):
                statement = (
                    self._insert(table)
                    .values(list(chunk))
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                    .returning(table.c.dedupe_key, table.c.id)
                )
                result = await conn.execute(statement)
                inserted[table.name].update((str(key), int(i)) for key, i in result.all())
        return inserted

    def _run_after_commit(self, stored_events: list[StoredEvent]) -> None:
        for step in self.steps:
            try:
                step.after_commit(stored_events)
            except Exception:  # the events are committed: a failing step must not undo the answer
                logger.exception("after-commit step %s failed", type(step).__name__)

    @staticmethod
    def _rejected_row(item: _Pending) -> dict[str, Any]:
        """The rejected items of `item`'s array, kept as an unparsed request of their own."""
        raw = item.raw
        body = rejected_json(item.rejected)
        return {
            "id": rejected_request_id(raw.id),
            "kind": raw.kind.value,
            "received_at": raw.received_at,
            "content_type": raw.content_type,
            "client_addr": raw.client_addr,
            "body": body,
            "body_size": len(body),
            "truncated": False,
            "outcome": "unparsed",
            "error": rejected_summary(
                f"{len(item.rejected)} item(s) of request {raw.id}", item.rejected
            ),
            "event_count": 0,
        }

    @staticmethod
    def _request_row(item: _Pending) -> dict[str, Any]:
        raw = item.raw
        return {
            "id": raw.id,
            "kind": raw.kind.value,
            "received_at": raw.received_at,
            "content_type": cleaned(raw.content_type),
            "client_addr": cleaned(raw.client_addr),
            "body": raw.body,
            "body_size": raw.body_size,
            "truncated": raw.truncated,
            "outcome": "stored" if item.events is not None else item.outcome_if_unparsed,
            "error": item.error,
            "event_count": len(item.events or ()),
        }


def _result(
    item: _Pending,
    keys: list[str],
    index: int,
    inserted_keys: set[str],
    first_by_key: dict[str, int],
) -> IngestResult:
    if item.events is None:
        return IngestResult(item.outcome_if_unparsed)
    # An event sent twice within one batch is stored for the first request that carried it.
    counted: set[str] = set()
    for key in keys:
        if key in inserted_keys and first_by_key[key] == index:
            counted.add(key)
    stored = len(counted)
    rejected_id = rejected_request_id(item.raw.id) if item.rejected else None
    return IngestResult(
        "stored" if stored else "duplicate", stored, len(keys) - stored, item.rejected, rejected_id
    )
