"""`Idempotency-Key` for the send endpoints.

A request with a key first claims it: an INSERT of a "pending" row that the unique (key, endpoint)
constraint lets only one request win, committed before Mobivate is called. The winner sends and
stores its response on the row. A repeat with the same key and the same body gets that stored
response without anything being sent again; while the first is still in flight the repeat waits
for it (polling, up to `IDEMPOTENCY_WAIT_SECONDS`) and then gets `409` "still in progress". The
same key with a different body is a `422`. Keys expire `IDEMPOTENCY_TTL_HOURS` after their first
use (expired rows are deleted when the next key is claimed).

Requests refused by our own validation never claim a key, so they can be corrected and resent
with the same key. Every response produced after the claim is stored, errors included: once
Mobivate may have been called, repeating the request must not send again.
"""

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.errors import ServiceError
from app.core.tables import IDEMPOTENCY_KEYS as KEYS

logger = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer of a send endpoint, as returned and as stored for repeats."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    id: int


@dataclass(slots=True)
class Attempt:
    """Set `mobivate_called` before calling Mobivate: from then on the key is never given up.
    Work that only stores something (a queued batch) settles the key in its own transaction
    instead (`settle_in`), so a key is never given up once what it stands for has committed."""

    mobivate_called: bool = False
    claim: Claim | None = None

    async def settle_in(self, conn: AsyncConnection, reply: Reply) -> None:
        """Store `reply` for the key in `conn`'s transaction: it commits with the work or not
        at all."""
        if self.claim is not None:
            await mark_done(conn, self.claim, reply)


Work = Callable[[Attempt], Awaitable[Reply]]

_OUTCOME_UNKNOWN = Reply(
    500,
    {
        "detail": "this request failed after Mobivate was called, so it may have sent the "
        "message; repeating it with this Idempotency-Key sends nothing: look the message up "
        "with GET /api/v1/messages/{id} or GET /api/v1/batches/{id}, or use a new key"
    },
)


class IdempotencyError(ServiceError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail, status=status)


def request_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_key(key: str) -> str:
    if not key.strip():
        raise IdempotencyError(422, "Idempotency-Key: must not be blank")
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyError(422, f"Idempotency-Key: at most {MAX_KEY_LENGTH} characters")
    if not key.isprintable() or not key.isascii():
        raise IdempotencyError(422, "Idempotency-Key: use printable ASCII characters only")
    return key


class Idempotency:
    def __init__(
        self, engine: AsyncEngine, *, ttl_hours: float, wait_seconds: float, poll_seconds: float
    ) -> None:
        self._engine = engine
        self._ttl = timedelta(hours=ttl_hours)
        self._wait = wait_seconds
        self._poll = poll_seconds

    async def run_once(self, key: str | None, endpoint: str, body: Any, work: Work) -> Reply:
        """Do `work` unless a request with this key already did; store what it answered."""
        if key is None:
            return await work(Attempt())
        claimed = await self.claim(key, endpoint, request_hash(body))
        if isinstance(claimed, Reply):
            return claimed
        attempt = Attempt(claim=claimed)
        try:
            reply = await work(attempt)
        except BaseException:
            await self._abandon(claimed, attempt)
            raise
        await self.complete(claimed, reply)
        return reply

    async def _abandon(self, claim: Claim, attempt: Attempt) -> None:
        try:
            if attempt.mobivate_called:
                await self.complete(claim, _OUTCOME_UNKNOWN)
            else:
                await self.release(claim)
        except Exception:
            logger.exception("could not settle Idempotency-Key claim %d", claim.id)

    async def claim(self, key: str, endpoint: str, digest: str) -> Claim | Reply:
        """Claim `key`, or return the response already stored for it."""
        deadline = time.monotonic() + self._wait
        while True:
            claimed = await self._try_claim(key, endpoint, digest)
            if claimed is not None:
                return claimed
            async with self._engine.connect() as conn:
                row = (
                    await conn.execute(
                        select(
                            KEYS.c.request_hash,
                            KEYS.c.state,
                            KEYS.c.response_status,
                            KEYS.c.response_body,
                        ).where(KEYS.c.key == key, KEYS.c.endpoint == endpoint)
                    )
                ).first()
            if row is None:
                continue  # expired and deleted in between: claim again
            if row.request_hash != digest:
                raise IdempotencyError(
                    422,
                    "Idempotency-Key was already used with a different request body; "
                    "use a new key for a different request",
                )
            if row.state == "done":
                return Reply(row.response_status, row.response_body, replayed=True)
            if time.monotonic() >= deadline:
                raise IdempotencyError(
                    409,
                    "a request with this Idempotency-Key is still in progress; "
                    "retry later to get its response",
                )
            await asyncio.sleep(self._poll)

    async def _try_claim(self, key: str, endpoint: str, digest: str) -> Claim | None:
        now = utcnow()
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(KEYS)
            .values(
                key=key, endpoint=endpoint, request_hash=digest, state="pending", created_at=now
            )
            .on_conflict_do_nothing(index_elements=["key", "endpoint"])
            .returning(KEYS.c.id)
        )
        async with self._engine.begin() as conn:
            await conn.execute(delete(KEYS).where(KEYS.c.created_at < now - self._ttl))
            claimed = (await conn.execute(statement)).scalar()
        return None if claimed is None else Claim(claimed)

    async def complete(self, claim: Claim, reply: Reply) -> None:
        async with self._engine.begin() as conn:
            await mark_done(conn, claim, reply)

    async def release(self, claim: Claim) -> None:
        """Give the key up (only when nothing was sent and nothing settled it), so the request
        can be repeated."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(KEYS).where(KEYS.c.id == claim.id, KEYS.c.state == "pending"))


async def mark_done(conn: AsyncConnection, claim: Claim, reply: Reply) -> None:
    """Store the answer of a claimed key, unless it already has one."""
    await conn.execute(
        update(KEYS)
        .where(KEYS.c.id == claim.id, KEYS.c.state == "pending")
        .values(
            state="done",
            response_status=reply.status,
            response_body=reply.body,
            completed_at=utcnow(),
        )
    )
