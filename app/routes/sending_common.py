"""What the send routes share: the idempotency store and turning a stored reply into a response."""

from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.services.idempotency import Idempotency, Reply


def idempotency_for(engine: AsyncEngine, settings: Settings) -> Idempotency:
    return Idempotency(
        engine,
        ttl_hours=settings.idempotency_ttl_hours,
        wait_seconds=settings.idempotency_wait_seconds,
        poll_seconds=settings.idempotency_poll_seconds,
    )


def reply_response(reply: Reply) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else None
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)
