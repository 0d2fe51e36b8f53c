"""The sending routes: `POST /api/v1/messages` (one SMS) and `POST /api/v1/batches` (a campaign)
share one path (`app.sending.submission.submit`); `GET` of either shows it with its progress, and
`GET /api/v1/messages` and `/batches` list them."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import (
    CallerDep,
    EngineDep,
    MobivateDep,
    SettingsDep,
    optional_runtime_part,
    requires,
)
from app.api.docs import with_csv
from app.api.filters import BatchQuery, MessageQuery
from app.api.listing import answer_list
from app.api.pagination import Page
from app.config import Scope
from app.lookups.lookup import LookupPolicy
from app.sending.batch import BATCH_ENDPOINT, send_batch
from app.sending.batch_checks import check_batch, prepare_batch, raw_items
from app.sending.dry_run import dry_run_batch
from app.sending.idempotency import Reply
from app.sending.lists import (
    BATCH_SPEC,
    MESSAGE_SPEC,
    batch_filters,
    batch_item,
    message_filters,
    message_item,
)
from app.sending.schemas import (
    BatchDetailOut,
    BatchDryRunOut,
    BatchItem,
    BatchQueuedOut,
    MessageOut,
    MessageWithTimelineOut,
    SendBatchRequest,
    SendMessageRequest,
)
from app.sending.single import SINGLE_ENDPOINT, prepare_single, send_single
from app.sending.submission import submit
from app.sending.submitter import BatchSubmitter
from app.sending.validation import InvalidSend
from app.sending.views import get_batch, message_with_timeline

router = APIRouter(tags=["sending"])

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Repeating a request with the same key and body within 24 hours returns "
        "the first response and sends nothing. Keys are kept per API token.",
    ),
]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]

_COMMON_REFUSALS: dict[int | str, dict[str, Any]] = {
    402: {"description": "Mobivate refused: not enough credit"},
    503: {"description": "Mobivate unreachable or sending not configured"},
}
_MESSAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"model": MessageOut, "description": "Accepted by Mobivate"},
    409: {"description": "The recipient opted out (nothing sent), or the key is in use"},
    422: {"description": "The request is invalid, or Mobivate refused the message"},
    502: {"description": "Mobivate failed or refused our API key; the message is stored"},
    **_COMMON_REFUSALS,
}
_BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": BatchDryRunOut,
        "description": "dry_run=true: what would be sent and left out; nothing stored or sent",
    },
    202: {
        "model": BatchQueuedOut,
        "description": "Stored and queued: its messages are checked and sent in the background; "
        "follow it with GET /api/v1/batches/{id}",
    },
    409: {"description": "The Idempotency-Key is still in use by another request"},
    422: {"description": "The batch as a whole is invalid (a message alone is left out)"},
    503: {"description": "Sending not configured"},
}


def _response(reply: Reply) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else None
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


@router.post(
    "/messages",
    status_code=201,
    responses=_MESSAGE_RESPONSES,
    response_model=None,
    operation_id="send_message",
    summary="Send one SMS",
    openapi_extra=requires(Scope.SEND),
)
async def post_message(
    payload: SendMessageRequest,
    engine: EngineDep,
    mobivate: MobivateDep,
    settings: SettingsDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    prepared = prepare_single(payload, settings)
    reply = await submit(
        engine,
        settings,
        mobivate,
        endpoint=SINGLE_ENDPOINT,
        idempotency_key=idempotency_key,
        caller=caller.fingerprint,
        body=payload.model_dump(mode="json"),
        work=lambda client, attempt: send_single(engine, client, prepared, attempt),
    )
    return _response(reply)


@router.post(
    "/batches",
    status_code=202,
    responses=_BATCH_RESPONSES,
    response_model=None,
    operation_id="send_batch",
    summary="Send a batch (campaign)",
    description="Answers `202` at once with the batch's id and state `queued`, whatever its "
    "size: its messages are checked, left out (reported in `skipped`) or sent to Mobivate in "
    "the background, by any replica, and `GET /api/v1/batches/{id}` shows the progress "
    "(`progress.submitted` of `progress.total`) and the outcome. With `dry_run=true` it answers "
    "`200` with what would be sent, storing and sending nothing.",
    openapi_extra=requires(Scope.SEND),
)
async def post_batch(
    request: Request,
    payload: SendBatchRequest,
    engine: EngineDep,
    mobivate: MobivateDep,
    settings: SettingsDep,
    caller: CallerDep,
    submitter: Annotated[BatchSubmitter | None, optional_runtime_part("batches", BatchSubmitter)],
    idempotency_key: IdempotencyKeyHeader = None,
    dry_run: Annotated[
        bool,
        Query(
            description="Answer what would be sent and left out, and the SMS parts, without "
            "storing or sending anything"
        ),
    ] = False,
) -> JSONResponse:
    if len(request.query_params.getlist("dry_run")) > 1:
        raise InvalidSend("dry_run", "is given more than once; give it once, true or false")
    if dry_run:
        prepared = prepare_batch(payload, settings)
        lookups = LookupPolicy.from_settings(settings)
        return JSONResponse(await dry_run_batch(engine, mobivate, prepared, lookups))
    checked = check_batch(payload, settings)
    reply = await submit(
        engine,
        settings,
        mobivate,
        endpoint=BATCH_ENDPOINT,
        idempotency_key=idempotency_key,
        caller=caller.fingerprint,
        body=payload.model_dump(mode="json"),
        work=lambda _client, attempt: send_batch(engine, checked, raw_items(payload), attempt),
    )
    if submitter is not None:
        submitter.wake()
    return _response(reply)


@router.get(
    "/messages/{message_id}",
    response_model=MessageWithTimelineOut,
    summary="A sent message with its timeline",
)
async def get_message(message_id: Id, engine: EngineDep) -> JSONResponse:
    body = await message_with_timeline(engine, message_id)
    if body is None:
        raise HTTPException(404, f"no message with id {message_id}")
    return JSONResponse(body)


@router.get(
    "/batches/{batch_id}",
    response_model=BatchDetailOut,
    operation_id="get_batch",
    summary="A batch with its messages per status and its statistics",
)
async def get_batch_route(batch_id: Id, engine: EngineDep) -> JSONResponse:
    body = await get_batch(engine, batch_id)
    if body is None:
        raise HTTPException(404, f"no batch with id {batch_id}")
    return JSONResponse(body)


@router.get(
    "/messages",
    response_model=Page[MessageOut],
    responses=with_csv("A page of sent messages, or all of them as CSV"),
    summary="Sent messages",
    description="Every message sent (or refused), with its current status, newest first by "
    "creation time; `since`/`until` apply to the same time. `GET /api/v1/messages/{id}` adds "
    "the timeline.",
)
async def list_messages(
    request: Request, engine: EngineDep, query: Annotated[MessageQuery, Query()]
) -> Response:
    where = message_filters(query)
    return await answer_list(
        request, engine, MESSAGE_SPEC, query, where, MessageOut, "messages", message_item
    )


@router.get(
    "/batches",
    response_model=Page[BatchItem],
    responses=with_csv("A page of batches, or all of them as CSV"),
    summary="Batches (campaigns)",
    description="Every batch, newest first by creation time. `GET /api/v1/batches/{id}` adds "
    "the messages per status and the batch's statistics.",
)
async def list_batches(
    request: Request, engine: EngineDep, query: Annotated[BatchQuery, Query()]
) -> Response:
    where = batch_filters(query)
    return await answer_list(
        request, engine, BATCH_SPEC, query, where, BatchItem, "batches", batch_item
    )
