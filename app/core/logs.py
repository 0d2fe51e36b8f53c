"""Logging, configured once at startup (never at import).

Every line carries the current request id. Before a line is written, phone numbers (runs of
7 to 15 digits, optionally after `+`) are masked and every registered secret (webhook secret,
API tokens, Mobivate API key) is replaced by `***`, whatever logger produced it.
"""

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal

import orjson

from app.core.phone import mask_msisdn

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_PHONE = re.compile(r"(?<![\w])\+?\d{7,15}(?![\w])")
_secrets: set[str] = set()

LogFormat = Literal["json", "text"]

_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}


def register_secret(value: str | None) -> None:
    """Never let `value` reach a log line (too short a value would mask too much)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return _PHONE.sub(lambda match: mask_msisdn(match.group(0)), text)


class RedactedLogRecord(logging.LogRecord):
    """A log record whose message is redacted, whichever handler formats it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        request_id = request_id_var.get()  # a client's X-Request-ID may be anything
        self.request_id = redact(request_id) if request_id else request_id

    def getMessage(self) -> str:
        return redact(super().getMessage())


def _redacted_field(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(value if isinstance(value, str) else str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = _redacted_field(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def escaped(text: str) -> str:
    """`text` on one line: line breaks and other control characters written as escapes, so
    text from outside (a message from Mobivate, a header) cannot forge a log line."""
    return _CONTROL.sub(lambda match: match.group(0).encode("unicode_escape").decode(), text)


class TextFormatter(logging.Formatter):
    """One line per record (a traceback follows on its own lines); every field escaped."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            defaults={"request_id": "-"},
        )

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escaped(record.message)
        request_id = getattr(record, "request_id", None)
        if isinstance(request_id, str):
            record.request_id = escaped(request_id)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        return redact(super().formatException(ei))  # type: ignore[arg-type]


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    logging.setLogRecordFactory(RedactedLogRecord)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Requests are logged by app.api.middleware with the route template, never the raw path
    # (which carries the webhook secret).
    logging.getLogger("uvicorn.access").disabled = True
    # aiosqlite logs every statement's parameters at DEBUG (phone numbers, message text).
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # Alembic announces each of its plugins at INFO on every start; only its migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
