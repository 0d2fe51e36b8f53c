"""The quarantine over HTTP: `GET /api/v1/webhooks/quarantine` lists the webhook requests the
database would not store, `POST /api/v1/webhooks/quarantine/replay` stores them again through
the live path (after a fix, or once what refused them is gone)."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import runtime_part
from app.core.errors import ServiceError
from app.webhooks.ingest import IngestUnavailable, IngestWriter
from app.webhooks.quarantine import Quarantine, ReplayOutcome

router = APIRouter(tags=["events"])

QuarantineDep = Annotated[Quarantine, runtime_part("quarantine", Quarantine)]
WriterDep = Annotated[IngestWriter, runtime_part("ingest", IngestWriter)]


class QuarantinedItem(BaseModel):
    request_id: uuid.UUID
    kind: str
    received_at: datetime
    body_size: int
    reason: str = Field(description="Why the database would not store the request")
    quarantined_at: datetime
    attempts: int = Field(description="How many times it was refused")


class QuarantineList(BaseModel):
    items: list[QuarantinedItem]


class ReplayRequest(BaseModel):
    request_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=1000, description="Only these requests; all when omitted"
    )


class ReplayedItem(BaseModel):
    request_id: uuid.UUID
    outcome: ReplayOutcome
    detail: str | None = None


class ReplayAnswer(BaseModel):
    items: list[ReplayedItem]


@router.get(
    "/webhooks/quarantine",
    response_model=QuarantineList,
    summary="Quarantined webhook requests",
    description="Webhook requests the database answered for but would not store, not even as "
    "raw bodies, oldest first (at most 1000). They wait here so that nothing else waits on them.",
)
async def list_quarantine(quarantine: QuarantineDep) -> QuarantineList:
    entries = await quarantine.entries()
    return QuarantineList(
        items=[QuarantinedItem.model_validate(e, from_attributes=True) for e in entries]
    )


@router.post(
    "/webhooks/quarantine/replay",
    response_model=ReplayAnswer,
    summary="Store quarantined webhook requests again",
    description="Sends every quarantined request (or those named) through the live path again. "
    "A request the database now holds leaves the quarantine; one it still refuses stays.",
)
async def replay_quarantine(
    quarantine: QuarantineDep, writer: WriterDep, body: ReplayRequest | None = None
) -> ReplayAnswer:
    try:
        results = await quarantine.replay(writer, body.request_ids if body else None)
    except IngestUnavailable as exc:
        raise ServiceError(
            "database unavailable; what was not replayed stays quarantined: retry later",
            status=503,
        ) from exc
    return ReplayAnswer(
        items=[
            ReplayedItem(request_id=r.request_id, outcome=r.outcome, detail=r.detail)
            for r in results
        ]
    )
