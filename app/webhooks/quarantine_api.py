"""The quarantine over HTTP: `GET /api/v1/webhooks/quarantine` lists the webhook requests the
database would not store, `POST /api/v1/webhooks/quarantine/replay` stores them again through
the live path (after a fix, or once what refused them is gone)."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import runtime_part
from app.core.errors import ServiceError
from app.webhooks.ingest import IngestUnavailable, IngestWriter
from app.webhooks.quarantine import Quarantine, ReplayOutcome

router = APIRouter(tags=["events"])

QuarantineDep = Annotated[Quarantine, runtime_part("quarantine", Quarantine)]
WriterDep = Annotated[IngestWriter, runtime_part("ingest", IngestWriter)]


_ID = "3f2b8c1e-6a0d-4c5e-9b7a-2d4f6e8a0c1b"
_ITEM: dict[str, Any] = {
    "request_id": _ID,
    "kind": "receipt",
    "received_at": "2026-11-22T09:15:03.120000Z",
    "body_size": 412,
    "reason": "the database refused the request: DataError: value too long",
    "quarantined_at": "2026-11-22T09:15:03.200000Z",
    "attempts": 1,
}


def _example(**values: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [values]})


class QuarantinedItem(BaseModel):
    model_config = _example(**_ITEM)

    request_id: uuid.UUID
    kind: str
    received_at: datetime
    body_size: int
    reason: str = Field(description="Why the database would not store the request")
    quarantined_at: datetime
    attempts: int = Field(description="How many times it was refused")


class QuarantineList(BaseModel):
    model_config = _example(items=[_ITEM])

    items: list[QuarantinedItem]


class QuarantineReplayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"request_ids": [_ID]}]}
    )

    request_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=1000, description="Only these requests; all when omitted"
    )


class ReplayedItem(BaseModel):
    model_config = _example(request_id=_ID, outcome="stored", detail=None)

    request_id: uuid.UUID
    outcome: ReplayOutcome
    detail: str | None = None


class ReplayAnswer(BaseModel):
    model_config = _example(items=[{"request_id": _ID, "outcome": "stored", "detail": None}])

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
    "A request the database now holds leaves the quarantine; one it still refuses stays. "
    "Send `{}` for all.",
)
async def replay_quarantine(
    quarantine: QuarantineDep, writer: WriterDep, body: QuarantineReplayRequest
) -> ReplayAnswer:
    try:
        results = await quarantine.replay(writer, body.request_ids)
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
