"""The audit of the promise: every message sent to a person while that person was opted out.

A message counts as sent unless Mobivate refused it or it never reached Mobivate (submission
`refused` or `submit_failed`); the time of a send is when it was stored, just before Mobivate was
called. A person was opted out at that time when their newest opt-out or opt-in event before it
(by event time; at the same time an opt-out first, then the one recorded later, as the registry
orders them) is an opt-out. Mobivate dates replies to the second, so a reply dated in the second
of the send may have come before or after it: such an event counts only if the service had
recorded it before the send. People are compared by E.164, so every spelling of a number
is one person. The one message the promise allows after a STOP, the optional confirmation of that
very opt-out (`app.sending.replies`), carries the reference `confirmation_reference(event id)` and
is not counted against the opt-out it confirms; against any other it is. Nor is a send counted
against the opt-out Mobivate's refusal or receipt of that very send taught (`app.optouts.learned`):
it is the send's outcome, not something known before it. The expected answer is
empty; `mobivate-hooks audit-optouts` exits 1 otherwise.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.tables import OPTOUT_EVENTS as EVENTS
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.optouts.learned import learned_from

NOT_SENT = ("refused", "submit_failed")
# Numbers per `IN (...)`, below both backends' parameter limits.
_CHUNK = 5000


def confirmation_reference(optout_event_id: int) -> str:
    """The reference of the message that confirms opt-out event `optout_event_id`."""
    return f"stop-confirmation:{optout_event_id}"


@dataclass(frozen=True, slots=True)
class SendAfterOptout:
    message_id: int
    msisdn: str
    batch_id: int | None
    sent_at: datetime
    status: str
    optout_event_id: int
    opted_out_at: datetime
    optout_source: str


@dataclass(frozen=True, slots=True)
class _Change:
    event_at: datetime
    wins_a_tie: int
    id: int
    opted_out: bool
    source: str
    recorded_at: datetime
    learned_from: int | None

    def known_at(self, sent_at: datetime) -> bool:
        """Whether this change came before a send at `sent_at` (see the module docstring)."""
        second = sent_at - timedelta(microseconds=sent_at.microsecond)
        return self.event_at < second or (self.event_at <= sent_at and self.recorded_at <= sent_at)


async def sends_after_optout(
    engine: AsyncEngine, since: datetime, limit: int | None = None
) -> list[SendAfterOptout]:
    """Sends at or after `since` to a person opted out at the time, oldest first."""
    async with engine.connect() as conn:
        numbers = list(
            (
                await conn.execute(
                    select(EVENTS.c.msisdn).where(EVENTS.c.action == "opt_out").distinct()
                )
            ).scalars()
        )
        found: list[SendAfterOptout] = []
        for start in range(0, len(numbers), _CHUNK):
            found.extend(await _in_chunk(conn, numbers[start : start + _CHUNK], since))
    found.sort(key=lambda send: (send.sent_at, send.message_id))
    return found if limit is None else found[:limit]


async def _in_chunk(
    conn: AsyncConnection, numbers: Sequence[str], since: datetime
) -> list[SendAfterOptout]:
    sends = (
        await conn.execute(
            select(
                MESSAGES.c.id,
                MESSAGES.c.msisdn,
                MESSAGES.c.batch_id,
                MESSAGES.c.created_at,
                MESSAGES.c.status,
                MESSAGES.c.reference,
            ).where(
                MESSAGES.c.msisdn.in_(numbers),
                MESSAGES.c.created_at >= since,
                MESSAGES.c.submission.not_in(NOT_SENT),
            )
        )
    ).all()
    if not sends:
        return []
    history: dict[str, list[_Change]] = {}
    rows = await conn.execute(
        select(
            EVENTS.c.msisdn,
            EVENTS.c.event_at,
            EVENTS.c.id,
            EVENTS.c.action,
            EVENTS.c.source,
            EVENTS.c.recorded_at,
            EVENTS.c.dedupe_key,
        ).where(
            EVENTS.c.msisdn.in_({send.msisdn for send in sends}),
            EVENTS.c.action.in_(("opt_out", "opt_in")),
        )
    )
    for msisdn, event_at, event_id, action, source, recorded_at, dedupe_key in rows:
        opted_out = action == "opt_out"
        change = _Change(
            event_at,
            int(opted_out),
            event_id,
            opted_out,
            source,
            recorded_at,
            learned_from(dedupe_key) if source == "mobivate" else None,
        )
        history.setdefault(msisdn, []).append(change)
    for changes in history.values():
        changes.sort(key=lambda change: (change.event_at, change.wins_a_tie, change.id))
    found = []
    for message_id, msisdn, batch_id, sent_at, status, reference in sends:
        known = [
            change
            for change in history.get(msisdn, [])
            if change.known_at(sent_at) and change.learned_from != message_id
        ]
        if not known:
            continue
        last = known[-1]
        if last.opted_out and reference != confirmation_reference(last.id):
            found.append(
                SendAfterOptout(
                    message_id,
                    msisdn,
                    batch_id,
                    sent_at,
                    status,
                    last.id,
                    last.event_at,
                    last.source,
                )
            )
    return found
