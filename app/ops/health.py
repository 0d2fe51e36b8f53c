"""Liveness and readiness probes."""

from typing import Annotated, Any

from fastapi import APIRouter
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
    engine: EngineDep,
    settings: SettingsDep,
    secret: WebhookSecretDep,
    webhooks: Annotated[WebhookReceiver, runtime_part("webhooks", WebhookReceiver)],
    silence: Annotated[SilenceWatch | None, optional_runtime_part("silence", SilenceWatch)],
) -> JSONResponse:
    ready, body = await readiness(engine, settings, secret, webhooks)
    if silence is not None:
        # Informational only: a silence is Mobivate's side or the registration, not this instance.
        body["receipts"] = silence.readiness_detail()
    return JSONResponse(body, status_code=200 if ready else 503)


async def readiness(
    engine: AsyncEngine, settings: Settings, secret: str, webhooks: WebhookReceiver
) -> tuple[bool, dict[str, Any]]:
    """Whether this instance should take traffic, and the body of /readyz that says why."""
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
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    spool = webhooks.spool.status()
    try:
        spool["quarantined"] = await webhooks.spool.quarantine.publish()
    except Exception as exc:  # the quarantine file is informational here
        spool["quarantined"] = f"unreadable: {type(exc).__name__}"
    body["spool"] = spool
    if checks["database"] != "ok" and not spool["full"]:
        # Webhooks are still acknowledged (kept in the outage spool): stay in rotation.
        ready = True
        body["status"] = "degraded: database unreachable, webhooks kept in the outage spool"
    if checks["database"] == "ok":
        # Informational only: Mobivate being down or refusing the key must not stop traffic.
        try:
            body["registrations"] = await readiness_detail(engine, settings, secret)
        except Exception as exc:
            body["registrations"] = {"error": f"unavailable: {type(exc).__name__}"}
    return ready, body
