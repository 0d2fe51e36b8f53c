"""REST API of the opt-out registry: look up, list, opt out and opt back in, see pushes."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import EngineDep, requires, runtime_part
from app.api.docs import with_csv
from app.api.listing import answer_list
from app.api.pagination import Page
from app.config import Scope
from app.core.phone import InvalidPhoneNumber
from app.optouts.lists import OPTOUT_SPEC, PUSH_SPEC, optout_filters, push_filters
from app.optouts.outbox import OutboxWorker
from app.optouts.registry import change_number
from app.optouts.schemas import (
    OptoutDetailOut,
    OptoutQuery,
    OptoutRequest,
    OptoutStateOut,
    PushOut,
    PushQuery,
)
from app.optouts.views import OptoutDetail, get_optout

router = APIRouter(tags=["opt-outs"])

OutboxDep = Annotated[OutboxWorker, runtime_part("outbox", OutboxWorker)]


Msisdn = Annotated[str, Path(description="International number, e.g. 447700900123")]


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


@router.get(
    "/optouts/{msisdn}",
    response_model=OptoutDetailOut,
    operation_id="get_optout",
    summary="A number's opt-out state, history and pushes",
)
async def get_number(engine: EngineDep, msisdn: Msisdn) -> OptoutDetailOut:
    """A number's current state, its whole history and its pushes to Mobivate."""
    return await _lookup(engine, msisdn)


@router.get(
    "/optouts",
    response_model=Page[OptoutStateOut],
    operation_id="list_optouts",
    summary="Numbers opted out now",
    responses=with_csv("A page of opted-out numbers, or all of them as CSV"),
)
async def list_numbers(
    request: Request, engine: EngineDep, query: Annotated[OptoutQuery, Query()]
) -> Response:
    """Numbers opted out now, most recently changed first; `since`/`until` apply to the time of
    the change."""
    return await answer_list(
        request, engine, OPTOUT_SPEC, query, optout_filters(), OptoutStateOut, "optouts"
    )


@router.post(
    "/optouts",
    response_model=OptoutDetailOut,
    status_code=status.HTTP_201_CREATED,
    summary="Opt a number out",
    openapi_extra=requires(Scope.OPTOUTS_WRITE),
)
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


@router.delete(
    "/optouts/{msisdn}",
    response_model=OptoutDetailOut,
    summary="Opt a number back in",
    openapi_extra=requires(Scope.OPTOUTS_WRITE),
)
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
    return await _lookup(engine, normalised)


@router.get(
    "/optout-pushes",
    response_model=Page[PushOut],
    operation_id="list_optout_pushes",
    summary="Opt-out pushes to Mobivate",
    responses=with_csv("A page of pushes, or all of them as CSV"),
)
async def pushes(
    request: Request, engine: EngineDep, query: Annotated[PushQuery, Query()]
) -> Response:
    """Opt-out changes pushed (or being pushed) to Mobivate, newest first; `state=failed` lists
    those Mobivate refused, with its answer."""
    return await answer_list(
        request, engine, PUSH_SPEC, query, push_filters(query), PushOut, "optout-pushes"
    )
