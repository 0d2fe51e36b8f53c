"""Request validation with Mobivate's error bodies: `{"code": <status>, "message": "..."}`."""

import re
from collections.abc import Mapping
from datetime import datetime
from http import HTTPStatus
from urllib.parse import urlsplit

from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse

from app.fake_mobivate.dates import MalformedDate, parse_mobivate_date
from app.fake_mobivate.records import utc_now

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 10

_MOBILE = re.compile(r"[0-9]{6,15}")
_NUMERIC_ORIGINATOR = re.compile(r"[0-9]{1,15}")
_ALPHANUMERIC_ORIGINATOR = re.compile(r"[A-Za-z0-9 ]{1,11}")


class Rejection(Exception):
    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or HTTPStatus(status).phrase


def error_response(status: int, message: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"code": status, "message": message or HTTPStatus(status).phrase}, status_code=status
    )


def required_str(body: Mapping[str, object], name: str, *, where: str = "") -> str:
    value = body.get(name)
    if value is None or value == "":
        raise Rejection(400, f"Missing required field: {where}{name}")
    if not isinstance(value, str):
        raise Rejection(400, f"{where}{name}: must be a string")
    return value


def optional_str(body: Mapping[str, object], name: str, *, where: str = "") -> str | None:
    if body.get(name) is None:
        return None
    return required_str(body, name, where=where)


def optional_bool(body: Mapping[str, object], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise Rejection(400, f"{name}: must be true or false")


def optional_int(body: Mapping[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise Rejection(400, f"{name}: must be a non-negative integer")


def check_mobile(value: str) -> str:
    if not _MOBILE.fullmatch(value):
        raise Rejection(400, "Invalid mobile number")
    return value


def check_originator(value: str) -> str:
    if not (_NUMERIC_ORIGINATOR.fullmatch(value) or _ALPHANUMERIC_ORIGINATOR.fullmatch(value)):
        raise Rejection(400, "Invalid originator: at most 11 alphanumeric characters or 15 digits")
    return value


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Rejection(400, "url: must be an absolute http(s) URL")
    return value


def check_schedule(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parsed = parse_mobivate_date(value)
    except MalformedDate as exc:
        raise Rejection(400, f"scheduleDateTime: {exc}") from None
    if not parsed.has_time:
        raise Rejection(400, "scheduleDateTime: must include hours, minutes and seconds")
    if parsed.value <= utc_now():
        raise Rejection(400, "scheduleDateTime: must be in the future")
    return value


def date_param(query: QueryParams, name: str) -> datetime:
    raw = query.get(name)
    if not raw:
        raise Rejection(400, f"Missing required parameter: {name}")
    try:
        return parse_mobivate_date(raw).value
    except MalformedDate as exc:
        raise Rejection(400, f"{name}: {exc}") from None


def int_param(query: QueryParams, name: str, default: int, *, maximum: int | None = None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Rejection(400, f"{name}: must be an integer") from None
    if value < 1:
        raise Rejection(400, f"{name}: must be at least 1")
    if maximum is not None and value > maximum:
        raise Rejection(400, f"{name}: must be less than or equal to {maximum}")
    return value


def page_slice(query: QueryParams) -> slice:
    page = int_param(query, "page", 1)
    size = int_param(query, "pageSize", DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    return slice((page - 1) * size, page * size)
