"""Keyset (cursor) pagination shared by every REST API list.

A list is read newest first on (sort key, id); a page ends with `next_cursor`, the opaque
base64url form of the last row's (sort key, id), and the next page is everything strictly before
it. Rows stored while a client pages are therefore never repeated nor skipped: newer rows sort
before the cursor and older ones after it keep their place.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from fastapi import HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_

from app.core.text_rules import has_forbidden
from app.core.times import within_range

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list, newest first."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next (older) page; null on the last page"
    )


def invalid(parameter: str, problem: str) -> HTTPException:
    """A 422 whose detail starts with the name of the offending parameter."""
    return HTTPException(422, detail=f"{parameter}: {problem}")


def encode_cursor(key: object, row_id: object) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    return base64.urlsafe_b64encode(orjson.dumps([value, row_id])).decode().rstrip("=")


class InvalidCursor(ValueError):
    def __init__(self) -> None:
        super().__init__("not a cursor this API returned; pass `next_cursor` unchanged")


def decode_raw(cursor: str) -> list[Any]:
    """The [key, id] pair inside a cursor; raises InvalidCursor."""
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidCursor()
    return value


@dataclass(frozen=True, slots=True)
class TimeCursor:
    """The position after a row sorted on (a time, its key): an integer id, or a text key such as
    a phone number for the opt-out list."""

    at: datetime
    id: int | str

    @classmethod
    def parse(cls, cursor: str | None, key: type[int] | type[str] = int) -> "TimeCursor | None":
        if cursor is None:
            return None
        at, row_id = decode_raw(cursor)
        try:
            parsed = datetime.fromisoformat(at)
        except (TypeError, ValueError):
            raise InvalidCursor() from None
        if parsed.tzinfo is None or not isinstance(row_id, key) or isinstance(row_id, bool):
            raise InvalidCursor()
        if not within_range(parsed) or (isinstance(row_id, str) and has_forbidden(row_id)):
            raise InvalidCursor()
        if isinstance(row_id, int) and not 0 < row_id < 2**63:
            raise InvalidCursor()
        return cls(parsed, row_id)

    def encode(self) -> str:
        return encode_cursor(self.at, self.id)


def before(sort: Any, row_id: Any, cursor: TimeCursor | None) -> list[ColumnElement[bool]]:
    """The condition "sorts after `cursor` in newest-first order", as index-friendly SQL."""
    if cursor is None:
        return []
    return [
        sort <= cursor.at,
        or_(sort < cursor.at, and_(sort == cursor.at, row_id < cursor.id)),
    ]
