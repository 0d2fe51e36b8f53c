"""REST API of the opt-out registry: look up, list, opt out and opt back in, see pushes, and
decide the replies in the review queue."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.deps import EngineDep, SettingsDep, requires, runtime_part
from app.api.docs import with_csv
from app.api.listing import answer_list
from app.api.pagination import Page
from app.config import Scope
from app.core.phone import InvalidPhoneNumber
from app.optouts.audit import sends_after_optout
from app.optouts.lists import (
    OPTOUT_SPEC,
    PUSH_SPEC,
    REVIEW_SPEC,
    optout_filters,
    push_filters,
    review_filters,
)
from app.optouts.outbox import OutboxWorker
from app.optouts.registry import change_number
from app.optouts.review import decide
from app.optouts.schemas import (
    AUDIT_LIMIT,
    OptoutDetailOut,
    OptoutQuery,
    OptoutRequest,
    OptoutStateOut,
    PushOut,
    PushQuery,
    ReviewDecisionOut,
    ReviewDecisionRequest,
    ReviewOut,
    ReviewQuery,
    SendAfterOptoutOut,
    SendsAfterOptoutOut,
)
from app.optouts.views import OptoutDetail, get_optout

router = APIRouter(tags=["opt-outs"])

OutboxDep = Annotated[OutboxWorker, runtime_part("outbox", OutboxWorker)]


Msisdn = Annotated[
    str,
    Path(description="Any spelling of the number, e.g. +447700900123; or an unresolved sender"),
]
Id = Annotated[int, Path(ge=1, le=2**63 - 1, description="The review's id")]


def _invalid_msisdn(exc: InvalidPhoneNumber) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"msisdn {exc}")


def _detail(detail: OptoutDetail) -> OptoutDetailOut:
    return OptoutDetailOut.model_validate(
        {
            "msisdn": detail.msisdn,
            "unresolved": detail.unresolved,
            "opted_out": bool(detail.state and detail.state.opted_out),
            "state": detail.state,
            "history": detail.history,
            "pushes": detail.pushes,
        }
    )


async def _lookup(engine: AsyncEngine, msisdn: str, region: str | None) -> OptoutDetailOut:
    try:
        detail = await get_optout(engine, msisdn, region)
    except InvalidPhoneNumber as exc:
        raise _invalid_msisdn(exc) from None
    if detail is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no opt-out, opt-in or help request has been recorded for {msisdn}",
        )
    return _detail(detail)


# The review routes come before `/optouts/{msisdn}`, which would otherwise take "review".
@router.get(
    "/optouts/review",
    response_model=Page[ReviewOut],
    operation_id="list_optout_reviews",
    summary="Replies waiting for a person to decide whether they opt out",
    responses=with_csv("A page of replies to review, or all of them as CSV"),
)
async def list_reviews(
    request: Request, engine: EngineDep, query: Annotated[ReviewQuery, Query()]
) -> Response:
    """Replies that hold an opt-out keyword but are not confidently an opt-out ("stop the
    deals"), newest first; `state` defaults to `pending`."""
    return await answer_list(
        request, engine, REVIEW_SPEC, query, review_filters(query), ReviewOut, "optout-reviews"
    )


@router.post(
    "/optouts/review/{review_id}",
    response_model=ReviewDecisionOut,
    operation_id="decide_optout_review",
    openapi_extra=requires(Scope.OPTOUTS_WRITE),
    summary="Decide a reply in the review queue",
    responses={
        404: {"description": "No reply with this id is in the review queue"},
        409: {"description": "The reply was already decided; nothing was changed"},
    },
)
async def decide_review(
    engine: EngineDep, outbox: OutboxDep, review_id: Id, body: ReviewDecisionRequest
) -> ReviewDecisionOut:
    """`opt_out` records the reply as the opt-out it was (at the time it was sent) and pushes it
    to Mobivate; `dismiss` records nothing. Either takes it out of the queue."""
    row, opted_out = await decide(
        engine,
        review_id,
        body.decision,
        reason=body.reason,
        on_commit=outbox.wake,
        contacts=outbox.pushes_to_contacts,
    )
    return ReviewDecisionOut(review=ReviewOut.model_validate(row), opted_out=opted_out)


@router.get(
    "/optouts/{msisdn}",
    response_model=OptoutDetailOut,
    operation_id="get_optout",
    summary="A number's opt-out state, history and pushes",
)
async def get_number(engine: EngineDep, settings: SettingsDep, msisdn: Msisdn) -> OptoutDetailOut:
    """A number's current state, its whole history and its pushes to Mobivate."""
    return await _lookup(engine, msisdn, settings.default_region)


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
    the change. `unresolved=true` lists only senders that could not be resolved to E.164."""
    return await answer_list(
        request, engine, OPTOUT_SPEC, query, optout_filters(query), OptoutStateOut, "optouts"
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
    settings: SettingsDep,
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
            region=settings.default_region,
            reason=body.reason,
            on_commit=outbox.wake,
            contacts=outbox.pushes_to_contacts,
        )
    except InvalidPhoneNumber as exc:
        raise _invalid_msisdn(exc) from None
    response.headers["Location"] = f"{request.url.path}/{msisdn}"
    return await _lookup(engine, msisdn, None)


@router.delete(
    "/optouts/{msisdn}",
    response_model=OptoutDetailOut,
    summary="Opt a number back in",
    openapi_extra=requires(Scope.OPTOUTS_WRITE),
)
async def opt_in(
    engine: EngineDep,
    settings: SettingsDep,
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
            region=settings.default_region,
            reason=reason,
            require_known=True,
            on_commit=outbox.wake,
            contacts=outbox.pushes_to_contacts,
        )
    except InvalidPhoneNumber as exc:
        raise _invalid_msisdn(exc) from None
    return await _lookup(engine, normalised, None)


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


@router.get(
    "/compliance/sends-after-optout",
    response_model=SendsAfterOptoutOut,
    operation_id="sends_after_optout",
    tags=["compliance"],
    summary="Messages sent to a person while opted out (expected: none)",
)
async def sends_after_optout_route(
    engine: EngineDep,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Sends at or after this (ISO 8601 with zone); default 30 days ago"),
    ] = None,
) -> SendsAfterOptoutOut:
    """Every message sent to a person (by E.164, across spellings) while that person was opted
    out, oldest first; `mobivate-hooks audit-optouts` answers the same."""
    start = since or datetime.now(UTC) - timedelta(days=30)
    found = await sends_after_optout(engine, start)
    return SendsAfterOptoutOut(
        since=start,
        count=len(found),
        items=[SendAfterOptoutOut.model_validate(send) for send in found[:AUDIT_LIMIT]],
    )
