"""STOP, START and HELP in incoming messages, recorded in the transaction that stores them.

Each newly stored incoming message with a sender is classified by the keyword rules
(`app.optouts.keywords`); a match becomes an event in the opt-out registry, keyed by the
message, so a redelivered STOP never makes a second entry. The sender is resolved to E.164
(`app.core.phone.resolve_readings`, with DEFAULT_REGION):
- one reading: the event is that number's;
- two readings (bare digits that are both international and national): a STOP opts out both
  numbers, since either may be the person; any other keyword names nobody for sure and is
  recorded against the raw sender, flagged unresolved;
- none: the event is recorded against the raw sender, flagged unresolved, listed by the API and
  counted by the `optouts_unresolved` gauge; never dropped.
The event time is the time Mobivate gives for the message, or the time it reached us when
Mobivate gives none or one further ahead of that than EVENT_TIME_TOLERANCE_SECONDS (the history
entry's reason says so). HELP is recorded here; the replies (HELP_REPLY_TEXT,
STOP_CONFIRMATION_TEXT) are sent by `app.sending.replies`. A reply the rules cannot call either
way goes to the review queue (`app.optouts.review`) instead, in the same transaction.
"""

from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.core.phone import InvalidPhoneNumber, resolve_readings
from app.mobivate.vocabulary import WebhookKind
from app.optouts.keywords import KeywordIntent, KeywordRules
from app.optouts.registry import (
    Action,
    OptoutChange,
    raw_key,
    record_changes,
    trusted_event_time,
)
from app.optouts.review import ReviewItem, queue_reviews
from app.webhooks.ingest import StoredEvent

DEFAULT_TOLERANCE = timedelta(minutes=5)
_ACTIONS: dict[KeywordIntent, Action] = {
    KeywordIntent.OPT_OUT: "opt_out",
    KeywordIntent.OPT_IN: "opt_in",
    KeywordIntent.HELP: "help",
}


class IncomingKeywords:
    """The opt-out ingest step: keywords recorded in the transaction that stores the messages,
    then a wake-up for the outbox worker once the pushes it wrote are committed."""

    def __init__(
        self,
        rules: KeywordRules,
        wake: Callable[[], None],
        region: str | None = None,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        *,
        contacts: bool = False,
    ) -> None:
        self._rules = rules
        self._wake = wake
        self._region = region
        self._tolerance = tolerance
        self._contacts = contacts

    @classmethod
    def from_settings(cls, settings: Settings, wake: Callable[[], None]) -> "IncomingKeywords":
        rules = KeywordRules.from_csv(
            settings.optout_keywords, settings.optin_keywords, settings.help_keywords
        )
        tolerance = timedelta(seconds=settings.event_time_tolerance_seconds)
        return cls(
            rules, wake, settings.default_region, tolerance, contacts=settings.optout_contacts_proxy
        )

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        changes = []
        reviews = []
        for stored in events:
            sender = raw_key(stored.row.get("originator") or "")
            if stored.kind is not WebhookKind.INCOMING or not sender:
                continue
            match = self._rules.classify(stored.row.get("body"))
            if match.intent is KeywordIntent.REVIEW and match.keyword is not None:
                reviews.append(
                    ReviewItem(
                        msisdn=stored.row["msisdn"],
                        body=stored.row.get("body") or "",
                        keyword=match.keyword,
                        occurred_at=stored.row.get("event_at") or stored.row["received_at"],
                        incoming_message_id=stored.id,
                        dedupe_key=f"incoming:{stored.row['dedupe_key']}",
                    )
                )
                continue
            action = _ACTIONS.get(match.intent)
            if action is None:
                continue
            event_at, note = trusted_event_time(
                stored.row.get("event_at"), stored.row["received_at"], self._tolerance
            )
            keys = self._keys(sender, action)
            for msisdn, unresolved in keys:
                # One event per number read from the sender.
                suffix = f":{msisdn}" if len(keys) > 1 else ""
                changes.append(
                    OptoutChange(
                        msisdn=msisdn,
                        action=action,
                        source="incoming_sms",
                        event_at=event_at,
                        keyword=match.keyword,
                        reason=note,
                        incoming_message_id=stored.id,
                        unresolved=unresolved,
                        written_as=sender,
                        dedupe_key=f"incoming:{stored.row['dedupe_key']}{suffix}",
                    )
                )
        await record_changes(conn, changes, contacts=self._contacts)
        await queue_reviews(conn, reviews)

    def _keys(self, sender: str, action: Action) -> list[tuple[str, bool]]:
        """(registry key, unresolved) of each number the event is recorded against."""
        try:
            readings = resolve_readings(sender, self._region)
        except InvalidPhoneNumber:
            return [(sender, True)]
        if len(readings) == 1 or action == "opt_out":
            return [(reading, False) for reading in readings]
        return [(sender, True)]

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        if any(stored.kind is WebhookKind.INCOMING for stored in events):
            self._wake()
