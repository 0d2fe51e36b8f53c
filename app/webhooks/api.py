"""Lists of stored webhook events: `GET /api/v1/receipts`, `/incoming`, `/clicks`."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import EngineDep
from app.api.docs import with_csv
from app.api.filters import ClickQuery, IncomingQuery, ReceiptQuery
from app.api.listing import answer_list
from app.api.pagination import Page
from app.webhooks.lists import (
    CLICK_SPEC,
    INCOMING_SPEC,
    RECEIPT_SPEC,
    click_filters,
    incoming_filters,
    receipt_filters,
)
from app.webhooks.schemas import ClickItem, IncomingItem, ReceiptItem

router = APIRouter(tags=["events"])


_NEWEST_FIRST = " Newest first by event time; `since`/`until` apply to the same time."


@router.get(
    "/receipts",
    response_model=Page[ReceiptItem],
    responses=with_csv("A page of delivery receipts, or all of them as CSV"),
    summary="Delivery receipts",
    description="Every delivery receipt Mobivate posted." + _NEWEST_FIRST,
)
async def list_receipts(
    request: Request, engine: EngineDep, query: Annotated[ReceiptQuery, Query()]
) -> Response:
    where = await receipt_filters(engine, query)
    return await answer_list(request, engine, RECEIPT_SPEC, query, where, ReceiptItem, "receipts")


@router.get(
    "/incoming",
    response_model=Page[IncomingItem],
    responses=with_csv("A page of incoming messages, or all of them as CSV"),
    summary="Incoming messages (replies)",
    description="Every message customers sent in." + _NEWEST_FIRST,
)
async def list_incoming(
    request: Request, engine: EngineDep, query: Annotated[IncomingQuery, Query()]
) -> Response:
    where = await incoming_filters(engine, query)
    return await answer_list(request, engine, INCOMING_SPEC, query, where, IncomingItem, "incoming")


@router.get(
    "/clicks",
    response_model=Page[ClickItem],
    responses=with_csv("A page of clicks, or all of them as CSV"),
    summary="Short-URL clicks",
    description="Every click Mobivate reported, newest first by the time it reached us.",
)
async def list_clicks(
    request: Request, engine: EngineDep, query: Annotated[ClickQuery, Query()]
) -> Response:
    where = await click_filters(engine, query)
    return await answer_list(request, engine, CLICK_SPEC, query, where, ClickItem, "clicks")
