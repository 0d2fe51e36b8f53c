"""Checks on a message before it goes to Mobivate, each failing with a message naming the field.

Recipients are resolved to E.164 (`app.core.phone.resolve_msisdn`, with DEFAULT_REGION), the
form the opt-out registry keeps: a number that cannot be resolved, or that reads two ways, is
refused with the reason. Originators are 1 to 11 letters, digits or spaces (at least one of them
not a space), or 1 to 15 digits (Mobivate's limits). Text must not be empty or only whitespace,
nor need more than MAX_MESSAGE_PARTS SMS parts, nor hold control characters
(`app.core.text_rules`). `schedule_at` needs a timezone and must be in the future.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from app.core.errors import ServiceError
from app.core.phone import InvalidPhoneNumber, resolve_msisdn
from app.core.sms_text import analyse
from app.core.text_rules import PROBLEM, has_forbidden

_ALPHANUMERIC = re.compile(r"[A-Za-z0-9 ]{1,11}")
_NUMERIC = re.compile(r"[0-9]{1,15}")
MAX_REFERENCE = 255
MAX_ROUTE_ID = 64


class InvalidSend(ServiceError):
    status = 422

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message, checked and ready to be stored and sent."""

    msisdn: str
    originator: str
    text: str
    reference: str | None
    encoding: str
    parts: int


def check_recipient(value: str, field: str = "to", region: str | None = None) -> str:
    _check_characters(value, field)
    try:
        return resolve_msisdn(value, region)
    except InvalidPhoneNumber as exc:
        raise InvalidSend(field, f"{value!r} {exc.reason}") from None


def check_originator(value: str | None, field: str = "originator") -> str:
    if value is None:
        raise InvalidSend(field, "is required: send one or set DEFAULT_ORIGINATOR")
    if _NUMERIC.fullmatch(value):
        return value
    if value.isdigit():
        raise InvalidSend(field, f"{value!r} is a number of {len(value)} digits; at most 15")
    if not _ALPHANUMERIC.fullmatch(value) or not value.strip():
        raise InvalidSend(
            field,
            f"{value!r} is not a sender id: use at most 11 letters, digits or spaces, "
            "or at most 15 digits",
        )
    return value


def check_text(value: str, field: str = "text") -> str:
    if not value.strip():
        raise InvalidSend(field, "must not be empty")
    _check_characters(value, field)
    return value


def _check_characters(value: str, field: str) -> None:
    if has_forbidden(value):
        raise InvalidSend(field, PROBLEM)


def check_reference(value: str | None, field: str = "reference") -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise InvalidSend(field, "must not be blank; leave it out to get one assigned")
    if len(value) > MAX_REFERENCE:
        raise InvalidSend(field, f"at most {MAX_REFERENCE} characters")
    _check_characters(value, field)
    return value


def check_route(value: str, field: str = "route_id") -> str:
    if not value.strip() or len(value) > MAX_ROUTE_ID:
        raise InvalidSend(field, f"must be 1 to {MAX_ROUTE_ID} characters, e.g. 'mglobal'")
    _check_characters(value, field)
    return value


def check_schedule(value: datetime | None, now: datetime, field: str = "schedule_at") -> None:
    if value is None:
        return
    if value.utcoffset() is None:
        raise InvalidSend(
            field, "needs a timezone, e.g. 2030-01-31T09:00:00+00:00 or 2030-01-31T09:00:00Z"
        )
    if value <= now:
        raise InvalidSend(field, "must be in the future")


def check_message(
    to: str,
    text: str,
    originator: str | None,
    reference: str | None,
    *,
    max_parts: int,
    where: str = "",
    region: str | None = None,
) -> Outgoing:
    msisdn = check_recipient(to, f"{where}to", region)
    sender = check_originator(originator, f"{where}originator")
    body = check_text(text, f"{where}text")
    segments = analyse(body)
    if segments.parts > max_parts:
        raise InvalidSend(
            f"{where}text",
            f"{len(body)} characters ({segments.encoding.value}) need {segments.parts} SMS parts; "
            f"at most {max_parts} (MAX_MESSAGE_PARTS)",
        )
    return Outgoing(
        msisdn=msisdn,
        originator=sender,
        text=body,
        reference=check_reference(reference, f"{where}reference"),
        encoding=segments.encoding.value,
        parts=segments.parts,
    )
