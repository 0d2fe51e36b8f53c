"""Following sent messages: linking receipts, replies and clicks to them, keeping their status.

Matching: a receipt or click belongs to the message with the same normalised Mobivate id, else to
the message with its client reference (a message whose Mobivate id or batch id is known and
differs is never chosen; among several, one of the same Mobivate batch, then the newest). A reply
belongs to the message its `inReplyTo` names.

Status: each link is applied with the rule of `app.delivery.status_rules` through a guarded UPDATE
that only ever moves a message's status key forward, so concurrent writers cannot make it go back.

Everything here runs inside the caller's transaction with a fixed number of statements per call,
whatever the number of events: it is on the webhook hot path (an after-store hook of the ingest
writer). A receipt that matches nothing stays unlinked; it is linked when the message's Mobivate
id is recorded (`link_orphans`). The two must meet whichever commits first, at no cost to the hot
path: the transaction recording an id first takes `receipts` in SHARE mode
(`wait_for_receipt_writers`), which waits for every transaction that is inserting receipts (they
hold ROW EXCLUSIVE) and holds back new ones until it commits. So a receipt stored earlier is seen
by `link_orphans`, and one stored later finds the id. SQLite runs one writer at a time: no lock.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import IN_LIST_CHUNK, chunked, utcnow
from app.core.tables import CLICKS, RECEIPTS
from app.core.tables import INCOMING_MESSAGES as INCOMING
from app.delivery import linking_sql as delivery_sql
from app.delivery.status_rules import DELIVERED, Phase, ReceiptFacts, best_receipt, status_name
from app.delivery.transitions import note_transitions
from app.mobivate.vocabulary import STATUS_CODES, WebhookKind
from app.webhooks.ingest import StoredEvent

RECEIPT_WRITERS_WAIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class MessageRef:
    id: int
    mobivate_id_norm: str | None
    reference: str | None
    mobivate_batch_id_norm: str | None


@dataclass(frozen=True, slots=True)
class LinkedReceipt:
    facts: ReceiptFacts
    parts: int | None
    message_id_norm: str | None
    delivery_message_id: str | None


class Matcher:
    def __init__(self, messages: Iterable[MessageRef]) -> None:
        self._by_norm: dict[str, MessageRef] = {}
        self._by_reference: dict[str, list[MessageRef]] = defaultdict(list)
        for message in sorted(messages, key=lambda m: m.id):
            if message.mobivate_id_norm:
                self._by_norm[message.mobivate_id_norm] = message
            if message.reference:
                self._by_reference[message.reference].append(message)

    def match(self, norm: str | None, reference: str | None, batch_norm: str | None) -> int | None:
        if norm and norm in self._by_norm:
            return self._by_norm[norm].id
        if not reference:
            return None
        options = [
            m
            for m in self._by_reference.get(reference, ())
            if _compatible(m.mobivate_id_norm, norm)
            and _compatible(m.mobivate_batch_id_norm, batch_norm)
        ]
        same_batch = [m for m in options if batch_norm and m.mobivate_batch_id_norm == batch_norm]
        chosen = same_batch or options
        return chosen[-1].id if chosen else None


def _compatible(known: str | None, reported: str | None) -> bool:
    return known is None or reported is None or known == reported


async def wait_for_receipt_writers(conn: AsyncConnection) -> bool:
    """Call first in a transaction that records Mobivate ids, before `link_orphans`. False when
    the wait timed out (e.g. behind a VACUUM): linking then may miss a receipt stored at the same
    moment, which reconciliation links later."""
    return await delivery_sql.lock_receipts(conn, RECEIPT_WRITERS_WAIT_SECONDS)


class DeliveryLinking:
    """The delivery ingest step: link newly stored receipts, replies and clicks to the messages
    they report on, and apply the receipts to those messages' statuses."""

    async def after_store(self, conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
        await link_events(conn, events)

    def after_commit(self, events: Sequence[StoredEvent]) -> None:
        pass


async def link_events(conn: AsyncConnection, events: Sequence[StoredEvent]) -> None:
    norms: set[str] = set()
    references: set[str] = set()
    for event in events:
        row = event.row
        if event.kind is WebhookKind.RECEIPT:
            _add(norms, row["message_id_norm"])
            _add(references, row["client_reference"])
        elif event.kind is WebhookKind.INCOMING:
            _add(norms, row["in_reply_to_norm"])
        else:
            _add(norms, row["message_id_norm"])
            _add(references, row["client_ref"])
    if not norms and not references:
        return
    candidates = await find_messages(conn, norms, references)
    if not candidates:
        return
    matcher = Matcher(candidates)
    receipts: dict[int, list[LinkedReceipt]] = defaultdict(list)
    links: dict[WebhookKind, list[tuple[int, int]]] = defaultdict(list)
    for event in events:
        row = event.row
        if event.kind is WebhookKind.RECEIPT:
            target = matcher.match(
                row["message_id_norm"], row["client_reference"], row["batch_id_norm"]
            )
            if target is not None:
                receipts[target].append(_linked(event.id, row))
        elif event.kind is WebhookKind.INCOMING:
            target = matcher.match(row["in_reply_to_norm"], None, None)
        else:
            target = matcher.match(row["message_id_norm"], row["client_ref"], row["batch_id_norm"])
        if target is not None:
            links[event.kind].append((event.id, target))
    tables = {
        WebhookKind.RECEIPT: RECEIPTS,
        WebhookKind.INCOMING: INCOMING,
        WebhookKind.CLICK: CLICKS,
    }
    for kind, pairs in links.items():
        await link_rows(conn, tables[kind], pairs)
    await apply_receipts(conn, receipts)


def _add(values: set[str], value: str | None) -> None:
    if value:
        values.add(value)


def _linked(receipt_id: int, row: dict[str, Any]) -> LinkedReceipt:
    return LinkedReceipt(
        ReceiptFacts(
            receipt_id, row["status"], row["status_code"], row["event_at"], row["received_at"]
        ),
        row["parts"],
        row["message_id_norm"],
        row["delivery_message_id"],
    )


async def find_messages(
    conn: AsyncConnection, norms: Iterable[str], references: Iterable[str]
) -> list[MessageRef]:
    norm_list, reference_list = sorted(norms), sorted(references)
    if not norm_list and not reference_list:
        return []
    rows = await delivery_sql.find_messages(conn, norm_list, reference_list)
    return [MessageRef(*row) for row in rows]


async def link_rows(conn: AsyncConnection, table: Table, pairs: Sequence[tuple[int, int]]) -> None:
    await delivery_sql.set_links(conn, table, pairs)


async def apply_receipts(
    conn: AsyncConnection,
    receipts: dict[int, list[LinkedReceipt]],
    *,
    now: datetime | None = None,
) -> None:
    """Make the best of each message's new receipts its status, unless it already has a status
    with a greater key. Messages are updated in id order so concurrent writers cannot deadlock."""
    now = now or utcnow()
    parameters = []
    for message_id in sorted(receipts):
        linked = receipts[message_id]
        best = best_receipt([receipt.facts for receipt in linked])
        if best is None:
            continue
        facts, key = best
        winner = next(receipt for receipt in linked if receipt.facts is facts)
        name = status_name(facts.status, facts.status_code)
        parameters.append(
            {
                "s_id": message_id,
                "s_status": name,
                "s_status_code": facts.status_code
                if facts.status_code is not None
                else STATUS_CODES.get(name or ""),
                "s_at": key.at,
                "s_rank": int(key.phase),
                "s_receipt_id": facts.receipt_id,
                "s_final": key.phase is Phase.FINAL,
                "s_delivered_at": key.at if name == DELIVERED else None,
                "s_parts": winner.parts,
                "s_mobivate_id": winner.delivery_message_id,
                "s_norm": winner.message_id_norm,
                "s_now": now,
            }
        )
    note_transitions(conn, await delivery_sql.apply_statuses(conn, parameters))


_RECEIPT_COLUMNS = (
    RECEIPTS.c.id,
    RECEIPTS.c.status,
    RECEIPTS.c.status_code,
    RECEIPTS.c.event_at,
    RECEIPTS.c.received_at,
    RECEIPTS.c.parts,
    RECEIPTS.c.message_id_norm,
    RECEIPTS.c.delivery_message_id,
    RECEIPTS.c.client_reference,
    RECEIPTS.c.batch_id_norm,
)


async def link_orphans(conn: AsyncConnection, messages: Sequence[MessageRef]) -> int:
    """Link receipts, replies and clicks stored before these messages could be recognised, and
    apply the receipts. Call with the link lock held exclusively. Returns receipts linked."""
    matcher = Matcher(messages)
    norms = sorted({m.mobivate_id_norm for m in messages if m.mobivate_id_norm})
    references = sorted({m.reference for m in messages if m.reference})
    if not norms and not references:
        return 0
    receipts: dict[int, list[LinkedReceipt]] = defaultdict(list)
    receipt_links: list[tuple[int, int]] = []
    found: dict[int, Any] = {}
    for column, values in (
        (RECEIPTS.c.message_id_norm, norms),
        (RECEIPTS.c.client_reference, references),
    ):
        for chunk in chunked(values, IN_LIST_CHUNK):
            rows = await conn.execute(
                select(*_RECEIPT_COLUMNS).where(
                    RECEIPTS.c.outbound_message_id.is_(None), column.in_(chunk)
                )
            )
            found.update((row["id"], row) for row in rows.mappings())
    for row in sorted(found.values(), key=lambda row: int(row["id"])):
        target = matcher.match(
            row["message_id_norm"], row["client_reference"], row["batch_id_norm"]
        )
        if target is not None:
            receipts[target].append(_linked(row["id"], dict(row)))
            receipt_links.append((row["id"], target))
    await link_rows(conn, RECEIPTS, receipt_links)
    await apply_receipts(conn, receipts)
    if norms:
        await _link_by_norm(conn, INCOMING, INCOMING.c.in_reply_to_norm, matcher, norms)
        await _link_by_norm(conn, CLICKS, CLICKS.c.message_id_norm, matcher, norms)
    return len(receipt_links)


async def _link_by_norm(
    conn: AsyncConnection, table: Table, column: Any, matcher: Matcher, norms: list[str]
) -> None:
    found: list[Any] = []
    for chunk in chunked(norms, IN_LIST_CHUNK):
        rows = await conn.execute(
            select(table.c.id, column).where(
                table.c.outbound_message_id.is_(None), column.in_(chunk)
            )
        )
        found.extend(rows.all())
    pairs = []
    for event_id, norm in found:
        target = matcher.match(norm, None, None)
        if target is not None:
            pairs.append((event_id, target))
    await link_rows(conn, table, pairs)
