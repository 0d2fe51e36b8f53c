"""`POST /api/v1/messages` (send one SMS), `GET /api/v1/messages/{id}` (it, with its timeline)."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from app.api.deps import EngineDep, SettingsDep
from app.sending.idempotency import Reply, check_key
from app.sending.replies import idempotency_for, refusals_as_http_errors, reply_response
from app.sending.schemas import MessageOut, MessageWithTimelineOut, SendMessageRequest
from app.sending.single import prepare_single, send_single
from app.sending.views import message_with_timeline

router = APIRouter(tags=["sending"])

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Repeating a request with the same key and body within 24 hours returns "
        "the first response and sends nothing",
    ),
]

_SEND_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": MessageOut, "description": "Accepted by Mobivate"},
    402: {"description": "Mobivate refused: not enough credit"},
    409: {"description": "The recipient opted out (nothing sent), or the key is in use"},
    422: {"description": "The request is invalid, or Mobivate refused the message"},
    502: {"description": "Mobivate failed or refused our API key; the message is stored"},
    503: {"description": "Mobivate unreachable or sending not configured"},
}


@router.post("/messages", status_code=201, responses=_SEND_RESPONSES, response_model=None)
async def post_message(
    payload: SendMessageRequest,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    with refusals_as_http_errors():
        prepared = prepare_single(payload, settings)
        key = None if idempotency_key is None else check_key(idempotency_key)
        reply: Reply = await send_single(
            engine,
            request.app.state.mobivate,
            idempotency_for(engine, settings),
            prepared,
            key,
            payload.model_dump(mode="json"),
        )
    return reply_response(reply)


@router.get("/messages/{message_id}", response_model=MessageWithTimelineOut)
async def get_message(
    message_id: Annotated[int, Path(ge=1, le=2**63 - 1)], engine: EngineDep
) -> JSONResponse:
    body = await message_with_timeline(engine, message_id)
    if body is None:
        raise HTTPException(404, f"no message with id {message_id}")
    return JSONResponse(body)
