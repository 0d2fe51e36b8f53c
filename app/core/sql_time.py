"""Time arithmetic in SQL that reads the same on PostgreSQL and SQLite.

Buckets are UTC hours or days whatever the session time zone: PostgreSQL truncates the UTC wall
time (`date_trunc`, a timestamp), SQLite formats it (`strftime`, text); `bucket_start` turns either
back into an aware datetime. Seconds between two timestamps come back as floats.
"""

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, cast, func, literal_column

Bucket = Literal["hour", "day"]

_SQLITE_FORMATS = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d 00:00:00"}


def bucket_key(column: Any, bucket: Bucket, dialect: str) -> ColumnElement[Any]:
    """The start of the UTC hour or day that `column` falls in."""
    if dialect == "postgresql":
        utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
        return func.date_trunc(literal_column(f"'{bucket}'"), utc)
    return func.strftime(_SQLITE_FORMATS[bucket], column)


def bucket_start(key: datetime | str) -> datetime:
    """The aware UTC datetime of a value of `bucket_key`."""
    value = datetime.fromisoformat(key) if isinstance(key, str) else key
    return value.replace(tzinfo=UTC)


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
