"""Looking numbers up (HLR): the cache first, then Mobivate, within the day's budget.

Numbers are resolved to registry form first (a bad one refuses the request, 422, before anything
is spent). Fresh cached answers (HLR_CACHE_HOURS) are served as they are; the rest are counted
against HLR_DAILY_LIMIT all together (429 if they do not fit, nothing asked) and sent to Mobivate
in calls of at most HLR_BATCH_SIZE numbers, a few at a time. Definite answers (reachable or not)
are cached; "cannot tell" is not, so it is asked again next time. A call that fails gives its
numbers back to the budget; the answers of the calls that succeeded are kept, and the request
fails (502, or 503 when Mobivate could not be reached) saying so.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.db import utcnow
from app.core.errors import ServiceError
from app.core.phone import InvalidPhoneNumber, mobivate_digits, resolve_msisdn
from app.lookups import store
from app.lookups.store import Answer
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateAuthError, MobivateError, MobivateUnavailable
from app.mobivate.hlr import HlrLookup, HlrResult, HlrStatus, is_reachable, match_results

logger = logging.getLogger(__name__)

CALLS_IN_FLIGHT = 4
UNREACHABLE = ("timeout", "unreachable")
_SHOWN = 40


class LookupsDisabled(ServiceError):
    status = 503

    def __init__(self) -> None:
        super().__init__("number lookups are not configured: set MOBIVATE_API_KEY")


class InvalidLookup(ServiceError):
    status = 422


class BudgetExhausted(ServiceError):
    status = 429

    def __init__(self, limit: int, used: int, needed: int, cached: int) -> None:
        super().__init__(
            f"the daily lookup budget is spent: HLR_DAILY_LIMIT allows {limit} numbers a day "
            f"(UTC), {used} are used and {needed} more would be needed; nothing was looked up. "
            f"{cached} of the numbers have cached answers and can still be asked for alone; "
            "the budget renews at midnight UTC"
        )
        self.limit = limit
        self.used = used
        self.needed = needed


class LookupFailed(ServiceError):
    def __init__(self, detail: str, *, status: int) -> None:
        super().__init__(detail, status=status)


@dataclass(frozen=True, slots=True)
class LookupPolicy:
    batch_size: int
    cache_hours: float
    daily_limit: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "LookupPolicy":
        return cls(settings.hlr_batch_size, settings.hlr_cache_hours, settings.hlr_daily_limit)


def resolve_number(raw: str, region: str | None, field: str = "number") -> str:
    try:
        return resolve_msisdn(raw, region)
    except InvalidPhoneNumber as exc:
        shown = raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "..."
        raise InvalidLookup(f"{field}: {shown!r} {exc.reason}") from None


def resolve_numbers(
    numbers: Sequence[str], region: str | None, field: str = "numbers"
) -> list[str]:
    """E.164 form of each number, each once, in the order given; 422 naming a bad one."""
    if not numbers:
        raise InvalidLookup(f"{field}: must hold at least one number")
    resolved: dict[str, None] = {}
    for index, raw in enumerate(numbers):
        resolved.setdefault(resolve_number(raw, region, f"{field}[{index}]"))
    return list(resolved)


async def look_up(
    engine: AsyncEngine,
    mobivate: MobivateClient | None,
    policy: LookupPolicy,
    msisdns: Sequence[str],
    *,
    now: datetime | None = None,
) -> dict[str, Answer]:
    """An answer for every number (E.164, each once): cached, or from Mobivate."""
    now = now or utcnow()
    answers = await store.load_fresh(engine, msisdns, now - timedelta(hours=policy.cache_hours))
    missing = [msisdn for msisdn in msisdns if msisdn not in answers]
    if not missing:
        return answers
    if mobivate is None:
        raise LookupsDisabled()
    day = now.date().isoformat()
    if await store.take_budget(engine, day, len(missing), policy.daily_limit) is None:
        used = await store.used_on(engine, day)
        raise BudgetExhausted(policy.daily_limit, used, len(missing), len(answers))
    chunks = [
        missing[start : start + policy.batch_size]
        for start in range(0, len(missing), policy.batch_size)
    ]
    gate = asyncio.Semaphore(CALLS_IN_FLIGHT)

    async def call(chunk: list[str]) -> HlrLookup | MobivateError:
        async with gate:
            try:
                return await mobivate.hlr_lookup([mobivate_digits(msisdn) for msisdn in chunk])
            except MobivateError as exc:
                return exc

    outcomes = await asyncio.gather(*(call(chunk) for chunk in chunks))
    fresh: list[Answer] = []
    failures: list[tuple[list[str], MobivateError]] = []
    answered_at = utcnow()
    for chunk, outcome in zip(chunks, outcomes, strict=True):
        if isinstance(outcome, MobivateError):
            failures.append((chunk, outcome))
            continue
        matched = match_results([mobivate_digits(msisdn) for msisdn in chunk], outcome)
        for msisdn in chunk:
            result = matched.get(mobivate_digits(msisdn))
            answers[msisdn] = (
                _answer(msisdn, result, outcome.batch_id, answered_at)
                if result is not None
                else _no_answer(msisdn)
            )
            if result is not None and answers[msisdn].reachable is not None:
                fresh.append(answers[msisdn])
    await store.keep(engine, fresh)
    if failures:
        await store.give_back(engine, day, sum(len(chunk) for chunk, _ in failures))
        raise _failed(failures, len(chunks))
    return answers


def _answer(msisdn: str, result: HlrResult, batch_id: str | None, answered_at: datetime) -> Answer:
    network = result.network
    return Answer(
        msisdn=msisdn,
        reachable=is_reachable(result),
        network=network.network_name if network else None,
        country=network.country_name if network else None,
        ported=result.ported,
        status=_wire(result.status),
        error=_wire(result.error),
        mobivate_batch_id=batch_id,
        looked_up_at=answered_at,
    )


def _no_answer(msisdn: str) -> Answer:
    return Answer(msisdn, None, None, None, None, None, None, None, None)


def _wire(value: HlrStatus | None) -> dict[str, Any] | None:
    return None if value is None else value.model_dump(by_alias=True, exclude_none=True)


def _failed(failures: list[tuple[list[str], MobivateError]], calls: int) -> LookupFailed:
    numbers = sum(len(chunk) for chunk, _ in failures)
    error = failures[0][1]
    logger.warning("HLR lookup: %d of %d calls failed: %s", len(failures), calls, error)
    if isinstance(error, MobivateAuthError):
        what = f"Mobivate refused the service's API key (HTTP {error.status_code}: {error.message})"
    else:
        what = f"Mobivate failed: {error}"
    unreachable = isinstance(error, MobivateUnavailable) and error.reason in UNREACHABLE
    return LookupFailed(
        f"{what}; {len(failures)} of {calls} lookup calls failed and {numbers} numbers were not "
        "looked up (nor counted against HLR_DAILY_LIMIT); answers from the other calls are "
        "cached: ask again",
        status=503 if unreachable else 502,
    )
