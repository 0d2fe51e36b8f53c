"""The lists of stored webhook events: receipts, incoming messages and clicks.

Receipts and incoming messages are ordered and windowed on `occurred_at` (Mobivate's event time,
or when it reached us if Mobivate gave none); clicks, which carry no event time, on
`received_at`. Receipts carry no phone number: `msisdn` and `batch_id` come from the sent message
the receipt was linked to, so receipts not (yet) linked to one of our messages have no number.
`batch_id` selects the events that carry a Mobivate batch id our batch was sent as.
"""

from typing import Any

from sqlalchemy import ColumnElement, Table, false, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.filters import ClickQuery, IncomingQuery, ReceiptQuery, WebhookListQuery
from app.api.list_queries import ListSpec
from app.core.tables import (
    BATCHES,
    CLICKS,
    RECEIPTS,
)
from app.core.tables import INCOMING_MESSAGES as INCOMING
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.mobivate.vocabulary import normalise_id


def _with_message(table: Table) -> Any:
    return table.outerjoin(MESSAGES, MESSAGES.c.id == table.c.outbound_message_id)


RECEIPT_COLUMNS = [
    RECEIPTS.c.id,
    RECEIPTS.c.occurred_at,
    RECEIPTS.c.event_at,
    RECEIPTS.c.received_at,
    RECEIPTS.c.status,
    RECEIPTS.c.status_code,
    MESSAGES.c.msisdn,
    RECEIPTS.c.message_id_norm.label("mobivate_id"),
    RECEIPTS.c.batch_id_norm.label("mobivate_batch_id"),
    RECEIPTS.c.client_reference.label("reference"),
    RECEIPTS.c.parts,
    RECEIPTS.c.part,
    RECEIPTS.c.outbound_message_id.label("message_id"),
    MESSAGES.c.batch_id,
    RECEIPTS.c.hlr_reachable,
    RECEIPTS.c.hlr_network,
    RECEIPTS.c.hlr_country,
    RECEIPTS.c.hlr_ported,
    RECEIPTS.c.hlr_mcc_mnc,
]
RECEIPT_SPEC = ListSpec.of(
    RECEIPT_COLUMNS, _with_message(RECEIPTS), RECEIPTS.c.occurred_at, RECEIPTS.c.id
)

INCOMING_COLUMNS = [
    INCOMING.c.id,
    INCOMING.c.occurred_at,
    INCOMING.c.event_at,
    INCOMING.c.received_at,
    INCOMING.c.msisdn,
    INCOMING.c.originator,
    INCOMING.c.recipient,
    INCOMING.c.body,
    INCOMING.c.mobivate_id_norm.label("mobivate_id"),
    INCOMING.c.in_reply_to_norm.label("in_reply_to"),
    INCOMING.c.batch_id_norm.label("mobivate_batch_id"),
    INCOMING.c.outbound_message_id.label("message_id"),
    MESSAGES.c.batch_id,
]
INCOMING_SPEC = ListSpec.of(
    INCOMING_COLUMNS, _with_message(INCOMING), INCOMING.c.occurred_at, INCOMING.c.id
)

CLICK_COLUMNS = [
    CLICKS.c.id,
    CLICKS.c.received_at.label("occurred_at"),
    CLICKS.c.msisdn,
    CLICKS.c.url,
    CLICKS.c.message_id_norm.label("mobivate_id"),
    CLICKS.c.batch_id_norm.label("mobivate_batch_id"),
    CLICKS.c.client_ref.label("reference"),
    CLICKS.c.browser,
    CLICKS.c.os,
    CLICKS.c.country,
    CLICKS.c.iso2l,
    CLICKS.c.ip_address,
    CLICKS.c.outbound_message_id.label("message_id"),
    MESSAGES.c.batch_id,
]
CLICK_SPEC = ListSpec.of(CLICK_COLUMNS, _with_message(CLICKS), CLICKS.c.received_at, CLICKS.c.id)


async def batch_filter(engine: AsyncEngine, table: Table, batch_id: int) -> ColumnElement[bool]:
    """Events of one of our batches: those carrying one of the Mobivate batch ids it was sent
    as (a batch goes to Mobivate in chunks of 1,000), answered from the batch_id_norm index."""
    async with engine.connect() as conn:
        sent_as = await conn.scalar(
            select(BATCHES.c.mobivate_batch_ids).where(BATCHES.c.id == batch_id)
        )
    norms = sorted({norm for norm in map(normalise_id, sent_as or ()) if norm})
    return table.c.batch_id_norm.in_(norms) if norms else false()


async def _shared(
    engine: AsyncEngine, table: Table, query: WebhookListQuery, msisdn: Any, mobivate_id: Any
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.msisdn is not None:
        where.append(msisdn == query.msisdn)
    if query.mobivate_id is not None:
        where.append(mobivate_id == query.mobivate_id)
    if query.mobivate_batch_id is not None:
        where.append(table.c.batch_id_norm == query.mobivate_batch_id)
    if query.message_id is not None:
        where.append(table.c.outbound_message_id == query.message_id)
    if query.batch_id is not None:
        where.append(await batch_filter(engine, table, query.batch_id))
    return where


async def receipt_filters(engine: AsyncEngine, query: ReceiptQuery) -> list[ColumnElement[bool]]:
    where = await _shared(engine, RECEIPTS, query, MESSAGES.c.msisdn, RECEIPTS.c.message_id_norm)
    if query.status is not None:
        where.append(RECEIPTS.c.status == query.status)
    if query.status_code is not None:
        where.append(RECEIPTS.c.status_code == query.status_code)
    if query.reference is not None:
        where.append(RECEIPTS.c.client_reference == query.reference)
    for name in ("hlr_network", "hlr_country", "hlr_ported", "hlr_reachable"):
        value = getattr(query, name)
        if value is not None:
            where.append(RECEIPTS.c[name] == value)
    return where


async def incoming_filters(engine: AsyncEngine, query: IncomingQuery) -> list[ColumnElement[bool]]:
    return await _shared(engine, INCOMING, query, INCOMING.c.msisdn, INCOMING.c.mobivate_id_norm)


async def click_filters(engine: AsyncEngine, query: ClickQuery) -> list[ColumnElement[bool]]:
    where = await _shared(engine, CLICKS, query, CLICKS.c.msisdn, CLICKS.c.message_id_norm)
    if query.reference is not None:
        where.append(CLICKS.c.client_ref == query.reference)
    return where
