"""`GET /api/v1/overview`: what an operator checks first, in one answer (the ops page at `/ui/`
shows it): readiness as /readyz has it, the webhook registrations, the opt-out outbox and the
outage spool, how many sent messages wait for a final receipt, and the batches being sent with
their progress. Every figure is read when
asked, from the database every replica shares (the spool is this instance's own)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import EngineDep, SettingsDep, WebhookSecretDep, runtime_part
from app.api.docs import ERRORS
from app.core.db import utcnow
from app.core.tables import BATCHES
from app.ops.health import database_checks, readiness
from app.ops.state_metrics import take_snapshot
from app.registration.status import RegistrationStatus, registration_status
from app.webhooks.receive import WebhookReceiver

router = APIRouter(tags=["probes"])


class OutboxOut(BaseModel):
    pending: int = Field(description="Opt-out pushes to Mobivate waiting to be delivered")
    failed: int = Field(description="Pushes Mobivate refused for good (GET /api/v1/optout-pushes)")
    oldest_pending_at: datetime | None = Field(description="When the oldest waiting push was made")
    oldest_pending_age_seconds: float = Field(description="Its age (0 when none waits)")


# The batches shown, newest first.
SENDING_SHOWN = 10


class BatchSendingOut(BaseModel):
    id: int
    name: str | None
    state: str = Field(description="queued or submitting")
    requested: int
    checked: int = Field(description="Messages checked so far")
    total: int | None = Field(description="Messages to send (null until all are checked)")
    submitted: int = Field(description="Messages Mobivate accepted")
    not_submitted: int = Field(description="Messages refused, failed or left out late")
    created_at: datetime


class OverviewOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "ready": True,
                    "checks": {"database": "ok", "schema": "ok"},
                    "spool": {
                        "entries": 0,
                        "bytes": 0,
                        "oldest_age_seconds": 0.0,
                        "diverting": False,
                        "full": False,
                    },
                    "registrations": {
                        "enabled": True,
                        "reason": None,
                        "registrations": [
                            {
                                "kind": "receipt",
                                "url": "https://sms.example.co.uk/webhooks/***/receipt",
                                "current": True,
                                "state": "registered",
                                "attempts": 1,
                                "last_attempt_at": "2026-11-22T08:00:01Z",
                                "last_success_at": "2026-11-22T08:00:01Z",
                                "next_attempt_at": None,
                                "last_status_code": 200,
                                "mobivate_message": None,
                                "updated_at": "2026-11-22T08:00:01Z",
                            }
                        ],
                    },
                    "outbox": {
                        "pending": 2,
                        "failed": 0,
                        "oldest_pending_at": "2026-11-22T09:14:58Z",
                        "oldest_pending_age_seconds": 4.1,
                    },
                    "messages_in_flight": 20,
                    "batches_sending": [
                        {
                            "id": 12,
                            "name": "November sale",
                            "state": "submitting",
                            "requested": 100000,
                            "checked": 100000,
                            "total": 99870,
                            "submitted": 42000,
                            "not_submitted": 3,
                            "created_at": "2026-11-22T09:14:55Z",
                        }
                    ],
                    "taken_at": "2026-11-22T09:15:02Z",
                }
            ]
        }
    )

    status: str = Field(description="As /readyz: ready, degraded: ..., or not ready")
    ready: bool = Field(description="Whether /readyz answers 200")
    checks: dict[str, Any] = Field(description="database and schema, as /readyz")
    spool: dict[str, Any] = Field(description="This instance's outage spool, as /readyz")
    registrations: RegistrationStatus | None = Field(
        description="As GET /api/v1/registrations (null while the database is unreachable)"
    )
    outbox: OutboxOut | None = Field(description="Null while the database is unreachable")
    messages_in_flight: int | None = Field(description="Sent messages without a final status yet")
    batches_sending: list[BatchSendingOut] | None = Field(
        description=f"Batches still being checked or sent, newest first (at most "
        f"{SENDING_SHOWN}), with their progress; null while the database is unreachable"
    )
    taken_at: datetime


@router.get(
    "/overview",
    response_model=OverviewOut,
    responses=ERRORS,
    summary="Readiness, registrations, opt-out outbox, spool, messages in flight, batches sending",
)
async def get_overview(
    engine: EngineDep,
    settings: SettingsDep,
    secret: WebhookSecretDep,
    webhooks: Annotated[WebhookReceiver, runtime_part("webhooks", WebhookReceiver)],
) -> OverviewOut:
    ready, body = readiness(await database_checks(engine, settings, secret, webhooks), webhooks)
    registrations = outbox = in_flight = sending = None
    if body["checks"].get("database") == "ok":
        registrations = await registration_status(engine, settings, secret)
        snapshot = await take_snapshot(engine)
        outbox = OutboxOut(
            pending=snapshot.outbox_pending,
            failed=snapshot.outbox_failed,
            oldest_pending_at=snapshot.outbox_oldest_pending_at,
            oldest_pending_age_seconds=round(snapshot.outbox_oldest_pending_age, 3),
        )
        in_flight = snapshot.messages_in_flight
        sending = await batches_sending(engine)
    return OverviewOut(
        status=body["status"],
        ready=ready,
        checks=body["checks"],
        spool=body["spool"],
        registrations=registrations,
        outbox=outbox,
        messages_in_flight=in_flight,
        batches_sending=sending,
        taken_at=utcnow(),
    )


async def batches_sending(engine: AsyncEngine) -> list[BatchSendingOut]:
    columns = [getattr(BATCHES.c, name) for name in BatchSendingOut.model_fields]
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(*columns)
            .where(BATCHES.c.state.in_(("queued", "submitting")))
            .order_by(BATCHES.c.id.desc())
            .limit(SENDING_SHOWN)
        )
        return [BatchSendingOut.model_validate(dict(row)) for row in rows.mappings()]
