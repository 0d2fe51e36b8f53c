"""Sending one message through Mobivate (`POST /api/v1/messages`).

Order of work: check the request (422, nothing stored); claim the Idempotency-Key if one was sent;
refuse an opted-out recipient (409, Mobivate not called); store the message as `submitting` and
commit; call Mobivate once, never retrying (a timeout after Mobivate accepted would otherwise send
twice); record the outcome. No database transaction is open while Mobivate is called.

Outcomes: accepted -> 201 with the stored message; Mobivate refused -> its message with 402
(credit), 409 (recipient opted out at Mobivate), 502 (our API key was refused) or 422 (anything
else it rejected), the message stored as `refused`; Mobivate unreachable or failing -> 503 (no
answer) or 502 (an error or unreadable answer), the message stored as `submit_failed`.
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.core.db import utcnow
from app.core.phone import mask_msisdn
from app.delivery.linking import MESSAGES, MessageRef, link_orphans, wait_for_receipt_writers
from app.delivery.status_rules import REFUSED, SUBMIT_FAILED, SUBMITTED, SUBMITTING
from app.delivery.transitions import note_transitions
from app.mobivate.client import MobivateClient
from app.mobivate.errors import (
    MobivateAuthError,
    MobivateError,
    MobivateOptedOut,
    MobivateRefused,
    MobivateUnavailable,
)
from app.mobivate.models import SingleMessage, normalise_id
from app.optouts.registry import OPTOUTS, is_opted_out
from app.sending.idempotency import Attempt, Idempotency, Reply
from app.sending.schemas import SendMessageRequest
from app.sending.validation import (
    Outgoing,
    check_message,
    check_route,
    check_schedule,
)
from app.sending.views import load_message, message_json

logger = logging.getLogger(__name__)

SINGLE_ENDPOINT = "POST /api/v1/messages"


class SendingDisabled(Exception):
    detail = "sending is not configured: set MOBIVATE_API_KEY"


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


@dataclass(frozen=True, slots=True)
class PreparedSingle:
    message: Outgoing
    route_id: str
    shorten_urls: bool
    schedule_at: datetime | None


def prepare_single(request: SendMessageRequest, settings: Settings) -> PreparedSingle:
    """Every check that needs no database; raises `InvalidSend`."""
    message = check_message(
        request.to,
        request.text,
        request.originator if request.originator is not None else settings.default_originator,
        request.reference,
    )
    check_schedule(request.schedule_at, utcnow())
    route = check_route(
        request.route_id if request.route_id is not None else settings.default_route_id
    )
    return PreparedSingle(message, route, request.shorten_urls, request.schedule_at)


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
    if outcome != SUBMITTED:
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


async def send_single(
    engine: AsyncEngine,
    mobivate: MobivateClient | None,
    idempotency: Idempotency,
    prepared: PreparedSingle,
    key: str | None,
    body: dict[str, Any],
) -> Reply:
    if mobivate is None:
        raise SendingDisabled()

    async def work(attempt: Attempt) -> Reply:
        return await _send(engine, mobivate, prepared, attempt)

    return await idempotency.run_once(key, SINGLE_ENDPOINT, body, work)


async def _send(
    engine: AsyncEngine, mobivate: MobivateClient, prepared: PreparedSingle, attempt: Attempt
) -> Reply:
    message = prepared.message
    if await is_opted_out(engine, [message.msisdn]):
        async with engine.connect() as conn:
            reasons = await optout_reasons(conn, [message.msisdn])
        reason = reasons.get(message.msisdn, "opted out")
        detail = f"recipient {message.msisdn} has {reason}; nothing was sent"
        return Reply(409, {"detail": detail, "to": message.msisdn, "reason": reason})

    now = utcnow()
    row = message_row(
        message,
        route_id=prepared.route_id,
        shorten_urls=prepared.shorten_urls,
        schedule_at=prepared.schedule_at,
        now=now,
    )
    async with engine.begin() as conn:
        inserted = await conn.execute(insert(MESSAGES).values(row).returning(MESSAGES.c.id))
        message_id = inserted.scalar_one()

    outgoing = SingleMessage(
        originator=message.originator,
        recipient=message.msisdn,
        body=message.text,
        route_id=prepared.route_id,
        reference=row["reference"],
        shorten_urls=prepared.shorten_urls or None,
        schedule_date_time=prepared.schedule_at,
    )
    attempt.mobivate_called = True
    try:
        sent = await mobivate.send_single(outgoing)
    except MobivateError as exc:
        status, outcome, error = mobivate_failure(exc)
        logger.warning(
            "message %d to %s not sent: %s", message_id, mask_msisdn(message.msisdn), error
        )
        stored = await _record_failure(engine, message_id, outcome, exc, error)
        detail = failure_detail(exc, "message")
        return Reply(int(status), {"detail": detail, "message": stored})
    stored = await _record_accepted(engine, message_id, sent.id, row["reference"])
    return Reply(201, stored)


async def _record_accepted(
    engine: AsyncEngine, message_id: int, mobivate_id: str, reference: str
) -> dict[str, Any]:
    norm = normalise_id(mobivate_id)
    now = utcnow()
    async with engine.begin() as conn:
        await wait_for_receipt_writers(conn)
        await record_submission(
            conn, [message_id], SUBMITTED, now, mobivate_id=mobivate_id, mobivate_id_norm=norm
        )
        await link_orphans(conn, [MessageRef(message_id, norm, reference, None)])
        row = await load_message(conn, message_id)
    assert row is not None
    return message_json(row)


async def _record_failure(
    engine: AsyncEngine, message_id: int, outcome: str, exc: MobivateError, error: str
) -> dict[str, Any]:
    now = utcnow()
    status_code = (
        exc.status_code if isinstance(exc, MobivateRefused | MobivateUnavailable) else None
    )
    async with engine.begin() as conn:
        await record_submission(
            conn, [message_id], outcome, now, error_status=status_code, error_message=error
        )
        row = await load_message(conn, message_id)
    assert row is not None
    return message_json(row)
