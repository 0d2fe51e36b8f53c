"""Sending one message through Mobivate (`POST /api/v1/messages`).

Order of work: check the request (422, nothing stored); claim the Idempotency-Key if one was sent;
refuse an opted-out recipient (409, Mobivate not called); store the message as `submitting` and
commit; call Mobivate once, never retrying (a timeout after Mobivate accepted would otherwise send
twice); record the outcome. No database transaction is open while Mobivate is called.

Outcomes: accepted -> 201 with the stored message; Mobivate refused -> its message with 402
(credit), 409 (recipient opted out at Mobivate), 502 (our API key was refused) or 422 (anything
else it rejected), the message stored as `refused` (a recipient Mobivate refused as opted out is
opted out here too, so the next send is refused before Mobivate is called); Mobivate unreachable
or failing -> 503 (no answer) or 502 (an error or unreadable answer), the message stored as
`submit_failed`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.core.db import utcnow
from app.core.phone import mask_msisdn, mobivate_digits
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.linking import MessageRef, link_orphans, wait_for_receipt_writers
from app.delivery.status_rules import SUBMITTED
from app.mobivate.client import MobivateClient
from app.mobivate.errors import (
    MobivateError,
    MobivateOptedOut,
    MobivateRefused,
    MobivateUnavailable,
)
from app.mobivate.models import SingleMessage
from app.mobivate.vocabulary import normalise_id
from app.optouts.learned import learn_from_receipts, refusal_change
from app.optouts.registry import is_opted_out, record_changes
from app.sending.idempotency import Attempt, Reply
from app.sending.schemas import SendMessageRequest
from app.sending.submission import (
    failure_detail,
    message_row,
    mobivate_failure,
    optout_reasons,
    record_submission,
)
from app.sending.validation import (
    Outgoing,
    check_message,
    check_route,
    check_schedule,
)
from app.sending.views import load_message, message_json

logger = logging.getLogger(__name__)

SINGLE_ENDPOINT = "POST /api/v1/messages"


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
        region=settings.default_region,
        max_parts=settings.max_message_parts,
    )
    check_schedule(request.schedule_at, utcnow())
    route = check_route(
        request.route_id if request.route_id is not None else settings.default_route_id
    )
    return PreparedSingle(message, route, request.shorten_urls, request.schedule_at)


async def send_single(
    engine: AsyncEngine,
    mobivate: MobivateClient,
    prepared: PreparedSingle,
    attempt: Attempt,
    *,
    exempt_from_optout: bool = False,
) -> Reply:
    """`exempt_from_optout` only for the confirmation of an opt-out (`app.sending.replies`)."""
    message = prepared.message
    if not exempt_from_optout and await is_opted_out(engine, [message.msisdn]):
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
        recipient=mobivate_digits(message.msisdn),
        body=message.text,
        route_id=prepared.route_id,
        reference=row["reference"],
        shorten_urls=prepared.shorten_urls or None,
        schedule_date_time=prepared.schedule_at,
        exclude_optouts=False if exempt_from_optout else None,
    )
    attempt.mobivate_called = True
    try:
        sent = await mobivate.send_single(outgoing)
    except MobivateError as exc:
        status, outcome, error = mobivate_failure(exc)
        logger.warning(
            "message %d to %s not sent: %s", message_id, mask_msisdn(message.msisdn), error
        )
        stored = await _record_failure(engine, message_id, message.msisdn, outcome, exc, error)
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
        await learn_from_receipts(conn, message_ids=[message_id])
        row = await load_message(conn, message_id)
    assert row is not None
    return message_json(row)


async def _record_failure(
    engine: AsyncEngine,
    message_id: int,
    msisdn: str,
    outcome: str,
    exc: MobivateError,
    error: str,
) -> dict[str, Any]:
    """The failure, and, when Mobivate refused the recipient as opted out, the opt-out it
    told us about (`app.optouts.learned`)."""
    now = utcnow()
    status_code = (
        exc.status_code if isinstance(exc, MobivateRefused | MobivateUnavailable) else None
    )
    async with engine.begin() as conn:
        await record_submission(
            conn, [message_id], outcome, now, error_status=status_code, error_message=error
        )
        if isinstance(exc, MobivateOptedOut):
            await record_changes(conn, [refusal_change(msisdn, message_id, exc.message, now)])
        row = await load_message(conn, message_id)
    assert row is not None
    return message_json(row)
