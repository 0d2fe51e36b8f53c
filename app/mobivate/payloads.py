"""Parse Mobivate webhook bodies (API reference §5.5-§5.8) into plain, typed events.

Pure functions: no I/O. Leniency rules, chosen because Mobivate's documentation is thin:

- Content: JSON (``application/json`` with any parameters, ``application/*+json``, ``text/plain``
  or no content type) holding one object or a non-empty array of objects (``parse_webhook_items``
  keeps the good items of an array and reports each bad one; ``parse_webhook`` refuses the whole
  body for one bad item); or, for receipts and
  incoming messages only, a form (``application/x-www-form-urlencoded``, UTF-8) whose ``xml``
  field holds a legacy ``<deliveryreceipt>`` / ``<deliverymessage>`` document. A leading UTF-8
  BOM is ignored. Duplicate JSON keys: the last wins; duplicate XML elements likewise.
- Fields: all optional, ``null`` allowed, unknown ones ignored (callers keep the raw body).
  String fields also take exact integral numbers (``4400000000`` -> ``"4400000000"``);
  integer fields also take integer strings (``" 2 "``) and floats without a fraction, and must
  fit a signed 32-bit integer (a blank string counts as absent). ``hlr`` must be an object
  (at most 32 levels deep) or ``null``.
- Strings: NUL characters are removed everywhere (PostgreSQL refuses them). Ids, status and
  phone numbers are stripped of surrounding whitespace; other text is kept as sent. Blank ids,
  status, phone numbers and client references become ``None``. Status is upper-cased; unknown
  statuses and status codes are kept. Identifier-like fields and ``created`` have length caps
  (see ``_ID`` etc.) matching the database columns.
- ``created``: a string or an epoch number, parsed by :func:`parse_timestamp`; a string it
  cannot parse does not reject the event (``event_at`` is ``None``, ``event_at_raw`` keeps it).

Anything unacceptable raises :class:`PayloadError` (400 malformed, 422 wrong shape) or
:class:`UnsupportedContentType` (415); no other exception escapes, whatever the bytes.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import orjson
from defusedxml import DefusedXmlException

from app.mobivate.timestamps import parse_timestamp
from app.mobivate.vocabulary import WebhookKind, normalise_id

__all__ = [
    "ParsedClick",
    "ParsedEvent",
    "ParsedIncoming",
    "ParsedItems",
    "ParsedReceipt",
    "PayloadError",
    "RejectedItem",
    "UnsupportedContentType",
    "parse_timestamp",
    "parse_webhook",
    "parse_webhook_items",
    "rejected_json",
]


class PayloadError(ValueError):
    """The body cannot be accepted; ``message`` says what is wrong with it."""

    status_code: int
    message: str

    def __init__(self, message: str, *, status_code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class UnsupportedContentType(PayloadError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=415)


@dataclass(frozen=True, slots=True)
class ParsedReceipt:
    delivery_message_id: str | None
    message_id_norm: str | None
    batch_id: str | None
    batch_id_norm: str | None
    client_reference: str | None
    status: str | None
    status_code: int | None
    parts: int | None
    part: int | None
    event_at: datetime | None
    event_at_raw: str | None
    hlr: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ParsedIncoming:
    mobivate_id: str | None
    mobivate_id_norm: str | None
    originator: str | None
    recipient: str | None
    body: str | None
    event_at: datetime | None
    event_at_raw: str | None
    in_reply_to: str | None
    in_reply_to_norm: str | None
    logical_message_id: str | None
    logical_message_id_norm: str | None
    owner_user_id: str | None


@dataclass(frozen=True, slots=True)
class ParsedClick:
    message_id: str | None
    message_id_norm: str | None
    mobile: str | None
    batch_id: str | None
    batch_id_norm: str | None
    client_ref: str | None
    browser: str | None
    country: str | None
    ip_address: str | None
    iso2l: str | None
    os: str | None
    url: str | None


ParsedEvent = ParsedReceipt | ParsedIncoming | ParsedClick


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """One item of a JSON array that could not be parsed: its position (from 0), what is wrong
    with it, and the item itself (as loaded; `rejected_json` writes them back)."""

    index: int
    message: str
    value: object


def rejected_json(rejected: Sequence[RejectedItem]) -> bytes:
    """The rejected items as one JSON array, in one pass. An item nested too deep to write again
    (orjson stops at 255 levels) is written as ``null``: the request's own body still holds it."""
    values = [item.value for item in rejected]
    try:
        return orjson.dumps(values)
    except TypeError:  # orjson.JSONEncodeError is one too
        return b"[" + b",".join(_item_json(value) for value in values) + b"]"


@dataclass(frozen=True, slots=True)
class ParsedItems:
    """The events of a body, and the items of a JSON array body that were rejected."""

    events: list[ParsedEvent]
    rejected: tuple[RejectedItem, ...] = ()


_Fields = Mapping[str, object]

# Length caps keep database index entries small.
_ID, _PHONE, _STATUS, _REF, _LABEL, _CREATED = 128, 64, 64, 255, 255, 64
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_EXACT_FLOAT = 2**53  # larger floats may not be the integer that was sent
_MAX_HLR_DEPTH = 32
_BOM = b"\xef\xbb\xbf"
_FORM = "application/x-www-form-urlencoded"
_XML_ROOTS = {WebhookKind.RECEIPT: "deliveryreceipt", WebhookKind.INCOMING: "deliverymessage"}
_XML_FIELDS = {
    WebhookKind.RECEIPT: frozenset(
        [
            "deliveryMessageId",
            "batchId",
            "clientReference",
            "created",
            "status",
            "statusCode",
            "parts",
            "part",
        ]
    ),
    WebhookKind.INCOMING: frozenset(
        [
            "id",
            "originator",
            "recipient",
            "body",
            "created",
            "inReplyTo",
            "logicalMessageId",
            "ownerUserId",
        ]
    ),
}
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,64}")


def parse_webhook(kind: WebhookKind, body: bytes, content_type: str | None) -> list[ParsedEvent]:
    """Every event of the body; one bad item of an array refuses the whole body."""
    parsed = parse_webhook_items(kind, body, content_type)
    if parsed.rejected:
        first = parsed.rejected[0]
        raise PayloadError(f"item {first.index}: {first.message}")
    return parsed.events


def parse_webhook_items(kind: WebhookKind, body: bytes, content_type: str | None) -> ParsedItems:
    """The events of the body. In a JSON array, an item that cannot be parsed is reported in
    `rejected` and the others are kept; PayloadError when nothing in the body can be used (every
    item of an array rejected: the first one's reason)."""
    if _body_format(kind, content_type) == "form":
        fields = _xml_fields(kind, _form_xml(body))
        return ParsedItems([_in_context("form field 'xml'", _XML_PARSERS[kind], fields)])
    value = _load_json(body)
    parse = _JSON_PARSERS[kind]
    if isinstance(value, dict):
        return ParsedItems([parse(value)])
    if isinstance(value, list) and value:
        return _array_items(parse, value)
    if isinstance(value, list):
        raise PayloadError("body is an empty JSON array; send at least one event object")
    raise PayloadError(
        f"body must be a JSON object or a non-empty array of objects, got {_describe(value)}"
    )


def _body_format(kind: WebhookKind, content_type: str | None) -> Literal["json", "form"]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("", "text/plain", "application/json") or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return "json"
    if media == _FORM:
        if kind == WebhookKind.CLICK:
            raise UnsupportedContentType(
                f"content type {_FORM!r} is not accepted for click notifications; "
                "send application/json"
            )
        return "form"
    raise UnsupportedContentType(
        f"content type {_preview(content_type or '')} is not accepted; send application/json, "
        f"or {_FORM} with an 'xml' field (receipts and incoming messages only)"
    )


def _load_json(body: bytes) -> object:
    try:
        return orjson.loads(body.removeprefix(_BOM))
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}", status_code=400) from None


def _form_xml(body: bytes) -> str:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except ValueError as exc:
        raise PayloadError(f"form body is not valid UTF-8: {exc}", status_code=400) from None
    values = [value for name, value in pairs if name == "xml"]
    if not values:
        raise PayloadError("form field 'xml' is missing")
    return values[-1]


def _xml_fields(kind: WebhookKind, text: str) -> dict[str, object]:
    try:
        root: Element = safe_xml.fromstring(text.replace("\x00", ""), forbid_dtd=True)
    except DefusedXmlException:
        raise PayloadError(
            "form field 'xml' contains a DTD or entity declarations, which are not accepted",
            status_code=400,
        ) from None
    except (ParseError, ValueError) as exc:
        raise PayloadError(
            f"form field 'xml' is not well-formed XML: {exc}", status_code=400
        ) from None
    expected = _XML_ROOTS[kind]
    if root.tag != expected:
        raise PayloadError(
            f"form field 'xml' must have root element <{expected}> for {kind} notifications, "
            f"got <{_preview(root.tag, quote=False)}>"
        )
    fields: dict[str, object] = {}
    for child in root:
        if child.tag not in _XML_FIELDS[kind]:
            continue
        if len(child):
            raise PayloadError(f"form field 'xml': <{child.tag}> must contain text only")
        fields[child.tag] = child.text
    return fields


def _array_items(parse: Callable[[_Fields], ParsedEvent], items: list[object]) -> ParsedItems:
    events: list[ParsedEvent] = []
    rejected: list[RejectedItem] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):  # no exception: an array of junk must stay cheap
            message = f"must be a JSON object, got {_describe(item)}"
            rejected.append(RejectedItem(index, message, item))
            continue
        try:
            events.append(parse(item))
        except PayloadError as exc:
            rejected.append(RejectedItem(index, exc.message, item))
    if not events:
        first = rejected[0]
        raise PayloadError(f"item {first.index}: {first.message}")
    return ParsedItems(events, tuple(rejected))


def _item_json(item: object) -> bytes:
    try:
        return orjson.dumps(item)
    except TypeError:  # orjson.JSONEncodeError is one too
        return b"null"


def _in_context(where: str, parse: Callable[[_Fields], ParsedEvent], value: object) -> ParsedEvent:
    try:
        if not isinstance(value, dict):
            raise PayloadError(f"must be a JSON object, got {_describe(value)}")
        return parse(value)
    except PayloadError as exc:
        if not where:
            raise
        raise PayloadError(f"{where}: {exc.message}", status_code=exc.status_code) from None


def _receipt(fields: _Fields, *, with_part: bool = False) -> ParsedReceipt:
    message_id = _text(fields, "deliveryMessageId", limit=_ID, strip=True)
    batch_id = _text(fields, "batchId", limit=_ID, strip=True)
    event_at, event_at_raw = _created(fields)
    return ParsedReceipt(
        delivery_message_id=message_id,
        message_id_norm=normalise_id(message_id),
        batch_id=batch_id,
        batch_id_norm=normalise_id(batch_id),
        client_reference=_text(fields, "clientReference", limit=_REF, blank_is_none=True),
        status=_text(fields, "status", limit=_STATUS, strip=True, upper=True),
        status_code=_int32(fields, "statusCode"),
        parts=_int32(fields, "parts"),
        part=_int32(fields, "part") if with_part else None,
        event_at=event_at,
        event_at_raw=event_at_raw,
        hlr=_hlr(fields),
    )


def _incoming(fields: _Fields) -> ParsedIncoming:
    mobivate_id = _text(fields, "id", limit=_ID, strip=True)
    in_reply_to = _text(fields, "inReplyTo", limit=_ID, strip=True)
    logical_id = _text(fields, "logicalMessageId", limit=_ID, strip=True)
    event_at, event_at_raw = _created(fields)
    return ParsedIncoming(
        mobivate_id=mobivate_id,
        mobivate_id_norm=normalise_id(mobivate_id),
        originator=_text(fields, "originator", limit=_PHONE, strip=True),
        recipient=_text(fields, "recipient", limit=_PHONE, strip=True),
        body=_text(fields, "body"),
        event_at=event_at,
        event_at_raw=event_at_raw,
        in_reply_to=in_reply_to,
        in_reply_to_norm=normalise_id(in_reply_to),
        logical_message_id=logical_id,
        logical_message_id_norm=normalise_id(logical_id),
        owner_user_id=_text(fields, "ownerUserId", limit=_ID, strip=True),
    )


def _click(fields: _Fields) -> ParsedClick:
    message_id = _text(fields, "messageId", limit=_ID, strip=True)
    batch_id = _text(fields, "batchId", limit=_ID, strip=True)
    return ParsedClick(
        message_id=message_id,
        message_id_norm=normalise_id(message_id),
        mobile=_text(fields, "mobile", limit=_PHONE, strip=True),
        batch_id=batch_id,
        batch_id_norm=normalise_id(batch_id),
        client_ref=_text(fields, "clientRef", limit=_REF, blank_is_none=True),
        browser=_text(fields, "browser", limit=_LABEL),
        country=_text(fields, "country", limit=_LABEL),
        ip_address=_text(fields, "ipAddress", limit=_LABEL),
        iso2l=_text(fields, "iso2l", limit=_LABEL),
        os=_text(fields, "os", limit=_LABEL),
        url=_text(fields, "url"),
    )


_JSON_PARSERS: dict[WebhookKind, Callable[[_Fields], ParsedEvent]] = {
    WebhookKind.RECEIPT: _receipt,
    WebhookKind.INCOMING: _incoming,
    WebhookKind.CLICK: _click,
}
_XML_PARSERS: dict[WebhookKind, Callable[[_Fields], ParsedEvent]] = {
    WebhookKind.RECEIPT: lambda fields: _receipt(fields, with_part=True),
    WebhookKind.INCOMING: _incoming,
}


def _text(
    fields: _Fields,
    name: str,
    *,
    limit: int | None = None,
    strip: bool = False,
    blank_is_none: bool = False,
    upper: bool = False,
) -> str | None:
    """A string field; ``strip`` implies ``blank_is_none``."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        text = value.replace("\x00", "")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT:
        text = str(int(value))
    else:
        raise PayloadError(f"{name!r} must be a string, got {_describe(value)}")
    if strip:
        text = text.strip()
    if (strip or blank_is_none) and not text.strip():
        return None
    if upper:
        text = text.upper()
    if limit is not None and len(text) > limit:
        raise PayloadError(f"{name!r} is too long: {len(text)} characters, at most {limit} allowed")
    return text


def _int32(fields: _Fields, name: str) -> int | None:
    value = fields.get(name)
    if isinstance(value, str):
        value = value.replace("\x00", "").strip() or None
    if value is None:
        return None
    number = _as_int(value)
    if number is None:
        raise PayloadError(f"{name!r} must be an integer, got {_describe(fields.get(name))}")
    if not _INT32_MIN <= number <= _INT32_MAX:
        raise PayloadError(
            f"{name!r} must fit a signed 32-bit integer, got {_describe(fields.get(name))}"
        )
    return number


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    return None


def _created(fields: _Fields) -> tuple[datetime | None, str | None]:
    value = fields.get("created")
    if isinstance(value, bool | dict | list):
        raise PayloadError(
            f"'created' must be a timestamp string or epoch number, got {_describe(value)}"
        )
    if isinstance(value, int | float):
        return parse_timestamp(value), str(value)
    raw = _text(fields, "created", limit=_CREATED, blank_is_none=True)
    return parse_timestamp(raw), raw


def _hlr(fields: _Fields) -> dict[str, Any] | None:
    value = fields.get("hlr")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError(f"'hlr' must be an object or null, got {_describe(value)}")
    cleaned: dict[str, Any] = _without_nul(value, depth=1)
    return cleaned


def _without_nul(value: Any, depth: int) -> Any:
    """A copy of a JSON value without NUL characters in its strings (JSONB refuses them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if not isinstance(value, dict | list):
        return value
    if depth > _MAX_HLR_DEPTH:
        raise PayloadError(f"'hlr' is nested more than {_MAX_HLR_DEPTH} levels deep")
    if isinstance(value, list):
        return [_without_nul(item, depth + 1) for item in value]
    return {key.replace("\x00", ""): _without_nul(item, depth + 1) for key, item in value.items()}


def _describe(value: object) -> str:
    """How a JSON value is named in error messages, e.g. ``string 'abc'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {_preview(repr(value), quote=False)}"
    if isinstance(value, str):
        return f"string {_preview(value)}"
    return "object" if isinstance(value, dict) else "array"


def _preview(text: str, *, quote: bool = True, limit: int = 40) -> str:
    shown = repr(text[:limit]) if quote else text[:limit]
    return shown + ("..." if len(text) > limit else "")
