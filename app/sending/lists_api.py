"""Lists of what we sent: `GET /api/v1/messages` and `GET /api/v1/batches`."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import EngineDep
from app.api.docs import with_csv
from app.api.filters import BatchQuery, MessageQuery
from app.api.list_queries import Item
from app.api.listing import answer_list
from app.api.pagination import Page
from app.sending.list_schemas import BatchItem
from app.sending.lists import BATCH_SPEC, MESSAGE_SPEC, batch_filters, message_filters
from app.sending.schemas import MessageOut
from app.sending.views import message_json

router = APIRouter(tags=["sending"])


def _message_item(row: Item) -> dict[str, Any]:
    return message_json(row)  # type: ignore[arg-type]  # a dict has every key of the row


def _batch_item(row: Item) -> dict[str, Any]:
    error = None
    if row["error_message"] is not None:
        error = {"mobivate_status": row["error_status"], "message": row["error_message"]}
    return {
        "id": row["id"],
        "name": row["name"],
        "state": row["state"],
        "route_id": row["route_id"],
        "schedule_at": row["schedule_at"],
        "requested": row["requested"],
        "mobivate_batch_ids": list(row["mobivate_batch_ids"]),
        "error": error,
        "created_at": row["created_at"],
    }


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
        request, engine, MESSAGE_SPEC, query, where, MessageOut, "messages", _message_item
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
        request, engine, BATCH_SPEC, query, where, BatchItem, "batches", _batch_item
    )
