"""What sending one message and sending a campaign share: the one path a send request takes
(sending configured, its Idempotency-Key, exactly one run), the rows they store, how a
submission outcome becomes a message's status, and what Mobivate's refusals mean for the caller.

A message's status starts as `submitting`; Mobivate's answer makes it `submitted`, `refused` or
`submit_failed` unless a receipt has already set a status (a receipt can arrive before Mobivate's
answer to the send). Failures are final; `submit_unknown` (a batch call that may or may not have
reached Mobivate) is not: reconciliation looks for it in Mobivate's log.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.core.errors import ServiceError
from app.core.tables import OPTOUTS
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.status_rules import (
    REFUSED,
    SUBMIT_FAILED,
    SUBMIT_UNKNOWN,
    SUBMITTED,
    SUBMITTING,
)
from app.delivery.transitions import note_transitions
from app.mobivate.client import MobivateClient
from app.mobivate.errors import (
    MobivateAuthError,
    MobivateError,
    MobivateOptedOut,
    MobivateRefused,
    MobivateUnavailable,
)
from app.sending.idempotency import Attempt, Idempotency, Reply, check_key
from app.sending.validation import (
    Outgoing,
)

logger = logging.getLogger(__name__)


class SendingDisabled(ServiceError):
    status = 503

    def __init__(self) -> None:
        super().__init__("sending is not configured: set MOBIVATE_API_KEY")


def new_reference() -> str:
    return uuid.uuid4().hex


def mobivate_failure(exc: MobivateError) -> tuple[int, str, str]:
    """(HTTP status for our caller, submission outcome, what went wrong) for a failed send."""
    if isinstance(exc, MobivateUnavailable):
        status = HTTPStatus.BAD_GATEWAY if exc.status_code else HTTPStatus.SERVICE_UNAVAILABLE
        return status, SUBMIT_FAILED, str(exc)
    assert isinstance(exc, MobivateRefused)
    if isinstance(exc, MobivateOptedOut):
        status = HTTPStatus.CONFLICT
    elif isinstance(exc, MobivateAuthError):
        status = HTTPStatus.BAD_GATEWAY
    elif exc.status_code == HTTPStatus.PAYMENT_REQUIRED:
        status = HTTPStatus.PAYMENT_REQUIRED
    else:
        status = HTTPStatus.UNPROCESSABLE_ENTITY
    return status, REFUSED, exc.message


def failure_detail(exc: MobivateError, what: str) -> str:
    if isinstance(exc, MobivateAuthError):
        return (
            f"Mobivate refused the service's API key (HTTP {exc.status_code}: {exc.message}); "
            f"the {what} was not sent: the operator must check MOBIVATE_API_KEY"
        )
    if isinstance(exc, MobivateRefused):
        return f"Mobivate refused the {what} (HTTP {exc.status_code}): {exc.message}"
    return f"Mobivate could not be reached or failed; the {what} was not sent: {exc}"


async def optout_reasons(conn: AsyncConnection, numbers: Iterable[str]) -> dict[str, str]:
    """A sentence per opted-out number saying when and how it opted out."""
    wanted = sorted(set(numbers))
    reasons: dict[str, str] = {}
    for start in range(0, len(wanted), 10_000):
        rows = await conn.execute(
            select(
                OPTOUTS.c.msisdn,
                OPTOUTS.c.changed_at,
                OPTOUTS.c.source,
                OPTOUTS.c.keyword,
                OPTOUTS.c.reason,
            ).where(OPTOUTS.c.msisdn.in_(wanted[start : start + 10_000]))
        )
        for msisdn, changed_at, source, keyword, reason in rows.all():
            how = f"by {source.replace('_', ' ')}"
            if keyword:
                how += f" (keyword {keyword})"
            if reason:
                how += f": {reason}"
            reasons[msisdn] = f"opted out on {changed_at:%Y-%m-%d %H:%M} UTC {how}"
    return reasons


def message_row(
    message: Outgoing,
    *,
    route_id: str,
    shorten_urls: bool,
    schedule_at: datetime | None,
    now: datetime,
    batch_id: int | None = None,
) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "msisdn": message.msisdn,
        "originator": message.originator,
        "body": message.text,
        "route_id": route_id,
        "reference": message.reference or new_reference(),
        "encoding": message.encoding,
        "parts": message.parts,
        "shorten_urls": shorten_urls,
        "schedule_at": schedule_at,
        "submission": SUBMITTING,
        "status": SUBMITTING,
        "status_at": now,
        "status_rank": 0,
        "final": False,
        "created_at": now,
        "updated_at": now,
    }


def local_status(outcome: str, now: datetime) -> dict[str, Any]:
    """Column values making a submission outcome the status, unless a receipt has set one (a
    receipt can arrive before Mobivate's answer to the send). Failures are final."""
    no_receipt = MESSAGES.c.status_receipt_id.is_(None)
    values: dict[str, Any] = {
        "submission": outcome,
        "status": case((no_receipt, outcome), else_=MESSAGES.c.status),
        "status_at": case((no_receipt, now), else_=MESSAGES.c.status_at),
        "submitted_at": now,
        "updated_at": now,
    }
    if outcome not in (SUBMITTED, SUBMIT_UNKNOWN):
        values["final"] = case((no_receipt, True), else_=MESSAGES.c.final)
    return values


async def record_submission(
    conn: AsyncConnection,
    message_ids: list[int],
    outcome: str,
    now: datetime,
    **values: Any,
) -> None:
    """Apply a submission outcome (see `local_status`) and other column values to messages."""
    result = await conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(message_ids))
        .values(**local_status(outcome, now), **values)
        .returning(MESSAGES.c.status_receipt_id)
    )
    moved = sum(1 for (receipt_id,) in result.all() if receipt_id is None)
    note_transitions(conn, [(SUBMITTING, outcome)] * moved)


Work = Callable[[MobivateClient, Attempt], Awaitable[Reply]]


async def submit(
    engine: AsyncEngine,
    settings: Settings,
    mobivate: MobivateClient | None,
    *,
    endpoint: str,
    idempotency_key: str | None,
    caller: str,
    body: dict[str, Any],
    work: Work,
) -> Reply:
    """Run `work` once for this request: refused while sending is not configured, replayed for
    a repeated Idempotency-Key of the same `caller` (a token's fingerprint; see
    `app.sending.idempotency`)."""
    key = None if idempotency_key is None else check_key(idempotency_key)
    if mobivate is None:
        raise SendingDisabled()
    idempotency = Idempotency(
        engine,
        ttl_hours=settings.idempotency_ttl_hours,
        wait_seconds=settings.idempotency_wait_seconds,
        poll_seconds=settings.idempotency_poll_seconds,
    )

    async def run(attempt: Attempt) -> Reply:
        return await work(mobivate, attempt)

    return await idempotency.run_once(key, f"{endpoint} {caller}", body, run)
