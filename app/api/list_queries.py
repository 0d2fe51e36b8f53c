"""Reading the REST API lists: one page at a time, or every row page by page for CSV.

A `ListSpec` names a table's time column (the newest-first order and the `since`/`until` axis
are always the same indexed column) and the labelled columns of an item. Each page is one
query `WHERE <filters> AND (time, id) < cursor ORDER BY time DESC, id DESC LIMIT n+1`, answered
from a composite index (see migrations 0005) without sorting the whole match.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.filters import ListQuery
from app.api.pagination import TimeCursor, before

Item = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListSpec:
    # Selects the item columns (labelled as in the API), then the sort keys as `_time`, `_id`.
    base: Select[Any]
    time: Any
    id: Any

    @classmethod
    def of(cls, columns: Sequence[Any], source: Any, time: Any, row_id: Any) -> "ListSpec":
        base = select(*columns, time.label("_time"), row_id.label("_id")).select_from(source)
        return cls(base, time, row_id)


def _window(spec: ListSpec, query: ListQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.since is not None:
        where.append(spec.time >= query.since)
    if query.until is not None:
        where.append(spec.time < query.until)
    return where


def page_query(
    spec: ListSpec,
    query: ListQuery,
    where: Sequence[ColumnElement[bool]],
    after: TimeCursor | None,
    limit: int,
) -> Select[Any]:
    return (
        spec.base.where(*where, *_window(spec, query), *before(spec.time, spec.id, after))
        .order_by(spec.time.desc(), spec.id.desc())
        .limit(limit)
    )


def _cursor_of(item: Item) -> TimeCursor:
    return TimeCursor(item["_time"], item["_id"])


async def fetch_page(
    engine: AsyncEngine,
    spec: ListSpec,
    query: ListQuery,
    where: Sequence[ColumnElement[bool]],
) -> tuple[list[Item], str | None]:
    """The page after `query.cursor`, and the cursor of the page after it (None at the end)."""
    statement = page_query(spec, query, where, query.after, query.limit + 1)
    async with engine.connect() as conn:
        rows = [dict(row) for row in (await conn.execute(statement)).mappings()]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = _cursor_of(rows[-1]).encode() if more else None
    return rows, next_cursor


async def iterate_rows(
    engine: AsyncEngine,
    spec: ListSpec,
    query: ListQuery,
    where: Sequence[ColumnElement[bool]],
) -> AsyncIterator[Item]:
    """Every matching row from `query.cursor` on, read `query.limit` rows at a time with keyset,
    each page on a connection held only while it is read."""
    after = query.after
    while True:
        statement = page_query(spec, query, where, after, query.limit)
        async with engine.connect() as conn:
            rows = [dict(row) for row in (await conn.execute(statement)).mappings()]
        for row in rows:
            yield row
        if len(rows) < query.limit:
            return
        after = _cursor_of(rows[-1])


def public(item: Item) -> Item:
    return {key: value for key, value in item.items() if not key.startswith("_")}
