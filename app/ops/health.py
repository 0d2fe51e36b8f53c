"""Liveness and readiness probes.

`/readyz` is public (probes carry no token), so what it asks the database (reachable, migrated,
registrations, the quarantine) is asked at most once per CHECK_INTERVAL_SECONDS per process:
callers within that time share the last answer, and callers arriving while it is being asked wait
for it instead of asking again. The outage spool's state is read fresh on every call (memory only).
"""

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import (
    EngineDep,
    SettingsDep,
    WebhookSecretDep,
    optional_runtime_part,
    runtime_part,
)
from app.config import Settings
from app.core.migrate import current_revisions, head_revisions
from app.registration.silence_watch import SilenceWatch
from app.registration.status import readiness_detail
from app.webhooks.receive import WebhookReceiver

router = APIRouter(tags=["probes"])

CHECK_INTERVAL_SECONDS = 1.0


class CachedChecks:
    """The database part of readiness, computed at most once per interval."""

    def __init__(self, interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._lock = asyncio.Lock()
        self._at = float("-inf")
        self._value: dict[str, Any] = {}
        self.computed = 0

    async def get(
        self, engine: AsyncEngine, settings: Settings, secret: str, webhooks: WebhookReceiver
    ) -> dict[str, Any]:
        async with self._lock:
            if time.monotonic() - self._at >= self._interval:
                self._value = await database_checks(engine, settings, secret, webhooks)
                self._at = time.monotonic()
                self.computed += 1
            return self._value


def cached_checks(request: Request) -> CachedChecks:
    """This app's cache (one per app, so tests with their own apps never share one)."""
    cache = getattr(request.app.state, "readiness_checks", None)
    if not isinstance(cache, CachedChecks):
        cache = request.app.state.readiness_checks = CachedChecks()
    return cache


@router.get("/healthz", summary="Liveness: the process is up (no I/O)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database is reachable and its schema is at the latest migration",
    description="While the database is unreachable but the outage spool can take webhooks, the "
    "answer is 200 with a `degraded` status, so the instance stays in rotation for Mobivate.",
    responses={503: {"description": "Not ready; `checks` says why"}},
)
async def readyz(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    secret: WebhookSecretDep,
    webhooks: Annotated[WebhookReceiver, runtime_part("webhooks", WebhookReceiver)],
    silence: Annotated[SilenceWatch | None, optional_runtime_part("silence", SilenceWatch)],
) -> JSONResponse:
    checked = await cached_checks(request).get(engine, settings, secret, webhooks)
    ready, body = readiness(checked, webhooks)
    if silence is not None:
        # Informational only: a silence is Mobivate's side or the registration, not this instance.
        body["receipts"] = silence.readiness_detail()
    return JSONResponse(body, status_code=200 if ready else 503)


async def database_checks(
    engine: AsyncEngine, settings: Settings, secret: str, webhooks: WebhookReceiver
) -> dict[str, Any]:
    """What readiness asks the database (and the quarantine file)."""
    checks: dict[str, Any] = {}
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(current_revisions)
        expected = head_revisions()
        checks["database"] = "ok"
        checks["schema"] = (
            "ok" if current == expected else f"at {sorted(current)}, expected {sorted(expected)}"
        )
    except Exception as exc:  # any failure to reach the database means "not ready"
        checks["database"] = f"unreachable: {type(exc).__name__}"
    result: dict[str, Any] = {"checks": checks}
    try:
        result["quarantined"] = await webhooks.spool.quarantine.publish()
    except Exception as exc:  # the quarantine file is informational here
        result["quarantined"] = f"unreadable: {type(exc).__name__}"
    if checks["database"] == "ok":
        # Informational only: Mobivate being down or refusing the key must not stop traffic.
        try:
            result["registrations"] = await readiness_detail(engine, settings, secret)
        except Exception as exc:
            result["registrations"] = {"error": f"unavailable: {type(exc).__name__}"}
    return result


def readiness(checked: dict[str, Any], webhooks: WebhookReceiver) -> tuple[bool, dict[str, Any]]:
    """Whether this instance should take traffic, and the body of /readyz that says why."""
    checks = checked["checks"]
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    spool = webhooks.spool.status()
    spool["quarantined"] = checked["quarantined"]
    body["spool"] = spool
    if checks["database"] != "ok" and not spool["full"]:
        # Webhooks are still acknowledged (kept in the outage spool): stay in rotation.
        ready = True
        body["status"] = "degraded: database unreachable, webhooks kept in the outage spool"
    if "registrations" in checked:
        body["registrations"] = checked["registrations"]
    return ready, body
