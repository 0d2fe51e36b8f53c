"""`POST /api/v1/lookups` and `GET /api/v1/lookups/{number}`: is a number live, on which network,
was it ported (Mobivate's HLR, see `app.lookups.lookup`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path

from app.api.deps import EngineDep, MobivateDep, SettingsDep, requires
from app.config import Scope
from app.core.errors import ServiceError
from app.lookups.lookup import LookupPolicy, look_up, resolve_number, resolve_numbers
from app.lookups.schemas import LookupItem, LookupRequest, LookupsOut
from app.lookups.store import Answer

router = APIRouter(tags=["lookups"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"description": "No numbers, too many, or one that is not a phone number (named)"},
    429: {"description": "HLR_DAILY_LIMIT is spent for today; cached answers are still served"},
    502: {"description": "Mobivate failed or refused the API key; answers it gave are cached"},
    503: {"description": "Mobivate unreachable, or lookups not configured (MOBIVATE_API_KEY)"},
}


def item(answer: Answer) -> LookupItem:
    return LookupItem(
        number=answer.msisdn,
        reachable=answer.reachable,
        network=answer.network,
        country=answer.country,
        ported=answer.ported,
        status=answer.status,
        error=answer.error,
        looked_up_at=answer.looked_up_at,
        cached=answer.cached,
    )


@router.post(
    "/lookups",
    openapi_extra=requires(Scope.SEND),
    responses=_RESPONSES,
    summary="Look numbers up (HLR)",
    description="One item per distinct number, in the order given. Numbers beyond "
    "HLR_BATCH_SIZE are sent to Mobivate in several calls; fresh answers come from the cache "
    "(HLR_CACHE_HOURS); numbers sent to Mobivate count against HLR_DAILY_LIMIT.",
)
async def post_lookups(
    payload: LookupRequest, engine: EngineDep, mobivate: MobivateDep, settings: SettingsDep
) -> LookupsOut:
    if len(payload.numbers) > settings.batch_max_messages:
        raise ServiceError(
            f"numbers: holds {len(payload.numbers)} numbers; at most "
            f"{settings.batch_max_messages} per request (BATCH_MAX_MESSAGES)"
        )
    msisdns = resolve_numbers(payload.numbers, settings.default_region)
    answers = await look_up(engine, mobivate, LookupPolicy.from_settings(settings), msisdns)
    return LookupsOut(items=[item(answers[msisdn]) for msisdn in msisdns])


@router.get(
    "/lookups/{number}",
    openapi_extra=requires(Scope.SEND),
    responses=_RESPONSES,
    summary="Look one number up (HLR)",
    description="The cached answer while it is fresh, otherwise Mobivate's.",
)
async def get_lookup(
    number: Annotated[str, Path(description="Any spelling of the number, e.g. +447700900123")],
    engine: EngineDep,
    mobivate: MobivateDep,
    settings: SettingsDep,
) -> LookupItem:
    msisdn = resolve_number(number, settings.default_region)
    answers = await look_up(engine, mobivate, LookupPolicy.from_settings(settings), [msisdn])
    return item(answers[msisdn])
