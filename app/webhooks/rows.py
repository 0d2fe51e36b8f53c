"""Typed rows for parsed webhook events, each with the key that makes a redelivery a duplicate.

De-duplication rules (a redelivery is stored once):
- receipt: same normalised Mobivate message id, status code (or status name when the code is
  missing) and event time (`created`); without a message id, every field must match;
- incoming message: same normalised Mobivate id; without an id, every field must match;
- click: the same fields (the payload has no id and no timestamp) received within the same
  click de-duplication window (`CLICK_DEDUPE_WINDOW_SECONDS`, windows aligned to the UTC epoch).

Senders of incoming messages and numbers of clicks get `msisdn`: their E.164
(`app.core.phone.resolve_readings`, with DEFAULT_REGION), or None when there is none or two.

Text in the rows loses the characters no database holds or that forge log lines
(`app.core.text_rules`: NUL and other control characters but tab and line breaks); the dedupe key
is computed before, and the raw body keeps them.

Receipts and incoming messages also get `occurred_at`: Mobivate's event time, or the time the
event reached us when Mobivate gave none it could parse. The REST API orders and filters on it.
"""

import hashlib
import uuid
from dataclasses import astuple
from datetime import datetime
from typing import Any

from app.core.phone import InvalidPhoneNumber, resolve_readings
from app.core.text_rules import without_forbidden
from app.mobivate.hlr import is_reachable, receipt_hlr
from app.mobivate.payloads import ParsedClick, ParsedEvent, ParsedIncoming, ParsedReceipt

Row = dict[str, Any]


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _msisdn_or_none(raw: str | None, region: str | None) -> str | None:
    if raw is None:
        return None
    try:
        readings = resolve_readings(raw, region)
    except InvalidPhoneNumber:
        return None
    return readings[0] if len(readings) == 1 else None


def receipt_dedupe_key(event: ParsedReceipt) -> str:
    if event.message_id_norm:
        status = event.status_code if event.status_code is not None else event.status
        when = event.event_at.isoformat() if event.event_at else event.event_at_raw
        return _digest("receipt", event.message_id_norm, status, when)
    return _digest("receipt-fields", *astuple(event))


def incoming_dedupe_key(event: ParsedIncoming) -> str:
    if event.mobivate_id_norm:
        return _digest("incoming", event.mobivate_id_norm)
    return _digest("incoming-fields", *astuple(event))


def click_dedupe_key(event: ParsedClick, received_at: datetime, window_seconds: int) -> str:
    window = int(received_at.timestamp()) // window_seconds
    return _digest("click", window_seconds, window, *astuple(event))


def receipt_row(event: ParsedReceipt, request_id: uuid.UUID | None, received_at: datetime) -> Row:
    return {
        "request_id": request_id,
        "source": "webhook",
        "dedupe_key": receipt_dedupe_key(event),
        "received_at": received_at,
        "event_at": event.event_at,
        "event_at_raw": event.event_at_raw,
        "occurred_at": event.event_at or received_at,
        "delivery_message_id": event.delivery_message_id,
        "message_id_norm": event.message_id_norm,
        "batch_id": event.batch_id,
        "batch_id_norm": event.batch_id_norm,
        "client_reference": event.client_reference,
        "status": event.status,
        "status_code": event.status_code,
        "parts": event.parts,
        "part": event.part,
        "hlr": event.hlr,
        **hlr_columns(event.hlr),
    }


def hlr_columns(hlr: dict[str, Any] | None) -> Row:
    """The queryable columns of a receipt's `hlr` object (all None when it says nothing)."""
    result = receipt_hlr(hlr)
    network = result.network if result is not None else None
    return {
        "hlr_reachable": is_reachable(result) if result is not None else None,
        "hlr_network": _clip(network.network_name if network else None, 255),
        "hlr_country": _clip(network.country_name if network else None, 255),
        "hlr_ported": result.ported if result is not None else None,
        "hlr_mcc_mnc": _clip(result.mcc_mnc if result is not None else None, 16),
    }


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def incoming_row(
    event: ParsedIncoming,
    request_id: uuid.UUID | None,
    received_at: datetime,
    region: str | None = None,
) -> Row:
    return {
        "request_id": request_id,
        "dedupe_key": incoming_dedupe_key(event),
        "received_at": received_at,
        "event_at": event.event_at,
        "event_at_raw": event.event_at_raw,
        "occurred_at": event.event_at or received_at,
        "mobivate_id": event.mobivate_id,
        "mobivate_id_norm": event.mobivate_id_norm,
        "originator": event.originator,
        "msisdn": _msisdn_or_none(event.originator, region),
        "recipient": event.recipient,
        "body": event.body,
        "in_reply_to": event.in_reply_to,
        "in_reply_to_norm": event.in_reply_to_norm,
        "logical_message_id": event.logical_message_id,
        "batch_id_norm": event.logical_message_id_norm,
        "owner_user_id": event.owner_user_id,
    }


def click_row(
    event: ParsedClick,
    request_id: uuid.UUID | None,
    received_at: datetime,
    window_seconds: int,
    region: str | None = None,
) -> Row:
    return {
        "request_id": request_id,
        "dedupe_key": click_dedupe_key(event, received_at, window_seconds),
        "received_at": received_at,
        "message_id": event.message_id,
        "message_id_norm": event.message_id_norm,
        "mobile": event.mobile,
        "msisdn": _msisdn_or_none(event.mobile, region),
        "batch_id": event.batch_id,
        "batch_id_norm": event.batch_id_norm,
        "client_ref": event.client_ref,
        "browser": event.browser,
        "country": event.country,
        "ip_address": event.ip_address,
        "iso2l": event.iso2l,
        "os": event.os,
        "url": event.url,
    }


def event_row(
    event: ParsedEvent,
    request_id: uuid.UUID | None,
    received_at: datetime,
    click_window_seconds: int,
    region: str | None = None,
) -> Row:
    if isinstance(event, ParsedReceipt):
        row = receipt_row(event, request_id, received_at)
    elif isinstance(event, ParsedIncoming):
        row = incoming_row(event, request_id, received_at, region)
    else:
        row = click_row(event, request_id, received_at, click_window_seconds, region)
    return {key: cleaned(value) for key, value in row.items()}


def cleaned(value: Any) -> Any:
    """`value` with the forbidden characters removed from every string in it (JSON included)."""
    if isinstance(value, str):
        return without_forbidden(value)
    if isinstance(value, dict):
        return {cleaned(key): cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cleaned(item) for item in value]
    return value
