"""STOP, START and HELP in incoming messages, recorded in the transaction that stores them.

Each newly stored incoming message whose sender is a phone number is classified by the keyword
rules (`app.optouts.keywords`); a match becomes an event in the opt-out registry, keyed by the
message, so a redelivered STOP never makes a second entry. The event time is the time Mobivate
gives for the message, or the time it reached us when Mobivate gives none. HELP is recorded here;
the replies (HELP_REPLY_TEXT, STOP_CONFIRMATION_TEXT) are sent by `app.sending.replies`.
"""

from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.mobivate.vocabulary import WebhookKind
from app.optouts.keywords import KeywordIntent, KeywordRules
from app.optouts.registry import Action, OptoutChange, record_changes
from app.webhooks.ingest import StoredEvent

_ACTIONS: dict[KeywordIntent, Action] = {
    KeywordIntent.OPT_OUT: "opt_out",
    KeywordIntent.OPT_IN: "opt_in",
    KeywordIntent.HELP: "help",
}


class IncomingKeywords:
    """The opt-out ingest step: keywords recorded in the transaction that stores the messages,
    then a wake-up for the outbox worker once the pushes it wrote are committed."""

    def __init__(self, rules: KeywordRules, wake: Callable[[], None]) -> None:
        self._rules = rules
        self._wake = wake

    @classmethod
    def from_settings(cls, settings: Settings, wake: Callable[[], None]) -> "IncomingKeywords":
        rules = KeywordRules.from_csv(
            settings.optout_keywords, settings.optin_keywords, settings.help_keywords
        )
        return cls(rules, wake)

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        changes = []
        for stored in events:
            if stored.kind is not WebhookKind.INCOMING or not stored.row.get("msisdn"):
                continue
            match = self._rules.classify(stored.row.get("body"))
            action = _ACTIONS.get(match.intent)
            if action is None:
                continue
            changes.append(
                OptoutChange(
                    msisdn=stored.row["msisdn"],
                    action=action,
                    source="incoming_sms",
                    event_at=stored.row.get("event_at") or stored.row["received_at"],
                    keyword=match.keyword,
                    incoming_message_id=stored.id,
                    dedupe_key=f"incoming:{stored.row['dedupe_key']}",
                )
            )
        await record_changes(conn, changes)

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        if any(stored.kind is WebhookKind.INCOMING for stored in events):
            self._wake()
