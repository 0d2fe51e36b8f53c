"""How the service writes a time wherever it answers (JSON, CSV, the live feed): ISO 8601 in
UTC ending in `Z`, e.g. `2026-11-22T09:15:02.125000Z`. A naive value is taken as UTC.

Times a caller gives (filters, cursors, schedules) must lie within [EARLIEST, LATEST): both
backends store and compare those, and converting them to UTC or adding a day never leaves the
calendar (`0001-01-01T00:00+14:00` is before year 1 in UTC)."""

from datetime import UTC, datetime
from typing import Annotated

import orjson
from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
RANGE_PROBLEM = "must be between 1900-01-01T00:00:00Z and 9000-01-01T00:00:00Z"


def within_range(value: datetime) -> bool:
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        return False
    return EARLIEST <= utc < LATEST


def storable(value: datetime) -> datetime:
    """A Pydantic validator: ValueError for a time outside the range the service accepts."""
    if not within_range(value):
        raise ValueError(RANGE_PROBLEM)
    return value


# A time with a zone that the database can hold; any time (naive ones too, for their own message).
StorableAwareDatetime = Annotated[AwareDatetime, AfterValidator(storable)]
StorableDatetime = Annotated[datetime, AfterValidator(storable)]

# orjson's options for the same format.
ORJSON_UTC = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def iso_z(value: datetime) -> str:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")
