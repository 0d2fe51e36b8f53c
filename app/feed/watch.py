"""The live feed's horizon: the greatest feed id below which nothing can still appear.

A reader that serves entries in id order and resumes from the last id it sent (SSE
`Last-Event-ID`) must never serve an id while a smaller one can still commit, or that smaller one
would be missed. Feed ids come from a sequence when the entry is inserted, but transactions
commit in any order: on PostgreSQL, entry 11 can commit after entry 12 has been read.

Choice: serve only ids up to a horizon that is safe by construction, instead of a delay (wrong
for any transaction slower than the delay) or a single sequencing writer (which would serialise
every writer of every replica). Every feed writer holds the advisory lock FEED_LOCK in shared
mode from before it takes feed ids until it commits (`app.feed.entries.append`). The watcher
takes the lock exclusively for a moment: while it holds it no writer is between taking ids and
committing, so every id up to the greatest visible one is final (committed, or rolled back for
good), and that id becomes the horizon. It first only tries (`pg_try_advisory_xact_lock`), so
writers never wait; if writers have held the lock for longer than SETTLE_SECONDS without a break,
it queues for it with a short `lock_timeout`, pausing new writers for at most that long. A
writing transaction that stays open holds the horizon back while it runs; it never causes a miss.

SQLite runs one writing transaction at a time, holding the write lock until it commits, so
its ids commit in order and the horizon is simply the greatest id.

Wake-ups: PostgreSQL `LISTEN event_feed` (a trigger notifies when entries commit on any
replica) and, in this process, `wake()` after the ingest writer commits; otherwise the horizon is
checked every EVENT_STREAM_POLL_SECONDS while anyone is listening. The same task deletes
entries older than EVENT_FEED_RETENTION_HOURS.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.background import Worker
from app.core.db import utcnow
from app.core.tables import FEED_EVENTS as FEED
from app.feed.entries import CHANNEL, FEED_LOCK

logger = logging.getLogger(__name__)

SETTLE_SECONDS = 0.2
_FIRST_SETTLE_TRIES = 20
_LOCK_TIMEOUT = "50ms"
_PRUNE_EVERY = 600.0
_PRUNE_CHUNK = 5000


# The lifespan state key of `FeedWatcher.close_streams`, for the server to call on shutdown.
CLOSE_STREAMS = "close_live_feed_streams"


class FeedWatcher:
    def __init__(self, engine: AsyncEngine, *, poll_seconds: float, retention_hours: float) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._poll = poll_seconds
        self._retention = timedelta(hours=retention_hours)
        self.horizon = 0
        self._settled = False
        # Since when writers have kept the lock held (None: the last check got it).
        self._busy_since: float | None = None
        self._advanced = asyncio.Event()
        self._lock = asyncio.Lock()
        self._subscribers = 0
        self._listener: AsyncConnection | None = None
        self._next_prune = 0.0
        self.closing = False
        self.worker = Worker("feed-watcher", self._step, on_error=self._on_error)

    def wake(self, *_: Any) -> None:
        self.worker.wake()

    async def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        self.close_streams()
        await self.worker.stop()
        await self._unlisten()

    def close_streams(self) -> None:
        """The service is stopping: every open stream ends at once with a final event, so the
        server need not wait out its graceful timeout and then cancel them."""
        self.closing = True
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[None]:
        """While a reader is open: listen, check the horizon, and give it a current value."""
        self._subscribers += 1
        try:
            await self.settled_horizon()
            self.wake()
            yield
        finally:
            self._subscribers -= 1

    async def settled_horizon(self) -> int:
        """Where a reader starting "from now" begins: a horizon settled at least once. Take it
        before answering the reader, so every entry committed after the answer lies beyond."""
        for _ in range(_FIRST_SETTLE_TRIES):
            await self.refresh(force=not self._settled)
            if self._settled:
                break
        return self.horizon

    async def wait_beyond(self, position: int, seconds: float) -> bool:
        """Wait up to `seconds` for the horizon to pass `position`."""
        if self.horizon > position or self.closing:
            return self.horizon > position
        advanced = self._advanced
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await advanced.wait()
        return self.horizon > position

    async def refresh(self, *, force: bool = False) -> int:
        async with self._lock:
            async with self._engine.connect() as conn:
                if self._postgres:
                    top = await self._settled_top(conn, force)
                else:
                    top = await self._top(conn)
            if top is not None:
                self._settled = True
            if top is not None and top > self.horizon:
                self.horizon = top
                advanced, self._advanced = self._advanced, asyncio.Event()
                advanced.set()
            return self.horizon

    @staticmethod
    async def _top(conn: AsyncConnection) -> int:
        return int(await conn.scalar(select(func.max(FEED.c.id))) or 0)

    async def _settled_top(self, conn: AsyncConnection, force: bool) -> int | None:
        """The greatest id, read while no writer is between taking ids and committing; None
        if writers kept the lock."""
        key = {"key": FEED_LOCK}
        async with conn.begin() as transaction:
            got = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), key)
            now = time.monotonic()
            waited = self._busy_since is not None and now - self._busy_since > SETTLE_SECONDS
            if not got and (force or waited):
                await conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
                try:
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)
                    got = True
                except DBAPIError:  # lock_timeout: writers are still at it
                    await transaction.rollback()
                    return None
            if not got:
                self._busy_since = self._busy_since or now
                return None
            self._busy_since = None
            return await self._top(conn)

    async def _step(self) -> float:
        if self._subscribers:
            await self._listen()
            await self.refresh()
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + _PRUNE_EVERY
            await self._prune()
        return self._wait()

    async def _on_error(self, exc: Exception, failures: int) -> float:
        """Keep following the feed through database outages."""
        logger.warning("live feed check failed: %s", type(exc).__name__)
        await self._unlisten()
        return self._wait()

    def _wait(self) -> float:
        if not self._subscribers:
            return max(0.0, self._next_prune - time.monotonic())
        return min(self._poll, 0.02) if self._busy_since else self._poll

    async def _listen(self) -> None:
        if not self._postgres or self._listener is not None:
            return
        conn = await self._engine.connect()
        try:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.add_listener(CHANNEL, self.wake)  # type: ignore[union-attr]
        except BaseException:
            await conn.close()
            raise
        self._listener = conn

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            raw = await conn.get_raw_connection()
            await raw.driver_connection.remove_listener(CHANNEL, self.wake)  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            await conn.close()

    async def _prune(self) -> None:
        """Delete expired entries from the oldest end, a chunk at a time (ids follow time)."""
        cutoff = utcnow() - self._retention
        oldest = select(FEED.c.id, FEED.c.created_at).order_by(FEED.c.id).limit(_PRUNE_CHUNK)
        while True:
            async with self._engine.begin() as conn:
                rows = (await conn.execute(oldest)).all()
                expired = [row.id for row in rows if row.created_at < cutoff]
                if expired:
                    await conn.execute(delete(FEED).where(FEED.c.id.in_(expired)))
            if len(expired) < _PRUNE_CHUNK:
                return
