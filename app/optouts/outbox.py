"""Delivering the outbox: opt-out changes pushed to Mobivate until Mobivate accepts them.

Two destinations: Mobivate's opt-out list (`optout_add`, `optout_delete`), and, with
OPTOUT_CONTACTS_PROXY, its contacts proxy (`contacts_create`, `contacts_delete`,
`app.mobivate.contacts`). Each push goes to one destination and keeps its own state, so one
destination failing never holds back the other.

Rules:
- Per number and destination, only the oldest push not yet delivered may be attempted: a push
  waits while an older one for the same number and destination is pending (in flight or backing
  off), so STOP then START reach Mobivate in that order. A push that failed for good does not
  hold back the ones after it. A push whose destination is not configured waits.
- A worker claims pushes in a short transaction that sets a lease (`claimed_until`); other
  workers skip claimed rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`; the claiming UPDATE is
  conditional, so SQLite processes are safe too). A worker that dies mid-delivery leaves its
  lease to expire, after which the push is retried. A result is written only by the worker
  holding the claim (matched on the attempt number it set).
- Mobivate unreachable, timing out, 5xx or 429: retried with capped exponential backoff and
  jitter. Refused the API key (401/403): kept pending, retried after the maximum backoff, logged
  at ERROR. Refused the push (other 4xx): failed for good, with Mobivate's status and message
  kept. Deleting a number Mobivate does not have (404) counts as delivered.
"""

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.background import Worker
from app.core.db import DATABASE_ERRORS, utcnow
from app.core.phone import mask_msisdn, mobivate_digits
from app.core.tables import OUTBOX_MESSAGES as OUTBOX
from app.mobivate.client import MobivateClient
from app.mobivate.contacts import ContactsProxyClient
from app.mobivate.errors import MobivateAuthError, MobivateRefused, MobivateUnavailable
from app.optouts.registry import PUSH_OPERATIONS

logger = logging.getLogger(__name__)

BATCH_SIZE = 20
# Due pushes looked at per query, and queries per claim, when looking for BATCH_SIZE that are
# the oldest pending push of their number (younger ones wait for it).
WINDOW = 100
MAX_WINDOWS = 10
_CONTACTS_OPERATIONS = PUSH_OPERATIONS["contacts"]
# The destination of a push, for the per-number order.
_DESTINATION = case((OUTBOX.c.operation.in_(_CONTACTS_OPERATIONS), "contacts"), else_="optouts")


class NotConfigured(Exception):
    """The push's destination is not configured in this process."""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    operation: str
    msisdn: str
    attempts: int


class OutboxWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        mobivate: MobivateClient | None,
        *,
        poll_interval: float = 5.0,
        backoff_initial: float = 2.0,
        backoff_max: float = 600.0,
        lease_seconds: float = 120.0,
        stop_grace_seconds: float = 5.0,
        contacts: ContactsProxyClient | None = None,
    ) -> None:
        self._engine = engine
        self._mobivate = mobivate
        self._contacts = contacts
        self._poll_interval = poll_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._lease = timedelta(seconds=lease_seconds)
        self.worker = Worker(
            "outbox", self._step, on_error=self._on_error, stop_grace=stop_grace_seconds
        )

    @property
    def pushes_to_contacts(self) -> bool:
        """Whether changes recorded by this process are also pushed to the contacts proxy."""
        return self._contacts is not None

    @property
    def _configured(self) -> bool:
        return self._mobivate is not None or self._contacts is not None

    def wake(self) -> None:
        """Look for work now rather than at the next poll (call after a commit that enqueued)."""
        self.worker.wake()

    async def start(self) -> None:
        if self._mobivate is None:
            logger.warning(
                "MOBIVATE_API_KEY is not set: opt-out changes wait in the outbox until it is"
            )
        if self._configured:
            self.worker.start()

    async def stop(self) -> None:
        """Let the delivery in progress finish (for a few seconds at most), then stop."""
        await self.worker.stop()

    async def deliver_due(self) -> int:
        """Deliver every push that is due now, batch after batch, and return how many were
        attempted: for a command that records opt-out changes and exits (no worker runs there).
        A push that fails waits for its backoff, so this ends even while Mobivate is down."""
        if not self._configured:
            return 0
        attempted = 0
        while claimed := await self.run_once():
            attempted += claimed
        return attempted

    async def _step(self) -> float:
        return 0.0 if await self.run_once() else self._poll_interval

    async def _on_error(self, exc: Exception, failures: int) -> float:
        if isinstance(exc, DATABASE_ERRORS):
            logger.warning("outbox: database unavailable: %s", type(exc).__name__)
        else:
            logger.exception("outbox: unexpected failure", exc_info=exc)
        return self._poll_interval

    async def run_once(self) -> int:
        """Claim and deliver one batch; the number of pushes claimed."""
        claimed = await self._claim()
        if claimed:
            outcomes = await asyncio.gather(*(self._deliver(push) for push in claimed))
            await self._record(list(zip(claimed, outcomes, strict=True)))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        claimable = (
            OUTBOX.c.state == "pending",
            or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now),
        )
        async with self._engine.begin() as conn:
            ids = await self._heads_due(conn, now, claimable)
            if not ids:
                return []
            # PostgreSQL: the rows are locked by this transaction. SQLite: the writer lock makes
            # this conditional UPDATE the arbiter between processes.
            recheck = claimable if conn.dialect.name != "postgresql" else ()
            rows = await conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(ids), *recheck)
                .values(claimed_until=now + self._lease, attempts=OUTBOX.c.attempts + 1)
                .returning(OUTBOX.c.id, OUTBOX.c.operation, OUTBOX.c.msisdn, OUTBOX.c.attempts)
            )
            return sorted((Claimed(*row) for row in rows), key=lambda push: push.id)

    async def _heads_due(
        self, conn: AsyncConnection, now: datetime, claimable: tuple[Any, ...]
    ) -> list[int]:
        """Up to BATCH_SIZE due pushes, each the oldest pending one of its number, locked.

        Two plain queries per window of due pushes rather than one anti-join: PostgreSQL plans
        the anti-join from table statistics, and after a quiet spell those say "no pending rows",
        which made a burst of 20,000 pushes take minutes per claim.
        """
        heads: list[int] = []
        after = 0
        for _ in range(MAX_WINDOWS):
            due = (
                select(OUTBOX.c.id, OUTBOX.c.msisdn, _DESTINATION.label("destination"))
                .where(*claimable, OUTBOX.c.next_attempt_at <= now, OUTBOX.c.id > after)
                .order_by(OUTBOX.c.id)
                .limit(WINDOW)
            )
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            window = (await conn.execute(due)).all()
            if not window:
                break
            oldest = {
                (msisdn, destination): first
                for msisdn, destination, first in await conn.execute(
                    select(OUTBOX.c.msisdn, _DESTINATION, func.min(OUTBOX.c.id))
                    .where(
                        OUTBOX.c.state == "pending",
                        OUTBOX.c.msisdn.in_({row.msisdn for row in window}),
                        OUTBOX.c.id <= window[-1].id,
                    )
                    .group_by(OUTBOX.c.msisdn, _DESTINATION)
                )
            }
            heads.extend(
                row.id for row in window if oldest.get((row.msisdn, row.destination)) == row.id
            )
            if len(heads) >= BATCH_SIZE or len(window) < WINDOW:
                break
            after = window[-1].id
        return heads[:BATCH_SIZE]

    async def _deliver(self, push: Claimed) -> dict[str, Any]:
        """What to write to the push's row once this attempt is over."""
        masked = mask_msisdn(push.msisdn)
        try:
            async with asyncio.timeout(self._lease.total_seconds() * 0.8):
                note, created = await self._send(push)
        except NotConfigured as exc:
            return self._retry_later(exc, self._backoff_max, None, None)
        except MobivateAuthError as exc:
            logger.error("outbox: Mobivate refused the API key for push %d: %s", push.id, exc)
            return self._retry_later(exc, self._backoff_max, exc.status_code, exc.message)
        except MobivateRefused as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND and push.operation.endswith("_delete"):
                logger.info("outbox: %s was not on Mobivate's opt-out list", masked)
                return self._delivered(exc.status_code, f"not on the opt-out list: {exc.message}")
            logger.warning(
                "outbox: Mobivate refused push %d for %s for good: HTTP %d: %s",
                push.id,
                masked,
                exc.status_code,
                exc.message,
            )
            return {
                "state": "failed",
                "claimed_until": None,
                "last_error": str(exc),
                "mobivate_status": exc.status_code,
                "mobivate_message": exc.message,
            }
        except (MobivateUnavailable, TimeoutError) as exc:
            delay = self._backoff(push.attempts)
            logger.info("outbox: push %d not delivered (%s); retry in %.1fs", push.id, exc, delay)
            status = exc.status_code if isinstance(exc, MobivateUnavailable) else None
            return self._retry_later(exc, delay, status, None)
        except Exception as exc:  # unexpected: keep the push and try again later
            logger.exception("outbox: unexpected failure delivering push %d", push.id)
            return self._retry_later(exc, self._backoff(push.attempts), None, None)
        logger.info("outbox: %s of %s delivered", push.operation, masked)
        result = self._delivered(HTTPStatus.OK, note)
        result["mobivate_created"] = created
        return result

    async def _send(self, push: Claimed) -> tuple[str | None, datetime | None]:
        """Deliver the push to its destination: (Mobivate's note, its record's time)."""
        if push.operation in _CONTACTS_OPERATIONS:
            if self._contacts is None:
                raise NotConfigured("the contacts proxy is not configured (OPTOUT_CONTACTS_PROXY)")
            if push.operation == "contacts_create":
                return await self._contacts.create(mobivate_digits(push.msisdn)), None
            return await self._contacts.delete(mobivate_digits(push.msisdn)), None
        if self._mobivate is None:
            raise NotConfigured("MOBIVATE_API_KEY is not set")
        if push.operation == "optout_add":
            record = await self._mobivate.add_optout(mobivate_digits(push.msisdn))
        else:
            record = await self._mobivate.delete_optout(mobivate_digits(push.msisdn))
        return record.note, record.created

    def _backoff(self, attempts: int) -> float:
        """Doubling from the initial wait, capped, then scaled by a random 50-100 %."""
        capped = min(self._backoff_max, self._backoff_initial * 2.0 ** min(attempts - 1, 60))
        return capped * random.uniform(0.5, 1.0)

    @staticmethod
    def _retry_later(
        exc: BaseException, delay: float, status: int | None, message: str | None
    ) -> dict[str, Any]:
        return {
            "next_attempt_at": utcnow() + timedelta(seconds=delay),
            "claimed_until": None,
            "last_error": str(exc) or type(exc).__name__,
            "mobivate_status": status,
            "mobivate_message": message,
        }

    @staticmethod
    def _delivered(status: int, message: str | None) -> dict[str, Any]:
        return {
            "state": "delivered",
            "delivered_at": utcnow(),
            "claimed_until": None,
            "last_error": None,
            "mobivate_status": status,
            "mobivate_message": message,
        }

    async def _record(self, results: Sequence[tuple[Claimed, dict[str, Any]]]) -> None:
        """One executemany per kind of outcome; a row whose claim was taken over (its lease ran
        out and another worker claimed it again) is left alone."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for push, values in results:
            row = {"push_id": push.id, "claimed_attempts": push.attempts, **values}
            groups.setdefault(tuple(sorted(values)), []).append(row)
        async with self._engine.begin() as conn:
            for columns, rows in groups.items():
                await conn.execute(
                    update(OUTBOX)
                    .where(
                        OUTBOX.c.id == bindparam("push_id"),
                        OUTBOX.c.attempts == bindparam("claimed_attempts"),
                    )
                    .values({name: bindparam(name) for name in columns}),
                    rows,
                )
