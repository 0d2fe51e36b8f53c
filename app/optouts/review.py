"""The review queue: replies that hold an opt-out keyword but are not confidently an opt-out
(`KeywordIntent.REVIEW`, see `app.optouts.keywords`), kept until a person decides.

A reply is queued in the transaction that stores it, once however often it is redelivered or
replayed (keyed like its opt-out event would be). A decision takes one call: `opt_out` records the
reply as the opt-out it was (source `incoming_sms`, at the time the reply was sent, so the
newest-event rule holds against a START sent after it) and queues its push to Mobivate;
`dismiss` records nothing in the registry. Either moves the review out of `pending` with a
guarded UPDATE, so two operators deciding at once cannot both win: the second gets
`ReviewDecided`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.db import utcnow
from app.core.errors import ServiceError
from app.core.tables import OPTOUT_REVIEWS as REVIEWS
from app.core.tables import OPTOUTS
from app.optouts.registry import OptoutChange, record_changes

Decision = Literal["opt_out", "dismiss"]
_STATE_OF: dict[Decision, str] = {"opt_out": "opted_out", "dismiss": "dismissed"}


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A reply to queue, from the ingest step."""

    msisdn: str
    body: str
    keyword: str
    occurred_at: datetime
    incoming_message_id: int
    dedupe_key: str


class ReviewNotFound(ServiceError):
    status = 404

    def __init__(self, review_id: int) -> None:
        super().__init__(f"no reply with id {review_id} is in the review queue")


class ReviewDecided(ServiceError):
    status = 409

    def __init__(self, review_id: int, state: str, decided_at: datetime | None) -> None:
        when = f" at {decided_at:%Y-%m-%d %H:%M:%S} UTC" if decided_at else ""
        super().__init__(
            f"review {review_id} was already decided ({state}{when}); nothing was changed"
        )


async def queue_reviews(conn: AsyncConnection, items: Sequence[ReviewItem]) -> None:
    """In the caller's transaction; an item already queued is left as it is."""
    if not items:
        return
    now = utcnow()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    rows = [
        {
            "msisdn": item.msisdn,
            "incoming_message_id": item.incoming_message_id,
            "body": item.body,
            "keyword": item.keyword,
            "occurred_at": item.occurred_at,
            "state": "pending",
            "reason": None,
            "dedupe_key": item.dedupe_key,
            "created_at": now,
            "decided_at": None,
        }
        for item in items
    ]
    statement = dialect.insert(REVIEWS).on_conflict_do_nothing(index_elements=["dedupe_key"])
    await conn.execute(statement, rows)


async def decide(
    engine: AsyncEngine,
    review_id: int,
    decision: Decision,
    *,
    reason: str | None = None,
    on_commit: Callable[[], None] | None = None,
    contacts: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Resolve a pending review; returns it and whether its number is opted out now. Raises
    ReviewNotFound or ReviewDecided."""
    now = utcnow()
    async with engine.begin() as conn:
        moved = await conn.execute(
            update(REVIEWS)
            .where(REVIEWS.c.id == review_id, REVIEWS.c.state == "pending")
            .values(state=_STATE_OF[decision], reason=reason, decided_at=now)
            .returning(*REVIEWS.c)
        )
        row = moved.mappings().first()
        if row is None:
            current = (
                (await conn.execute(select(REVIEWS).where(REVIEWS.c.id == review_id)))
                .mappings()
                .first()
            )
            if current is None:
                raise ReviewNotFound(review_id)
            raise ReviewDecided(review_id, current["state"], current["decided_at"])
        pushes = 0
        if decision == "opt_out":
            confirmed = "confirmed from the review queue" + (f": {reason}" if reason else "")
            result = await record_changes(
                conn,
                [
                    OptoutChange(
                        msisdn=row["msisdn"],
                        action="opt_out",
                        source="incoming_sms",
                        event_at=row["occurred_at"],
                        keyword=row["keyword"],
                        reason=confirmed,
                        incoming_message_id=row["incoming_message_id"],
                        dedupe_key=f"review:{review_id}",
                    )
                ],
                now=now,
                contacts=contacts,
            )
            pushes = result.pushes
        opted_out = await conn.scalar(
            select(OPTOUTS.c.opted_out).where(OPTOUTS.c.msisdn == row["msisdn"])
        )
    if pushes and on_commit is not None:
        on_commit()
    return dict(row), bool(opted_out)
