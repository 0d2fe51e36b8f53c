"""How the service writes a time wherever it answers (JSON, CSV, the live feed): ISO 8601 in
UTC ending in `Z`, e.g. `2026-11-22T09:15:02.125000Z`. A naive value is taken as UTC."""

from datetime import UTC, datetime

import orjson

# orjson's options for the same format.
ORJSON_UTC = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def iso_z(value: datetime) -> str:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")
