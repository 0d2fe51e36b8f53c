"""Sending the deliveries: at least once, signed, retried for about a day.

- A worker claims due deliveries of enabled subscriptions in a short transaction that sets a
  lease (`claimed_until`); other workers and replicas skip them (PostgreSQL: `FOR UPDATE SKIP
  LOCKED`; on SQLite the claiming UPDATE is conditional and the writer lock decides). A worker
  that dies mid-delivery leaves the lease to expire and the delivery is sent again. A result is
  written only by the worker holding the claim (matched on the attempt number it set).
- Any `2xx` is delivered. Anything else (another status, a timeout, a refused connection) is
  retried: the first retry after SUBSCRIPTION_BACKOFF_INITIAL_SECONDS, doubling up to
  SUBSCRIPTION_BACKOFF_MAX_SECONDS, each wait scaled by a random 50-100 %. A delivery still
  failing SUBSCRIPTION_RETRY_HOURS after it was queued fails for good and disables its
  subscription with the reason; its other deliveries wait, pending, until it is enabled again.
  A target that now resolves to a private address disables the subscription at once.
- Every attempt is recorded: outcome, HTTP status, latency, the first 500 characters of the
  response and the error.
- Stored webhook events wake the worker at once only while the last look found an enabled
  subscription (`wake_for_events`): without one the trigger writes no delivery, and waking for
  every ingest transaction cost more round trips than the transaction itself. Deliveries for a
  subscription created since go out at the next poll (SUBSCRIPTION_POLL_INTERVAL_SECONDS).
- No order is kept between deliveries, even of one subscription: a batch is sent concurrently
  and a retried delivery is overtaken by later ones, so one slow or failing event never holds
  the others back. Receivers order by `timestamp` and the item's own times (a status change
  carries `previous_status`).
"""

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import orjson
from sqlalchemy import delete, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.background import Worker
from app.core.db import DATABASE_ERRORS, utcnow
from app.core.metrics import SUBSCRIPTION_DELIVERIES
from app.core.tables import SUBSCRIPTION_ATTEMPTS as ATTEMPTS
from app.core.tables import SUBSCRIPTION_DELIVERIES as DELIVERIES
from app.core.tables import SUBSCRIPTIONS
from app.core.times import ORJSON_UTC
from app.subscriptions import signing
from app.subscriptions.payloads import Event, Filter, event_for
from app.subscriptions.prune import prune_settled
from app.subscriptions.targets import TargetRefused, resolve

logger = logging.getLogger(__name__)

BATCH_SIZE = 50
PRUNE_EVERY_SECONDS = 600.0
EXCERPT_CHARS = 500
EXCERPT_BYTES = 4 * EXCERPT_CHARS


# What reading a delivery gave: its body; False when its filter drops it; None when the event is
# gone; a string saying why it could not be read.
Read = Event | Literal[False] | str | None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    subscription_id: int
    feed_id: int
    event_type: str
    attempts: int
    tries: int
    queued_at: datetime
    url: str
    secrets: tuple[str, ...]
    wanted: Filter


@dataclass(slots=True)
class Outcome:
    """What became of one claimed delivery."""

    claimed: Claimed
    delivery: dict[str, Any] | None  # values for its row; None: the filter dropped it
    attempt: dict[str, Any] | None = None
    disable_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    backoff_initial: float
    backoff_max: float
    retry_period: timedelta

    def backoff(self, tries: int) -> float:
        capped = min(self.backoff_max, self.backoff_initial * 2.0 ** min(tries - 1, 60))
        return capped * random.uniform(0.5, 1.0)


class SubscriptionWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        http: httpx.AsyncClient,
        schedule: Schedule,
        *,
        poll_interval: float = 1.0,
        lease_seconds: float = 60.0,
        allow_private: bool = False,
    ) -> None:
        self._engine = engine
        self._http = http
        self._schedule = schedule
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease_seconds)
        self._allow_private = allow_private
        self._next_prune = 0.0
        self.worker = Worker("subscriptions", self._step, on_error=self._on_error)
        # Whether the last look found an enabled subscription (until then, assume one).
        self.subscribed = True
        self.runs = 0  # looks for deliveries completed

    def wake(self) -> None:
        self.worker.wake()

    def wake_for_events(self) -> None:
        """Newly stored events may have deliveries: wake, unless no subscription was enabled."""
        if self.subscribed:
            self.worker.wake()

    async def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    async def _step(self) -> float:
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            await prune_settled(self._engine)
        claimed = await self.run_once()
        self.runs += 1
        return 0.0 if claimed else self._poll_interval

    async def _on_error(self, exc: Exception, failures: int) -> float:
        if isinstance(exc, DATABASE_ERRORS):
            logger.warning("subscriptions: database unavailable: %s", type(exc).__name__)
        else:
            logger.exception("subscriptions: unexpected failure", exc_info=exc)
        return self._poll_interval

    async def run_once(self) -> int:
        """Claim and send one batch; the number of deliveries claimed."""
        claimed = await self._claim()
        if claimed:
            read = await self._read(claimed)
            outcomes = await asyncio.gather(
                *(
                    self._send(delivery, event)
                    for delivery, event in zip(claimed, read, strict=True)
                )
            )
            await self._record(outcomes)
        return len(claimed)

    async def _read(self, claimed: Sequence[Claimed]) -> list[Read]:
        """Each delivery's body, read on one connection (a string: why it could not be)."""
        read: list[Read] = []
        try:
            async with self._engine.connect() as conn:
                for delivery in claimed:
                    wanted = delivery.wanted
                    read.append(
                        await event_for(conn, delivery.feed_id, delivery.event_type, wanted)
                    )
        except Exception as exc:  # the database is checked again at the next claim
            logger.warning("subscriptions: cannot read deliveries: %s", type(exc).__name__)
            read.extend(f"reading the event: {exc}" for _ in claimed[len(read) :])
        return read

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        claimable = (
            DELIVERIES.c.state == "pending",
            or_(DELIVERIES.c.claimed_until.is_(None), DELIVERIES.c.claimed_until < now),
        )
        due = (
            select(DELIVERIES.c.id)
            .join(SUBSCRIPTIONS, SUBSCRIPTIONS.c.id == DELIVERIES.c.subscription_id)
            .where(*claimable, DELIVERIES.c.next_attempt_at <= now, SUBSCRIPTIONS.c.enabled)
            .order_by(DELIVERIES.c.id)
            .limit(BATCH_SIZE)
        )
        async with self._engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                due = due.with_for_update(skip_locked=True, of=DELIVERIES)
            ids = list((await conn.scalars(due)).all())
            if not ids:
                enabled = select(exists().where(SUBSCRIPTIONS.c.enabled))
                self.subscribed = bool(await conn.scalar(enabled))
                return []
            self.subscribed = True
            recheck = () if postgres else claimable
            rows = await conn.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id.in_(ids), *recheck)
                .values(
                    claimed_until=now + self._lease,
                    attempts=DELIVERIES.c.attempts + 1,
                    tries=DELIVERIES.c.tries + 1,
                )
                .returning(
                    DELIVERIES.c.id,
                    DELIVERIES.c.subscription_id,
                    DELIVERIES.c.feed_id,
                    DELIVERIES.c.event_type,
                    DELIVERIES.c.attempts,
                    DELIVERIES.c.tries,
                    DELIVERIES.c.queued_at,
                )
            )
            claimed = rows.all()
            subscriptions = {
                row.id: row
                for row in await conn.execute(
                    select(SUBSCRIPTIONS).where(
                        SUBSCRIPTIONS.c.id.in_({row.subscription_id for row in claimed})
                    )
                )
            }
        return sorted(
            (
                _claimed(row, subscriptions[row.subscription_id], now)
                for row in claimed
                if row.subscription_id in subscriptions
            ),
            key=lambda delivery: delivery.id,
        )

    async def _send(self, claimed: Claimed, event: Read) -> Outcome:
        if isinstance(event, str):
            return self._retry(claimed, None, 0.0, None, event)
        if event is False:
            return Outcome(claimed, None)
        if event is None:
            reason = "the event is no longer kept (EVENT_FEED_RETENTION_HOURS)"
            return Outcome(
                claimed, _failed(reason), _attempt(claimed, "failed", None, 0, None, reason)
            )
        return await self._post(claimed, event)

    async def _post(self, claimed: Claimed, event: Event) -> Outcome:
        started = time.perf_counter()
        try:
            target = await resolve(claimed.url, allow_private=self._allow_private)
        except TargetRefused as exc:
            attempt = _attempt(claimed, "failed", None, 0.0, None, exc.detail)
            return Outcome(claimed, _failed(exc.detail), attempt, exc.detail)
        body = orjson.dumps(event.body, option=ORJSON_UTC).decode()
        headers = signing.headers(f"msg_{claimed.id}", utcnow(), body, claimed.secrets)
        headers["host"] = _host_header(target.url)
        headers["accept-encoding"] = "identity"  # the excerpt is read raw, never inflated
        try:
            # The whole exchange within the lease, and no more of the answer than the excerpt:
            # a receiver that drips or floods its answer holds nothing here for long.
            async with asyncio.timeout(self._lease.total_seconds() * 0.8):
                request = self._http.stream(
                    "POST",
                    target.connect_url(),
                    content=body.encode(),
                    headers=headers,
                    extensions={"sni_hostname": target.host},
                )
                async with request as response:
                    head = await _first_bytes(response, EXCERPT_BYTES)
        except (httpx.HTTPError, TimeoutError) as exc:
            latency = (time.perf_counter() - started) * 1000
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return self._retry(claimed, None, latency, None, error)
        latency = (time.perf_counter() - started) * 1000
        excerpt = head.decode("utf-8", "replace")[:EXCERPT_CHARS]
        if response.is_success:
            delivered = {
                "state": "delivered",
                "delivered_at": utcnow(),
                "claimed_until": None,
                "last_error": None,
            }
            return Outcome(
                claimed,
                delivered,
                _attempt(claimed, "delivered", response.status_code, latency, excerpt, None),
            )
        return self._retry(claimed, response.status_code, latency, excerpt, None)

    def _retry(
        self,
        claimed: Claimed,
        status: int | None,
        latency: float,
        excerpt: str | None,
        error: str | None,
    ) -> Outcome:
        why = error or f"HTTP {status}"
        if utcnow() - claimed.queued_at >= self._schedule.retry_period:
            hours = self._schedule.retry_period.total_seconds() / 3600
            reason = f"deliveries kept failing for {hours:g} h; the last: {why}"
            attempt = _attempt(claimed, "failed", status, latency, excerpt, error)
            return Outcome(claimed, _failed(why), attempt, reason)
        wait = self._schedule.backoff(claimed.tries)
        logger.info(
            "subscriptions: delivery %d not taken (%s); retry in %.1fs", claimed.id, why, wait
        )
        values = {
            "next_attempt_at": utcnow() + timedelta(seconds=wait),
            "claimed_until": None,
            "last_error": why,
        }
        return Outcome(claimed, values, _attempt(claimed, "retry", status, latency, excerpt, error))

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        async with self._engine.begin() as conn:
            for outcome in outcomes:
                claim = (
                    DELIVERIES.c.id == outcome.claimed.id,
                    DELIVERIES.c.attempts == outcome.claimed.attempts,
                )
                if outcome.delivery is None:
                    await conn.execute(delete(DELIVERIES).where(*claim))
                    continue
                changed = await conn.execute(
                    update(DELIVERIES).where(*claim).values(outcome.delivery)
                )
                if not changed.rowcount:
                    continue  # the lease ran out and another worker has it now
                if outcome.attempt is not None:
                    await conn.execute(insert(ATTEMPTS).values(outcome.attempt))
                    SUBSCRIPTION_DELIVERIES.labels(outcome.attempt["outcome"]).inc()
                if outcome.disable_reason is not None:
                    await disable(conn, outcome.claimed.subscription_id, outcome.disable_reason)


async def disable(conn: Any, subscription_id: int, reason: str) -> None:
    now = utcnow()
    disabled = await conn.execute(
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.id == subscription_id, SUBSCRIPTIONS.c.enabled)
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
    )
    if disabled.rowcount:
        logger.warning("subscriptions: subscription %d disabled: %s", subscription_id, reason)


def _claimed(row: Any, subscription: Any, now: datetime) -> Claimed:
    secrets = [subscription.secret]
    until = subscription.previous_secret_until
    if subscription.previous_secret and until is not None and until > now:
        secrets.append(subscription.previous_secret)
    return Claimed(
        id=row.id,
        subscription_id=row.subscription_id,
        feed_id=row.feed_id,
        event_type=row.event_type,
        attempts=row.attempts,
        tries=row.tries,
        queued_at=row.queued_at,
        url=subscription.url,
        secrets=tuple(secrets),
        wanted=Filter(subscription.batch_id, subscription.originator),
    )


def _failed(reason: str) -> dict[str, Any]:
    return {"state": "failed", "claimed_until": None, "last_error": reason}


def _attempt(
    claimed: Claimed,
    outcome: str,
    status: int | None,
    latency_ms: float,
    excerpt: str | None,
    error: str | None,
) -> dict[str, Any]:
    return {
        "subscription_id": claimed.subscription_id,
        "delivery_id": claimed.id,
        "attempted_at": utcnow(),
        "outcome": outcome,
        "status_code": status,
        "latency_ms": round(latency_ms, 3),
        "response_excerpt": excerpt,
        "error": error,
    }


async def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    head = b""
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


def _host_header(url: str) -> str:
    return httpx.URL(url).netloc.decode()
