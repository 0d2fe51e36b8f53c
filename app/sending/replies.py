"""What the send routes share: the idempotency store, the HTTP answer to a refused request, and
turning a stored reply into a response."""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.sending.idempotency import Idempotency, IdempotencyError, Reply
from app.sending.single import SendingDisabled
from app.sending.validation import InvalidSend


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


@contextmanager
def refusals_as_http_errors() -> Iterator[None]:
    """An invalid request, a misused Idempotency-Key or sending being off, as its HTTP error."""
    try:
        yield
    except InvalidSend as exc:
        raise HTTPException(422, exc.detail) from None
    except IdempotencyError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    except SendingDisabled as exc:
        raise HTTPException(503, exc.detail) from None
