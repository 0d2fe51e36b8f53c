"""Telling Mobivate where to send receipts, incoming messages and clicks.

At startup, when MOBIVATE_API_KEY and PUBLIC_BASE_URL are set and REGISTER_WEBHOOKS is not false,
a background task registers `{PUBLIC_BASE_URL}/webhooks/{secret}/receipt|incoming|click` with
`POST /webhooks/receipt|incoming|click`, retrying until Mobivate accepts each one. The outcome of
each kind is kept in `webhook_registrations` (see app/registration/store.py).

Several replicas starting at once share the work through that table. An instance calls Mobivate
for a kind only after it has claimed the kind's row with one conditional UPDATE, which succeeds
only when all of these hold:

1. the kind is not freshly registered: registered with this same URL less than
   REGISTRATION_FRESH_SECONDS ago (0: every instance registers at every start);
2. no attempt is in flight: a claim holds the row for MOBIVATE_TIMEOUT_SECONDS + 5 s, so an
   instance that dies mid-call blocks the others only that long;
3. no backoff wait applies: after a failure nobody retries before `next_attempt_at`, unless that
   failure was recorded before the instance started (a restart may carry a corrected key or URL,
   so it tries at once).

The UPDATE is atomic on both backends (PostgreSQL re-checks its WHERE after a concurrent writer
commits; SQLite has one writer at a time), so among replicas starting together exactly one calls
Mobivate per kind and the others, polling every REGISTRATION_BACKOFF_INITIAL_SECONDS, find it
fresh and stop. Instance clocks are assumed to be in step (NTP).

Backoff: after the n-th failed attempt in a row, wait min(MAX, INITIAL * 2^(n-1)) scaled by a
random factor in [0.5, 1]. A refused key (401, or 403 about a permission) is logged at ERROR once
per process; every kind not yet registered is then marked `unauthorized` (the others without a
call, since the same key would be refused) and retried only after REGISTRATION_BACKOFF_MAX_SECONDS.
"""

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.background import Worker
from app.core.db import utcnow
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateRefused
from app.mobivate.vocabulary import WebhookKind
from app.registration import store
from app.registration.attempt import Outcome, attempt, record
from app.registration.status import (
    RegistrationPlan,
    mask_webhook_url,
    plan_registration,
)

logger = logging.getLogger(__name__)

_LEASE_MARGIN_SECONDS = 5.0


class WebhookRegistrar:
    """Registers the three kinds in the background until each is registered (by any instance)."""

    def __init__(
        self,
        engine: AsyncEngine,
        client: MobivateClient,
        targets: dict[WebhookKind, str],
        account: str,
        *,
        backoff_initial: float,
        backoff_max: float,
        fresh_seconds: float,
        lease_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._client = client
        self._targets = targets
        self._account = account
        self._initial = backoff_initial
        self._max = max(backoff_max, backoff_initial)
        self._fresh = timedelta(seconds=fresh_seconds)
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._started_at = clock()
        self._done: set[WebhookKind] = set()
        self._auth_error_logged = False
        self._rows_ready = False

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: AsyncEngine, client: MobivateClient, plan: RegistrationPlan
    ) -> "WebhookRegistrar":
        assert plan.account is not None
        return cls(
            engine,
            client,
            plan.targets,
            plan.account,
            backoff_initial=settings.registration_backoff_initial_seconds,
            backoff_max=settings.registration_backoff_max_seconds,
            fresh_seconds=settings.registration_fresh_seconds,
            lease_seconds=settings.mobivate_timeout_seconds + _LEASE_MARGIN_SECONDS,
        )

    def worker(self) -> Worker:
        """The background loop: a round every time one is due, until every kind is done."""
        return Worker("register-webhooks", self.run_round, on_error=self._on_error)

    async def _on_error(self, exc: Exception, failures: int) -> float:
        """The database may be down: keep trying, never crash the app."""
        wait = self.backoff(failures)
        logger.error("webhook registration round failed; retrying in %.1f s", wait, exc_info=exc)
        return wait

    async def run_round(self) -> float | None:
        """Attempt every kind that is due; seconds until the next round, None when all are done."""
        if not self._rows_ready:
            await store.ensure_rows(self._engine, self._targets, self._clock())
            self._rows_ready = True
        waits: list[float] = []
        refusal: Outcome | None = None
        for kind, url in self._targets.items():
            if kind in self._done:
                continue
            now = self._clock()
            attempt_number = await store.claim(
                self._engine,
                kind,
                url,
                self._account,
                now=now,
                lease_until=now + self._lease,
                started_at=self._started_at,
                fresh_since=now - self._fresh,
            )
            if attempt_number is None:
                wait = await self._wait_for_other(kind, url)
            else:
                if refusal is None:
                    outcome = await attempt(self._client, kind, url)
                else:
                    outcome = Outcome(
                        kind, url, "unauthorized", refusal.status_code, refusal.message
                    )
                if outcome.state == "unauthorized":
                    refusal = outcome
                wait = await self._settle(outcome, attempt_number)
            if wait is not None:
                waits.append(wait)
        if len(self._done) == len(self._targets):
            logger.info("webhook registration complete: %s", ", ".join(self._targets))
            return None
        return max(0.0, min(waits, default=self._initial))

    async def _settle(self, outcome: Outcome, attempt_number: int) -> float | None:
        """Record the outcome and log it; the seconds to wait before trying this kind again
        (None: registered)."""
        masked = mask_webhook_url(outcome.url)
        if outcome.state == "registered":
            await record(self._engine, outcome, None)
            self._done.add(outcome.kind)
            logger.info(
                "registered the %s webhook with Mobivate: %s (attempt %d; Mobivate: %s)",
                outcome.kind.value,
                masked,
                attempt_number,
                outcome.message,
            )
            return None
        delay = self._max if outcome.state == "unauthorized" else self.backoff(attempt_number)
        await record(self._engine, outcome, self._clock() + timedelta(seconds=delay))
        self._log_failure(outcome, attempt_number, delay)
        return delay

    def _log_failure(self, outcome: Outcome, attempt_number: int, delay: float) -> None:
        if outcome.state == "unauthorized":
            if outcome.error is None:
                return
            level = logging.INFO if self._auth_error_logged else logging.ERROR
            self._auth_error_logged = True
            logger.log(
                level,
                "Mobivate refused the API key (HTTP %s: %s) while registering webhooks: check "
                "MOBIVATE_API_KEY (`mobivate-hooks check-mobivate`); retrying in %.0f s",
                outcome.status_code,
                outcome.message,
                delay,
            )
            return
        level = logging.ERROR if isinstance(outcome.error, MobivateRefused) else logging.WARNING
        logger.log(
            level,
            "registering the %s webhook %s failed (attempt %d): %s; retrying in %.1f s",
            outcome.kind.value,
            mask_webhook_url(outcome.url),
            attempt_number,
            outcome.error or outcome.message,
            delay,
        )

    async def _wait_for_other(self, kind: WebhookKind, url: str) -> float | None:
        """Another instance holds the kind, it is backing off, or it is freshly registered
        (None)."""
        row = await store.load(self._engine, kind)
        now = self._clock()
        if row is None:
            return self._initial
        if row.is_fresh(url, self._account, now - self._fresh):
            self._done.add(kind)
            logger.info(
                "the %s webhook is already registered (%s at %s); not registering it again",
                kind.value,
                mask_webhook_url(url),
                row.last_success_at.isoformat() if row.last_success_at else "?",
            )
            return None
        if row.claimed_until is not None and row.claimed_until > now:
            return min(self._initial, (row.claimed_until - now).total_seconds())
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            return min(self._max, (row.next_attempt_at - now).total_seconds())
        return self._initial

    def backoff(self, attempt_number: int) -> float:
        capped = min(self._max, self._initial * 2.0 ** min(attempt_number - 1, 60))
        return capped * random.uniform(0.5, 1.0)


def start_registration(
    settings: Settings, engine: AsyncEngine, client: MobivateClient | None, secret: str
) -> Worker | None:
    """Start registering in the background, or log plainly why not (None)."""
    plan = plan_registration(settings, secret)
    if not plan.enabled or client is None:
        level = logging.INFO if not settings.register_webhooks else logging.WARNING
        logger.log(
            level,
            "not registering webhooks with Mobivate: %s; Mobivate sends nothing here until "
            "the URLs are registered (`mobivate-hooks register-webhooks`, or by hand)",
            plan.reason,
        )
        return None
    if settings.public_base_url and settings.public_base_url.startswith("http://"):
        logger.warning(
            "PUBLIC_BASE_URL is plain http: the webhook secret will cross the network unencrypted"
        )
    worker = WebhookRegistrar.from_settings(settings, engine, client, plan).worker()
    logger.info("registering webhooks with Mobivate in the background")
    worker.start()
    return worker
