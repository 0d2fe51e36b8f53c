"""CSV output of a list: the same rows as the JSON pages, streamed as they are read.

Rows come from an async iterator that reads the database page by page (keyset), and each page is
encoded and sent before the next is read, so an export of any size holds one page in memory.
Times are ISO 8601 in UTC ending in `Z` (as in JSON), booleans `true`/`false`, missing values
empty, nested values JSON.

Text a spreadsheet would run as a formula is neutralised by the OWASP rule ("CSV injection"): a
cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, which Excel,
LibreOffice and Google Sheets show as text. A cell that is only a signed number (an E.164 phone
number such as `+447700900123`, a negative figure) is left as it is: a spreadsheet reads it as a
number, runs nothing, and consumers keep the number they expect. Message bodies are written by
anyone with a phone, so this is the default; `csv_cells=raw` writes the values as stored, for
programs reading them.
"""

import csv
import io
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from app.core.times import iso_z

FLUSH_ROWS = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SIGNED_NUMBER = re.compile(r"[+-][0-9]+(\.[0-9]+)?")


def neutralised(value: Any) -> Any:
    """`value` as a spreadsheet shows it rather than runs it."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _SIGNED_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


async def _encode(
    rows: AsyncIterator[Mapping[str, Any]], columns: Sequence[str], *, raw: bool
) -> AsyncIterator[str]:
    cell = _cell if raw else lambda value: neutralised(_cell(value))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    pending = 1
    async for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
        pending += 1
        if pending >= FLUSH_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def csv_response(
    rows: AsyncIterator[Mapping[str, Any]],
    columns: Sequence[str],
    filename: str,
    *,
    raw: bool = False,
) -> StreamingResponse:
    """`raw`: cells as stored, formulas included."""
    return StreamingResponse(
        _encode(rows, columns, raw=raw),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
