"""Time arithmetic in SQL that reads the same on PostgreSQL and SQLite.

Buckets are UTC hours or days whatever the session time zone: PostgreSQL bins the instant from a
UTC midnight (`date_bin`, a timestamptz: a quarter cheaper per row than converting to UTC wall
time and truncating it), SQLite formats the UTC wall time (`strftime`, text); `bucket_start` turns
either back into an aware datetime. Seconds between two timestamps come back as floats.
"""

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, cast, func, literal_column

Bucket = Literal["hour", "day"]

# A UTC midnight that PostgreSQL's date_bin counts hours and days from.
PG_UTC_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_SQLITE_FORMATS = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}


def bucket_key(column: Any, bucket: Bucket, dialect: str) -> ColumnElement[Any]:
    """The start of the UTC hour or day that `column` falls in."""
    if dialect == "postgresql":
        interval: ColumnElement[Any] = literal_column(f"INTERVAL '1 {bucket}'")
        return func.date_bin(interval, column, literal_column(PG_UTC_ORIGIN))
    return func.strftime(_SQLITE_FORMATS[bucket], column)


def bucket_start(key: datetime | str) -> datetime:
    """The aware UTC datetime of a value of `bucket_key`."""
    value = datetime.fromisoformat(key) if isinstance(key, str) else key
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
