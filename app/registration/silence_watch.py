"""The silence alarm: receipts stopped while messages wait for them (RECEIPT_SILENCE_MINUTES).

Every process checks the database (`app.delivery.silence`) a few times per silence period. When
receipts go silent it logs one WARNING, sets the `receipt_silence_alarm` gauge, shows it on
`/readyz`, and registers the webhook URLs with Mobivate again: another system using the same
API key may have registered its own. Replicas share that through the registration claim
(`app.registration.attempt.register_again`): a kind registered by anyone within the last silence
period is not registered again, so while the silence lasts the URLs are registered once per
period, by one replica. When receipts come back it logs that at INFO and clears the alarm.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.background import Worker, log_and_retry_after
from app.core.db import utcnow
from app.core.metrics import RECEIPT_SILENCE_ALARM
from app.core.times import iso_z
from app.delivery.silence import Silence, assess_silence
from app.mobivate.client import MobivateClient
from app.registration.attempt import register_again
from app.registration.status import RegistrationPlan, mask_webhook_url, plan_registration

logger = logging.getLogger(__name__)

_CHECKS_PER_PERIOD = 4
_MAX_CHECK_SECONDS = 60.0
_LEASE_MARGIN_SECONDS = 5.0


@dataclass(slots=True)
class AlarmState:
    silence: Silence | None = None
    raised_at: datetime | None = None
    reregistered_at: datetime | None = None
    reregistration: str | None = None


class SilenceWatch:
    def __init__(
        self,
        engine: AsyncEngine,
        client: MobivateClient | None,
        plan: RegistrationPlan,
        *,
        silence: timedelta,
        lease: timedelta,
    ) -> None:
        self._engine = engine
        self._client = client
        self._plan = plan
        self._silence = silence
        self._lease = lease
        self.state = AlarmState()
        seconds = silence.total_seconds() / _CHECKS_PER_PERIOD
        self._interval = min(_MAX_CHECK_SECONDS, max(0.01, seconds))
        self.worker = Worker(
            "receipt-silence",
            self.check,
            on_error=log_and_retry_after(self._interval, "receipt silence check failed"),
            first_run_after=self._interval,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: AsyncEngine, client: MobivateClient | None, secret: str
    ) -> "SilenceWatch":
        return cls(
            engine,
            client,
            plan_registration(settings, secret),
            silence=timedelta(minutes=settings.receipt_silence_minutes),
            lease=timedelta(seconds=settings.mobivate_timeout_seconds + _LEASE_MARGIN_SECONDS),
        )

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        RECEIPT_SILENCE_ALARM.set(0)

    async def check(self) -> float:
        now = utcnow()
        silence = await assess_silence(self._engine, self._silence, now)
        self.state.silence = silence
        if not silence.silent:
            if self.state.raised_at is not None:
                logger.info("delivery receipts arrive again; the silence alarm is cleared")
            self.state.raised_at = None
            RECEIPT_SILENCE_ALARM.set(0)
            return self._interval
        RECEIPT_SILENCE_ALARM.set(1)
        if self.state.raised_at is None:
            self.state.raised_at = now
            logger.warning("%s; %s", describe(silence, self._silence), self._action())
        await self._register_again(now)
        return self._interval

    def _action(self) -> str:
        if self._plan.enabled and self._client is not None:
            return (
                "registering the webhook URLs with Mobivate again: another system using the "
                "same API key may have replaced them"
            )
        return (
            f"not registering the webhook URLs again ({self._plan.reason}): check them at "
            "Mobivate (`mobivate-hooks register-webhooks`)"
        )

    async def _register_again(self, now: datetime) -> None:
        if not self._plan.enabled or self._client is None or self._plan.account is None:
            return
        outcomes = await register_again(
            self._engine,
            self._client,
            self._plan.targets,
            self._plan.account,
            unless_since=now - self._silence,
            lease=self._lease,
        )
        if not outcomes:
            return
        self.state.reregistered_at = now
        self.state.reregistration = ", ".join(
            f"{outcome.kind.value} {outcome.state}" for outcome in outcomes
        )
        for outcome in outcomes:
            level = logging.INFO if outcome.state == "registered" else logging.WARNING
            logger.log(
                level,
                "registered the %s webhook again after the receipt silence: %s (%s: %s)",
                outcome.kind.value,
                mask_webhook_url(outcome.url),
                outcome.state,
                outcome.message,
            )

    def readiness_detail(self) -> dict[str, Any]:
        """Informational, for /readyz: never makes the instance unready."""
        silence = self.state.silence
        if silence is None:
            return {"silent": False, "checked_at": None}
        detail: dict[str, Any] = {
            "silent": silence.silent,
            "checked_at": _time(silence.checked_at),
            "last_receipt_at": _time(silence.last_receipt_at),
        }
        if silence.silent:
            detail["detail"] = describe(silence, self._silence)
            detail["since"] = _time(self.state.raised_at)
            detail["reregistered_at"] = _time(self.state.reregistered_at)
            detail["reregistration"] = self.state.reregistration
        return detail


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso_z(value)


def describe(silence: Silence, period: timedelta) -> str:
    minutes = f"{period.total_seconds() / 60:g} minutes"
    parts = []
    if silence.waiting:
        last = silence.last_receipt_at.isoformat() if silence.last_receipt_at else "never"
        parts.append(
            f"no delivery receipt for {silence.waiting} messages waiting {minutes} or longer "
            f"(last receipt: {last})"
        )
    if silence.stopped_batches:
        ids = ", ".join(str(batch_id) for batch_id in silence.stopped_batches)
        parts.append(f"receipts stopped for {minutes} for batches still sending: {ids}")
    return "; ".join(parts)
