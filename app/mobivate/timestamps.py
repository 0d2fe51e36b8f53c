"""Lenient parsing of the timestamps Mobivate sends (API reference §5.5.5).

Accepted, always returned as a timezone-aware UTC datetime:

- ISO 8601 date and time with ``T`` or a space between them, optional seconds, optional
  fraction (``.`` or ``,``, up to 9 digits, truncated to microseconds) and an optional offset
  ``Z``/``UTC``/``GMT``, ``+hh``, ``+hhmm`` or ``+hh:mm``. No offset means UTC.
- Epoch numbers (int, float, or a string of ASCII digits): values of magnitude at least 1e11
  are milliseconds, smaller ones seconds.

Anything else (including dates out of datetime's range) gives ``None``; nothing here raises.
"""

import math
import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["parse_timestamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_THRESHOLD = 100_000_000_000  # 1e11: below this an epoch number is taken as seconds
_MAX_TEXT = 64  # longer strings cannot be a timestamp; don't run the regex on them

_EPOCH_TEXT = re.compile(r"[0-9]{1,18}")
_ISO = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[T ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r" ?(?:(?P<utc>Z|UTC|GMT)|(?P<sign>[+-])(?P<off_h>[0-9]{2})(?::?(?P<off_m>[0-9]{2}))?)?",
    re.IGNORECASE | re.ASCII,
)


def parse_timestamp(raw: object) -> datetime | None:
    """Return ``raw`` as an aware UTC datetime, or ``None`` if it is not a usable timestamp."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return _from_epoch(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if len(text) > _MAX_TEXT:
        return None
    if _EPOCH_TEXT.fullmatch(text):
        return _from_epoch(int(text))
    match = _ISO.fullmatch(text)
    return _from_iso(match) if match else None


def _from_epoch(value: float) -> datetime | None:
    if not math.isfinite(value):
        return None
    milliseconds = value if abs(value) >= _MS_THRESHOLD else value * 1000
    try:
        return _EPOCH + timedelta(milliseconds=milliseconds)
    except OverflowError:
        return None


def _from_iso(match: re.Match[str]) -> datetime | None:
    part = match.group
    fraction = (part("fraction") or "0")[:6].ljust(6, "0")
    try:
        tz = UTC
        if part("sign"):
            minutes = int(part("off_m") or 0)
            if minutes >= 60:
                return None
            offset = timedelta(hours=int(part("off_h")), minutes=minutes)
            tz = timezone(-offset if part("sign") == "-" else offset)
        moment = datetime(
            int(part("year")),
            int(part("month")),
            int(part("day")),
            int(part("hour")),
            int(part("minute")),
            int(part("second") or 0),
            int(fraction),
            tzinfo=tz,
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
