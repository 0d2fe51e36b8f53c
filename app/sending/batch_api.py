"""`POST /api/v1/batches` (send a campaign) and `GET /api/v1/batches/{id}` (its progress)."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from app.api.deps import EngineDep, SettingsDep
from app.sending.api import IdempotencyKeyHeader
from app.sending.batch import send_batch
from app.sending.batch_checks import prepare_batch
from app.sending.idempotency import check_key
from app.sending.replies import idempotency_for, refusals_as_http_errors, reply_response
from app.sending.schemas import BatchCreatedOut, BatchDetailOut, SendBatchRequest
from app.sending.views import get_batch

router = APIRouter(tags=["sending"])

_SEND_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": BatchCreatedOut, "description": "Accepted by Mobivate, in whole or in part"},
    402: {"description": "Mobivate refused: not enough credit"},
    409: {"description": "The Idempotency-Key is still in use by another request"},
    422: {"description": "The request is invalid, no message can be sent, or Mobivate refused"},
    502: {"description": "Mobivate failed or refused our API key; the batch is stored"},
    503: {"description": "Mobivate unreachable or sending not configured"},
}


@router.post("/batches", status_code=201, responses=_SEND_RESPONSES, response_model=None)
async def post_batch(
    payload: SendBatchRequest,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    with refusals_as_http_errors():
        prepared = prepare_batch(payload, settings)
        key = None if idempotency_key is None else check_key(idempotency_key)
        reply = await send_batch(
            engine,
            request.app.state.mobivate,
            idempotency_for(engine, settings),
            prepared,
            key,
            payload.model_dump(mode="json"),
        )
    return reply_response(reply)


@router.get("/batches/{batch_id}", response_model=BatchDetailOut)
async def get_batch_route(
    batch_id: Annotated[int, Path(ge=1, le=2**63 - 1)], engine: EngineDep
) -> JSONResponse:
    body = await get_batch(engine, batch_id)
    if body is None:
        raise HTTPException(404, f"no batch with id {batch_id}")
    return JSONResponse(body)
