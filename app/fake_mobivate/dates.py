"""Mobivate's date parameters: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fff]+HHMM`.

Errors copy the wording of the Joda-Time parser behind the real API, e.g.
`Invalid format: "2023-01-011" is malformed at "1"`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone


class MalformedDate(ValueError):
    pass


@dataclass(frozen=True)
class ParsedDate:
    value: datetime
    has_time: bool


class _Malformed(Exception):
    def __init__(self, position: int) -> None:
        self.position = position


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if not self.at_end() else ""

    def literal(self, options: str) -> str:
        char = self.peek()
        if not char or char not in options:
            raise _Malformed(self.pos)
        self.pos += 1
        return char

    def digits(self, least: int, most: int) -> str:
        start = self.pos
        while self.pos - start < most and self.peek().isascii() and self.peek().isdigit():
            self.pos += 1
        if self.pos - start < least:
            raise _Malformed(self.pos)
        return self.text[start : self.pos]


def parse_mobivate_date(text: str) -> ParsedDate:
    """Date-only values mean midnight UTC."""
    cursor = _Cursor(text)
    try:
        fields = _parse(cursor)
    except _Malformed as exc:
        raise MalformedDate(_joda_message(text, exc.position)) from None
    try:
        return _build(fields)
    except ValueError as exc:
        raise MalformedDate(f'Cannot parse "{text}": {exc}') from None


def _parse(cursor: _Cursor) -> dict[str, str]:
    fields = {"year": cursor.digits(4, 4)}
    cursor.literal("-")
    fields["month"] = cursor.digits(2, 2)
    cursor.literal("-")
    fields["day"] = cursor.digits(2, 2)
    if cursor.at_end():
        return fields
    cursor.literal("T")
    fields["hour"] = cursor.digits(2, 2)
    cursor.literal(":")
    fields["minute"] = cursor.digits(2, 2)
    cursor.literal(":")
    fields["second"] = cursor.digits(2, 2)
    if cursor.peek() == ".":
        cursor.literal(".")
        fields["fraction"] = cursor.digits(1, 9)
    sign = cursor.literal("Z+-")
    if sign != "Z":
        fields["sign"] = sign
        fields["offset_hours"] = cursor.digits(2, 2)
        if cursor.peek() == ":":
            cursor.literal(":")
        fields["offset_minutes"] = cursor.digits(2, 2)
    if not cursor.at_end():
        raise _Malformed(cursor.pos)
    return fields


def _build(fields: dict[str, str]) -> ParsedDate:
    year, month, day = int(fields["year"]), int(fields["month"]), int(fields["day"])
    if "hour" not in fields:
        return ParsedDate(datetime(year, month, day, tzinfo=UTC), has_time=False)
    offset = timedelta(
        hours=int(fields.get("offset_hours", "0")), minutes=int(fields.get("offset_minutes", "0"))
    )
    if fields.get("sign") == "-":
        offset = -offset
    value = datetime(
        year,
        month,
        day,
        int(fields["hour"]),
        int(fields["minute"]),
        int(fields["second"]),
        int(fields.get("fraction", "0")[:6].ljust(6, "0")),
        tzinfo=timezone(offset),
    )
    return ParsedDate(value, has_time=True)


def _joda_message(text: str, position: int) -> str:
    if position == 0:
        return f'Invalid format: "{text}"'
    if position >= len(text):
        return f'Invalid format: "{text}" is too short'
    return f'Invalid format: "{text}" is malformed at "{text[position:]}"'
