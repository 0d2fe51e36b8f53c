"""The outage spool: webhook requests kept on local disk while the database cannot take them.

Each process owns one SQLite file under SPOOL_DIR (`spool-<n>.sqlite`, held with an exclusive
lock on `spool-<n>.lock`, so several workers or replicas sharing the directory never share a
file). Entries are written with group commit in WAL mode with `synchronous=FULL`: `put` returns
only once the entry is on disk, so a request is acknowledged only after that. An entry keeps
what a live request would have stored: the request id, kind, received time, content type,
client address and the body as received. All file access runs on one dedicated thread.
"""

import asyncio
import fcntl
import logging
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import RawWebhook

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT,
    client_addr TEXT,
    body BLOB NOT NULL,
    body_size INTEGER NOT NULL,
    truncated INTEGER NOT NULL
)
"""
# A kept request's columns, in the order of `raw_row` and `raw_from_row` (the quarantine keeps
# the same ones).
RAW_COLUMNS = "request_id, kind, received_at, content_type, client_addr, body, body_size, truncated"
_COLUMNS = f"seq, {RAW_COLUMNS}"


class SpoolFull(Exception):
    """The spool has reached SPOOL_MAX_BYTES; the request cannot be kept."""


@dataclass(frozen=True, slots=True)
class SpooledRequest:
    seq: int
    raw: RawWebhook


def raw_row(raw: RawWebhook) -> tuple[Any, ...]:
    return (
        str(raw.id),
        raw.kind.value,
        raw.received_at.isoformat(),
        raw.content_type,
        raw.client_addr,
        raw.body,
        raw.body_size,
        int(raw.truncated),
    )


def raw_from_row(row: Sequence[Any]) -> RawWebhook:
    request_id, kind, received_at, content_type, client_addr, body, size, truncated = row
    return RawWebhook(
        kind=WebhookKind(kind),
        received_at=datetime.fromisoformat(received_at),
        body=bytes(body),
        content_type=content_type,
        client_addr=client_addr,
        body_size=size,
        truncated=bool(truncated),
        id=uuid.UUID(request_id),
    )


def _entry(row: tuple[Any, ...]) -> SpooledRequest:
    return SpooledRequest(row[0], raw_from_row(row[1:]))


def lock_file(path: Path) -> IO[bytes] | None:
    """An exclusive lock on `path`, held while the returned file stays open; None if taken."""
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class SpoolFile:
    """One spool file, used by the process that holds its lock."""

    def __init__(self, path: Path, lock: IO[bytes], *, max_bytes: int) -> None:
        self.path = path
        self._lock = lock
        self.max_bytes = max_bytes
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"spool-{path.stem}")
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._queue: list[tuple[RawWebhook, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.entries = 0
        self.bytes = 0
        self.oldest: datetime | None = None
        self.on_change: Callable[[], None] = lambda: None

    async def _call(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def _open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        count, size, oldest = db.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0), min(received_at) FROM spool"
        ).fetchone()
        self._db = db
        self.entries, self.bytes = count, size
        self.oldest = datetime.fromisoformat(oldest) if oldest else None

    async def _to_the_end(self, function: Any) -> Any:
        """Run `function` on the spool thread; if the caller is cancelled meanwhile, wait for it
        to finish anyway (it takes milliseconds), so no connection is left half open or closed."""
        call = asyncio.ensure_future(self._call(function))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            await asyncio.wait({call})
            raise

    async def open(self) -> None:
        try:
            await self._to_the_end(self._open)
        except BaseException:  # cancelled or failed: let the file and the lock go now
            await self.close()
            raise

    async def close(self) -> None:
        """Safe to call more than once, and after a failed `open`."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._flushing is not None:
                await asyncio.gather(self._flushing, return_exceptions=True)
            db, self._db = self._db, None
            if db is not None:
                await self._to_the_end(db.close)
        finally:  # even when cancelled: the lock must go with this object
            self._thread.shutdown(wait=False)
            self._lock.close()

    async def put(self, raw: RawWebhook) -> None:
        """Keep `raw` durably; raises SpoolFull when SPOOL_MAX_BYTES would be passed."""
        if self.bytes + len(raw.body) > self.max_bytes:
            raise SpoolFull(f"the outage spool holds {self.bytes} bytes (SPOOL_MAX_BYTES)")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((raw, future))
        self.bytes += len(raw.body)  # reserved now, so concurrent puts respect the cap
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        """Write everything queued with one transaction per round (group commit)."""
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._call(self._insert, [raw_row(raw) for raw, _ in batch])
            except Exception as exc:  # the disk failed: nothing in this batch is acknowledged
                logger.error("could not write %d request(s) to the spool: %r", len(batch), exc)
                self.bytes -= sum(len(raw.body) for raw, _ in batch)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.entries += len(batch)
            first = min(raw.received_at for raw, _ in batch)
            self.oldest = first if self.oldest is None else min(self.oldest, first)
            self.on_change()
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        assert self._db is not None
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO spool (request_id, kind, received_at, content_type, client_addr, "
                "body, body_size, truncated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    async def first(self, limit: int) -> list[SpooledRequest]:
        """The oldest `limit` entries, in arrival order."""
        rows = await self._call(self._select, limit)
        return [_entry(row) for row in rows]

    def _select(self, limit: int) -> list[tuple[Any, ...]]:
        assert self._db is not None
        query = f"SELECT {_COLUMNS} FROM spool ORDER BY seq LIMIT ?"  # noqa: S608 - constant
        return self._db.execute(query, (limit,)).fetchall()

    async def remove(self, entries: list[SpooledRequest]) -> None:
        """Forget entries whose requests the database now holds."""
        if not entries:
            return
        await self._call(self._delete, [(entry.seq,) for entry in entries])
        self.entries -= len(entries)
        self.bytes -= sum(len(entry.raw.body) for entry in entries)
        remaining = await self._call(self._oldest)
        self.oldest = datetime.fromisoformat(remaining) if remaining else None
        self.on_change()

    def _delete(self, seqs: list[tuple[int]]) -> None:
        assert self._db is not None
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM spool WHERE seq = ?", seqs)

    def _oldest(self) -> str | None:
        assert self._db is not None
        row = self._db.execute("SELECT received_at FROM spool ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def oldest_age_seconds(self) -> float:
        if self.oldest is None:
            return 0.0
        return max(0.0, (datetime.now(UTC) - self.oldest).total_seconds())


async def open_own_spool(directory: Path, *, max_bytes: int) -> SpoolFile:
    """The first spool file in `directory` that no other process holds."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    index = 0
    while True:
        path = directory / f"spool-{index}.sqlite"
        lock = lock_file(path.with_suffix(".lock"))  # never blocks: LOCK_NB on a local file
        if lock is not None:
            spool = SpoolFile(path, lock, max_bytes=max_bytes)
            await spool.open()
            logger.info("outage spool: %s (%d waiting)", path, spool.entries)
            return spool
        index += 1


def _candidates(directory: Path, own: Path) -> list[Path]:
    return sorted(
        path for path in directory.glob("spool-*.sqlite") if path != own and path.stat().st_size > 0
    )


async def adopt_orphans(directory: Path, own: SpoolFile, into: list[SpoolFile]) -> None:
    """Add to `into` the spool files with entries whose process is gone (a crash, or fewer
    workers now). Each is added as soon as it is open, so whoever holds `into` closes it."""
    for path in await asyncio.to_thread(_candidates, directory, own.path):
        if any(path == known.path for known in into):
            continue
        lock = lock_file(path.with_suffix(".lock"))
        if lock is None:
            continue
        orphan = SpoolFile(path, lock, max_bytes=0)
        into.append(orphan)
        await orphan.open()
        if not orphan.entries:
            into.remove(orphan)
            await orphan.close()
