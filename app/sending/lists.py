"""The lists of what we sent: messages and batches, newest first by creation time.

Messages are windowed and ordered on `created_at` (index `(created_at, id)`); filters on a
number, a reference, a Mobivate id or a batch use their own indexes and match few rows, and the
status filters match large shares of recent messages, found quickly walking back in time.
"""

from typing import Any

from sqlalchemy import ColumnElement, and_

from app.api.filters import BatchQuery, MessageQuery
from app.api.list_queries import Item, ListSpec
from app.core.tables import BATCHES
from app.core.tables import OUTBOUND_MESSAGES as MESSAGES
from app.delivery.status_rules import DELIVERED
from app.sending.views import message_json

MESSAGE_SPEC = ListSpec.of(list(MESSAGES.c), MESSAGES, MESSAGES.c.created_at, MESSAGES.c.id)
BATCH_COLUMNS = [
    BATCHES.c.id,
    BATCHES.c.name,
    BATCHES.c.state,
    BATCHES.c.route_id,
    BATCHES.c.schedule_at,
    BATCHES.c.requested,
    BATCHES.c.mobivate_batch_ids,
    BATCHES.c.error_status,
    BATCHES.c.error_message,
    BATCHES.c.created_at,
]
BATCH_SPEC = ListSpec.of(BATCH_COLUMNS, BATCHES, BATCHES.c.created_at, BATCHES.c.id)


def message_filters(query: MessageQuery) -> list[ColumnElement[bool]]:
    columns = MESSAGES.c
    where: list[ColumnElement[bool]] = []
    equal: dict[str, Any] = {
        "msisdn": query.msisdn,
        "mobivate_id_norm": query.mobivate_id,
        "mobivate_batch_id_norm": query.mobivate_batch_id,
        "batch_id": query.batch_id,
        "reference": query.reference,
    }
    where.extend(columns[name] == value for name, value in equal.items() if value is not None)
    if query.status is not None:
        # Mobivate's statuses are upper case, ours (submitted, refused, ...) lower case.
        spellings = {query.status, query.status.upper(), query.status.lower()}
        where.append(columns.status.in_(sorted(spellings)))
    if query.final is not None:
        where.append(columns.final.is_(query.final))
    if query.status_group == "delivered":
        where.append(columns.status == DELIVERED)
    elif query.status_group == "failed":
        where.append(and_(columns.final.is_(True), columns.status != DELIVERED))
    elif query.status_group == "pending":
        where.append(columns.final.is_(False))
    return where


def batch_filters(query: BatchQuery) -> list[ColumnElement[bool]]:
    return [] if query.state is None else [BATCHES.c.state == query.state]


def message_item(row: Item) -> dict[str, Any]:
    return message_json(row)  # type: ignore[arg-type]  # a dict has every key of the row


def batch_item(row: Item) -> dict[str, Any]:
    error = None
    if row["error_message"] is not None:
        error = {"mobivate_status": row["error_status"], "message": row["error_message"]}
    return {
        "id": row["id"],
        "name": row["name"],
        "state": row["state"],
        "route_id": row["route_id"],
        "schedule_at": row["schedule_at"],
        "requested": row["requested"],
        "mobivate_batch_ids": list(row["mobivate_batch_ids"]),
        "error": error,
        "created_at": row["created_at"],
    }
