"""Checking a campaign (`POST /api/v1/batches`).

A problem with the batch as a whole (no messages, too many, a bad default originator or schedule,
a caller reference used twice) refuses the request: those checks are cheap and made before the
batch is stored (`check_batch`). A problem with one message leaves that message out, reported by
its index with reason `invalid` (`check_items`); resolving a number costs ~60 µs (a 100,000-message
batch: ~6 s), so a batch sent for real has its messages checked in the background
(`app.sending.planning`), a dry run at once. Opt-outs, duplicates and numbers unreachable by
lookup are left out later, in `app.sending.recipients`, because they need the database.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.config import Settings
from app.core.db import utcnow
from app.core.text_rules import without_forbidden
from app.mobivate.models import MAX_BATCH_SIZE
from app.sending.schemas import SendBatchRequest
from app.sending.validation import (
    InvalidSend,
    Outgoing,
    check_message,
    check_originator,
    check_route,
    check_schedule,
)


@dataclass(slots=True)
class PreparedBatch:
    name: str | None
    route_id: str
    schedule_at: datetime | None
    spread_hours: int | None
    shorten_urls: bool
    exclude_duplicates: bool
    verify_numbers: bool
    requested: int
    # Messages per call to Mobivate (BATCH_CHUNK_SIZE).
    chunk_size: int = MAX_BATCH_SIZE
    # The originator of messages that name none (the batch's, else DEFAULT_ORIGINATOR).
    originator: str | None = None
    items: list[tuple[int, Outgoing, str]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


# A message as posted: (to, text, originator, reference).
RawItem = tuple[str, str, str | None, str | None]


def raw_items(request: SendBatchRequest) -> list[RawItem]:
    return [(m.to, m.text, m.originator, m.reference) for m in request.messages]


def check_batch(request: SendBatchRequest, settings: Settings) -> PreparedBatch:
    """Checks of the batch as a whole; raises `InvalidSend`. Its messages are not checked."""
    count = len(request.messages)
    if count == 0:
        raise InvalidSend("messages", "must hold at least one message")
    if count > settings.batch_max_messages:
        raise InvalidSend(
            "messages",
            f"holds {count} messages; at most {settings.batch_max_messages} per request "
            "(BATCH_MAX_MESSAGES): split the campaign",
        )
    if request.originator is not None:
        check_originator(request.originator)
    check_schedule(request.schedule_at, utcnow())
    first_use: dict[str, int] = {}
    for index, item in enumerate(request.messages):
        if item.reference is not None and item.reference in first_use:
            raise InvalidSend(
                f"messages[{index}].reference",
                f"{item.reference!r} is also the reference of messages[{first_use[item.reference]}]"
                "; references must be unique within a batch",
            )
        if item.reference is not None:
            first_use[item.reference] = index
    return PreparedBatch(
        name=request.name,
        route_id=check_route(request.route_id or settings.default_route_id),
        schedule_at=request.schedule_at,
        spread_hours=request.spread_hours,
        shorten_urls=request.shorten_urls,
        exclude_duplicates=request.exclude_duplicates,
        verify_numbers=request.verify_numbers,
        requested=count,
        chunk_size=settings.batch_chunk_size,
        originator=request.originator or settings.default_originator,
    )


def check_items(
    items: Iterable[tuple[int, RawItem]],
    default_originator: str | None,
    *,
    max_parts: int,
    region: str | None,
) -> tuple[list[tuple[int, Outgoing, str]], list[dict[str, Any]]]:
    """The messages that pass the checks, as (index, message, `to` as posted), and those left
    out as `invalid`."""
    kept: list[tuple[int, Outgoing, str]] = []
    skipped: list[dict[str, Any]] = []
    for index, (to, text, originator, reference) in items:
        try:
            message = check_message(
                to,
                text,
                originator or default_originator,
                reference,
                max_parts=max_parts,
                where=f"messages[{index}].",
                region=region,
            )
        except InvalidSend as exc:
            skipped.append(skip(index, to, "invalid", exc.detail))
            continue
        kept.append((index, message, to))
    return kept, skipped


def prepare_batch(request: SendBatchRequest, settings: Settings) -> PreparedBatch:
    """`check_batch` and every message checked (a dry run)."""
    prepared = check_batch(request, settings)
    prepared.items, prepared.skipped = check_items(
        enumerate(raw_items(request)),
        prepared.originator,
        max_parts=settings.max_message_parts,
        region=settings.default_region,
    )
    return prepared


def skip(index: int, to: str, reason: str, detail: str) -> dict[str, Any]:
    """A message left out; kept with the batch, so `to` loses characters no database holds."""
    return {"index": index, "to": without_forbidden(to), "reason": reason, "detail": detail}
