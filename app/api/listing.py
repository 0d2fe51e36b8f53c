"""Answering a list request: a JSON page, or every matching row as CSV."""

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.csv import csv_response
from app.api.filters import ListQuery, wants_csv
from app.api.list_queries import Item, ListSpec, fetch_page, iterate_rows, public
from app.core.times import ORJSON_UTC

Transform = Callable[[Item], dict[str, Any]]


async def _transformed(rows: AsyncIterator[Item], transform: Transform) -> AsyncIterator[Item]:
    async for row in rows:
        yield transform(row)


async def answer_list(
    request: Request,
    engine: AsyncEngine,
    spec: ListSpec,
    query: ListQuery,
    where: Sequence[ColumnElement[bool]],
    item: type[BaseModel],
    name: str,
    transform: Transform = public,
) -> Response:
    """`transform` turns a row into the item (by default: the row without its sort keys)."""
    if wants_csv(request, query.format):
        stream = _transformed(iterate_rows(engine, spec, query, where), transform)
        return csv_response(stream, list(item.model_fields), name, raw=query.csv_cells == "raw")
    rows, next_cursor = await fetch_page(engine, spec, query, where)
    # Serialised directly: the rows already have the documented shape, and validating up to a
    # thousand items through the response model would cost more than the query.
    body = {"items": [transform(row) for row in rows], "next_cursor": next_cursor}
    return Response(orjson.dumps(body, option=ORJSON_UTC), media_type="application/json")
