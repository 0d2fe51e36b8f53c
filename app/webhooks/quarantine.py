"""Webhook requests the database answers but will not store, kept aside so nothing waits on them.

A request lands here when even its raw body cannot be stored while the database answers (so it is
no outage), live or while the outage spool drains: the spool moves on to the next entry instead
of retrying this one forever. The quarantine is one SQLite file beside the spool files
(`SPOOL_DIR/quarantine.sqlite`), shared by every process on the host, so the API of any worker
and the `quarantine` command list and replay the same entries. Replaying sends an entry through
the same path as live traffic; an entry leaves the quarantine only once the database holds it.
"""

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from app.core.metrics import SPOOL_QUARANTINED
from app.webhooks import intake
from app.webhooks.ingest import (
    IngestRefused,
    IngestRejected,
    IngestUnavailable,
    IngestWriter,
    RawWebhook,
)
from app.webhooks.spool import RAW_COLUMNS, raw_from_row, raw_row

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    request_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    content_type TEXT,
    client_addr TEXT,
    body BLOB NOT NULL,
    body_size INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
)
"""

ReplayOutcome = Literal["stored", "duplicate", "unparsed", "too_large", "still refused"]


@dataclass(frozen=True, slots=True)
class QuarantinedRequest:
    request_id: uuid.UUID
    kind: str
    received_at: datetime
    body_size: int
    reason: str
    quarantined_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class ReplayResult:
    request_id: uuid.UUID
    outcome: ReplayOutcome
    detail: str | None = None


class Quarantine:
    def __init__(self, directory: Path, *, max_body_bytes: int) -> None:
        self.path = directory / "quarantine.sqlite"
        self._max_body_bytes = max_body_bytes

    @contextlib.contextmanager
    def _db(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        if not create and not self.path.exists():
            yield None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            yield db
        finally:
            db.close()

    async def add(self, raw: RawWebhook, reason: str) -> None:
        """Keep `raw` with the reason it could not be stored; durable when this returns."""
        await asyncio.to_thread(self._add, raw, reason)
        await self.publish()

    def _add(self, raw: RawWebhook, reason: str) -> None:
        with self._db(create=True) as db:
            assert db is not None
            db.execute(
                f"INSERT INTO quarantine ({RAW_COLUMNS}, reason, quarantined_at) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE "
                "SET reason = excluded.reason, attempts = attempts + 1",
                (
                    *raw_row(raw),
                    reason,
                    datetime.now(UTC).isoformat(),
                ),
            )

    async def entries(self, limit: int = 1000) -> list[QuarantinedRequest]:
        """The oldest `limit` entries, without their bodies."""
        return await asyncio.to_thread(self._entries, limit)

    def _entries(self, limit: int) -> list[QuarantinedRequest]:
        with self._db(create=False) as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT request_id, kind, received_at, body_size, reason, quarantined_at, "
                "attempts FROM quarantine ORDER BY received_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            QuarantinedRequest(
                uuid.UUID(row[0]),
                row[1],
                datetime.fromisoformat(row[2]),
                int(row[3]),
                row[4],
                datetime.fromisoformat(row[5]),
                int(row[6]),
            )
            for row in rows
        ]

    async def count(self) -> int:
        return await asyncio.to_thread(self._count)

    def _count(self) -> int:
        with self._db(create=False) as db:
            if db is None:
                return 0
            return int(db.execute("SELECT count(*) FROM quarantine").fetchone()[0])

    async def publish(self) -> int:
        count = await self.count()
        SPOOL_QUARANTINED.set(count)
        return count

    def _raw(self, request_ids: Sequence[uuid.UUID] | None) -> list[RawWebhook]:
        with self._db(create=False) as db:
            if db is None:
                return []
            query = f"SELECT {RAW_COLUMNS} FROM quarantine ORDER BY received_at"  # noqa: S608
            rows = db.execute(query).fetchall()
        wanted = None if request_ids is None else {str(i) for i in request_ids}
        return [raw_from_row(row) for row in rows if wanted is None or row[0] in wanted]

    def _remove(self, request_id: uuid.UUID) -> None:
        with self._db(create=False) as db:
            if db is not None:
                db.execute("DELETE FROM quarantine WHERE request_id = ?", (str(request_id),))

    async def replay(
        self, writer: IngestWriter, request_ids: Sequence[uuid.UUID] | None = None
    ) -> list[ReplayResult]:
        """Store the entries (all, or those named) through the live path, oldest first.
        Stops at the first one the database cannot take for being unreachable (IngestUnavailable
        raised, nothing lost)."""
        results: list[ReplayResult] = []
        for raw in await asyncio.to_thread(self._raw, request_ids):
            examined = intake.examine(raw, self._max_body_bytes)
            try:
                stored = await intake.store(writer, raw, examined)
                outcome: ReplayOutcome = stored.outcome
                detail = examined.error
            except IngestRefused as exc:
                outcome, detail = "unparsed", exc.message
            except IngestRejected as exc:
                await self.add(raw, exc.message)
                results.append(ReplayResult(raw.id, "still refused", exc.message))
                continue
            except IngestUnavailable:
                await self.publish()
                raise
            await asyncio.to_thread(self._remove, raw.id)
            results.append(ReplayResult(raw.id, outcome, detail))
        await self.publish()
        return results
