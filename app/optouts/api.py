"""REST API of the opt-out registry: look up, list, opt out and opt back in, see pushes."""

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.csv import csv_response
from app.api.deps import EngineDep, runtime_part
from app.api.docs import with_csv
from app.api.filters import wants_csv
from app.core.phone import InvalidPhoneNumber
from app.optouts.outbox import OutboxWorker
from app.optouts.registry import OptoutNotFound, change_number
from app.optouts.views import (
    OptoutDetail,
    PushState,
    get_optout,
    list_opted_out,
    list_pushes,
)

router = APIRouter(tags=["opt-outs"])

OutboxDep = Annotated[OutboxWorker, runtime_part("outbox", OutboxWorker)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OptoutStateOut(_Out):
    msisdn: str
    opted_out: bool
    changed_at: datetime = Field(description="When the change that set this state happened")
    source: str = Field(description="incoming_sms, api, operator or imported")
    keyword: str | None
    reason: str | None
    updated_at: datetime


class HistoryEntryOut(_Out):
    id: int
    action: str = Field(description="opt_out, opt_in or help")
    source: str
    keyword: str | None
    reason: str | None
    incoming_message_id: int | None
    event_at: datetime
    recorded_at: datetime


class PushOut(_Out):
    id: int
    operation: str = Field(description="optout_add or optout_delete")
    msisdn: str
    event_id: int | None
    state: str = Field(description="pending, delivered or failed (refused by Mobivate)")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    mobivate_status: int | None
    mobivate_message: str | None
    created_at: datetime
    delivered_at: datetime | None


class OptoutDetailOut(_Out):
    msisdn: str
    opted_out: bool
    state: OptoutStateOut | None = Field(description="None when the number only asked for help")
    history: list[HistoryEntryOut] = Field(description="Every recorded event, oldest first")
    pushes: list[PushOut] = Field(description="Changes pushed to Mobivate, oldest first")


class OptoutPage(BaseModel):
    items: list[OptoutStateOut]
    next_cursor: str | None


class PushPage(BaseModel):
    items: list[PushOut]
    next_cursor: str | None


class OptoutRequest(BaseModel):
    msisdn: str = Field(min_length=1, max_length=64, examples=["447700900123"])
    reason: str | None = Field(default=None, max_length=1000)
    source: Literal["api", "operator"] = Field(
        default="api", description="operator for a person acting by hand"
    )


Msisdn = Annotated[str, Path(description="International number, e.g. 447700900123")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


def _invalid_msisdn(exc: InvalidPhoneNumber) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"msisdn {exc}")


def _detail(detail: OptoutDetail) -> OptoutDetailOut:
    return OptoutDetailOut.model_validate(
        {
            "msisdn": detail.msisdn,
            "opted_out": bool(detail.state and detail.state.opted_out),
            "state": detail.state,
            "history": detail.history,
            "pushes": detail.pushes,
        }
    )


async def _lookup(engine: AsyncEngine, msisdn: str) -> OptoutDetailOut:
    try:
        detail = await get_optout(engine, msisdn)
    except InvalidPhoneNumber as exc:
        raise _invalid_msisdn(exc) from None
    if detail is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no opt-out, opt-in or help request has been recorded for {msisdn}",
        )
    return _detail(detail)


def _encode_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def _bad_cursor() -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail="cursor is not one this API returned: pass next_cursor from the previous page",
    )


def _decode_cursor(cursor: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None


@router.get("/optouts/{msisdn}", response_model=OptoutDetailOut)
async def get_number(engine: EngineDep, msisdn: Msisdn) -> OptoutDetailOut:
    """A number's current state, its whole history and its pushes to Mobivate."""
    return await _lookup(engine, msisdn)


Since = Annotated[
    AwareDatetime | None, Query(description="Only numbers whose state changed at or after this")
]
Until = Annotated[
    AwareDatetime | None, Query(description="Only numbers whose state changed before this")
]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="`csv` streams every matching number (as does `Accept: text/csv`)"),
]


async def _every_opted_out(
    engine: Any, after: Any, since: Any, until: Any, limit: int
) -> AsyncIterator[dict[str, Any]]:
    while True:
        page = await list_opted_out(engine, limit=limit, after=after, since=since, until=until)
        for item in page.items:
            yield asdict(item)
        if page.next_after is None:
            return
        after = page.next_after


@router.get(
    "/optouts",
    response_model=OptoutPage,
    responses=with_csv("A page of opted-out numbers, or all of them as CSV"),
)
async def list_numbers(
    request: Request,
    engine: EngineDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    since: Since = None,
    until: Until = None,
    format: Format = None,
) -> Any:
    """Numbers opted out now, most recently changed first."""
    after = None
    if cursor is not None:
        value = _decode_cursor(cursor)
        try:
            after = (datetime.fromisoformat(value[0]), str(value[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            raise _bad_cursor() from None
        if after[0].tzinfo is None:
            raise _bad_cursor()
    if wants_csv(request, format):
        rows = _every_opted_out(engine, after, since, until, limit)
        return csv_response(rows, list(OptoutStateOut.model_fields), "optouts")
    page = await list_opted_out(engine, limit=limit, after=after, since=since, until=until)
    next_cursor = None
    if page.next_after is not None:
        changed_at, msisdn = page.next_after
        next_cursor = _encode_cursor([changed_at.isoformat(), msisdn])
    return OptoutPage(
        items=[OptoutStateOut.model_validate(item) for item in page.items],
        next_cursor=next_cursor,
    )


@router.post("/optouts", response_model=OptoutDetailOut, status_code=status.HTTP_201_CREATED)
async def opt_out(
    engine: EngineDep,
    outbox: OutboxDep,
    request: Request,
    response: Response,
    body: OptoutRequest,
) -> OptoutDetailOut:
    """Opt a number out now and push the opt-out to Mobivate."""
    try:
        msisdn = await change_number(
            engine,
            body.msisdn,
            "opt_out",
            source=body.source,
            reason=body.reason,
            on_commit=outbox.wake,
        )
    except InvalidPhoneNumber as exc:
        raise _invalid_msisdn(exc) from None
    response.headers["Location"] = f"{request.url.path}/{msisdn}"
    return await _lookup(engine, msisdn)


@router.delete("/optouts/{msisdn}", response_model=OptoutDetailOut)
async def opt_in(
    engine: EngineDep,
    outbox: OutboxDep,
    msisdn: Msisdn,
    reason: Annotated[str | None, Query(max_length=1000)] = None,
    source: Annotated[Literal["api", "operator"], Query()] = "api",
) -> OptoutDetailOut:
    """Opt a known number back in now and remove it from Mobivate's opt-out list."""
    try:
        normalised = await change_number(
            engine,
            msisdn,
            "opt_in",
            source=source,
            reason=reason,
            require_known=True,
            on_commit=outbox.wake,
        )
    except InvalidPhoneNumber as exc:
        raise _invalid_msisdn(exc) from None
    except OptoutNotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"{msisdn} has never been opted out here, so there is nothing to remove; "
            "if Mobivate lists it, import Mobivate's list first (mobivate-hooks sync-optouts)",
        ) from None
    return await _lookup(engine, normalised)


@router.get("/optout-pushes", response_model=PushPage)
async def pushes(
    engine: EngineDep,
    state: Annotated[PushState | None, Query(description="Only pushes in this state")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> PushPage:
    """Opt-out changes pushed (or being pushed) to Mobivate, newest first; `state=failed` lists
    those Mobivate refused, with its answer."""
    after = None
    if cursor is not None:
        value = _decode_cursor(cursor)
        if not isinstance(value, int) or not 0 < value < 2**63:
            raise _bad_cursor()
        after = value
    page = await list_pushes(engine, limit=limit, state=state, after=after)
    return PushPage(
        items=[PushOut.model_validate(item) for item in page.items],
        next_cursor=None if page.next_after is None else _encode_cursor(page.next_after),
    )
