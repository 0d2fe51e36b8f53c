"""The replies US carriers expect from a program that takes SMS replies (CTIA Messaging
Principles; TCPA): a HELP auto-reply and a one-time STOP confirmation, both off until their
texts are set (HELP_REPLY_TEXT, STOP_CONFIRMATION_TEXT).

Rules:
- They go through the one sending path (`app.sending.single`, its checks, the message stored
  and tracked like any other), from the number or sender id the person wrote to, or
  DEFAULT_ORIGINATOR when that cannot be a sender.
- The STOP confirmation is the only message ever sent to an opted-out number, and only for the
  opt-out it confirms: when that STOP is still the number's newest opt-out or opt-in and the
  number was not opted out already before it (a repeated STOP is not a new opt-out). Its
  `Idempotency-Key`, `stop-confirmation:<opt-out event id>`, makes it at most one per opt-out,
  even across replicas; its reference, the same text, tells the opt-out audit
  (`app.optouts.audit`) which opt-out it confirms. The HELP reply is an ordinary send: never to
  an opted-out number.
- They are sent after the incoming message is committed, for replies to messages that
  happened within the last REPLY_MAX_AGE (so reprocessing old webhook bodies never answers a
  STOP from last week). A reply lost to a crash at that moment is not sent later: a missing
  courtesy text is better than a late one.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.core.db import utcnow
from app.core.phone import mask_msisdn
from app.core.tables import INCOMING_MESSAGES as INCOMING
from app.core.tables import OPTOUT_EVENTS as EVENTS
from app.mobivate.client import MobivateClient
from app.mobivate.vocabulary import WebhookKind
from app.optouts.audit import confirmation_reference
from app.sending.idempotency import Attempt
from app.sending.schemas import SendMessageRequest
from app.sending.single import prepare_single, send_single
from app.sending.submission import submit
from app.sending.validation import InvalidSend
from app.webhooks.ingest import StoredEvent

logger = logging.getLogger(__name__)

REPLY_MAX_AGE = timedelta(hours=1)
ENDPOINT = "auto-reply"
CALLER = "service"


@dataclass(frozen=True, slots=True)
class Request:
    event_id: int
    msisdn: str
    action: str
    event_at: datetime
    wrote_to: str | None


class AutoReplies:
    """The ingest step that answers HELP and confirms STOP once the messages are committed."""

    def __init__(
        self, engine: AsyncEngine, settings: Settings, mobivate: MobivateClient | None
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._mobivate = mobivate
        self._texts = {
            "help": settings.help_reply_text,
            "opt_out": settings.stop_confirmation_text,
        }
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self._mobivate is not None and any(self._texts.values())

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        return None

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        ids = [stored.id for stored in events if stored.kind is WebhookKind.INCOMING]
        if ids and self.enabled:
            task = asyncio.create_task(self.reply_to(ids), name="auto-replies")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Let replies under way finish (a few seconds at most)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    async def reply_to(self, incoming_ids: Sequence[int]) -> None:
        try:
            for request in await self._requests(incoming_ids):
                await self._reply(request)
        except Exception:
            logger.exception("auto-replies: could not answer incoming messages")

    async def _requests(self, incoming_ids: Sequence[int]) -> list[Request]:
        wanted = [action for action, text in self._texts.items() if text]
        statement = (
            select(
                EVENTS.c.id,
                EVENTS.c.msisdn,
                EVENTS.c.action,
                EVENTS.c.event_at,
                INCOMING.c.recipient,
            )
            .join(INCOMING, INCOMING.c.id == EVENTS.c.incoming_message_id)
            .where(
                EVENTS.c.incoming_message_id.in_(incoming_ids),
                EVENTS.c.source == "incoming_sms",
                EVENTS.c.action.in_(wanted),
                EVENTS.c.event_at >= utcnow() - REPLY_MAX_AGE,
            )
            .order_by(EVENTS.c.id)
        )
        async with self._engine.connect() as conn:
            return [Request(*row) for row in await conn.execute(statement)]

    async def _reply(self, request: Request) -> None:
        confirming = request.action == "opt_out"
        if confirming and not await self._new_optout(request):
            return
        text = self._texts[request.action]
        mobivate = self._mobivate
        if text is None or mobivate is None:
            return
        reference = confirmation_reference(request.event_id) if confirming else None
        try:
            prepared = prepare_single(
                self._message(request, text, request.wrote_to, reference), self._settings
            )
        except InvalidSend:
            prepared = prepare_single(self._message(request, text, None, reference), self._settings)
        kind = "stop-confirmation" if confirming else "help-reply"

        async def work(client: MobivateClient, attempt: Attempt) -> Any:
            return await send_single(
                self._engine, client, prepared, attempt, exempt_from_optout=confirming
            )

        reply = await submit(
            self._engine,
            self._settings,
            mobivate,
            endpoint=ENDPOINT,
            idempotency_key=f"{kind}:{request.event_id}",
            caller=CALLER,
            body={"event": request.event_id},
            work=work,
        )
        outcome = "sent" if reply.status == 201 else f"not sent ({reply.status})"
        if reply.replayed:
            outcome = "already sent"
        logger.info("auto-replies: %s to %s %s", kind, mask_msisdn(request.msisdn), outcome)

    @staticmethod
    def _message(
        request: Request, text: str, originator: str | None, reference: str | None
    ) -> SendMessageRequest:
        return SendMessageRequest(
            to=request.msisdn, text=text, originator=originator, reference=reference
        )

    async def _new_optout(self, request: Request) -> bool:
        """The STOP is the number's newest change and the number was opted in before it."""
        statement = (
            select(EVENTS.c.id, EVENTS.c.action)
            .where(EVENTS.c.msisdn == request.msisdn, EVENTS.c.action != "help")
            .order_by(EVENTS.c.event_at.desc(), EVENTS.c.id.desc())
            .limit(2)
        )
        async with self._engine.connect() as conn:
            newest = (await conn.execute(statement)).all()
        if not newest or newest[0].id != request.event_id:
            return False
        return len(newest) == 1 or newest[1].action != "opt_out"
