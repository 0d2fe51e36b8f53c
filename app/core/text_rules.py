"""What text the service stores: no NUL, no other C0 control character but tab, line feed and
carriage return, no DEL, no lone UTF-16 surrogate. PostgreSQL cannot hold a NUL in text at all,
neither backend can encode a lone surrogate, and the others only forge log lines and break
terminals and spreadsheets.

Input from API callers that breaks the rule is refused (422, naming the field); text in
Mobivate's webhooks has the characters removed before it is stored (the raw body keeps them)."""

import re

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

PROBLEM = "must not contain control characters (NUL, U+0001 to U+001F but tab and line breaks, DEL)"


def has_forbidden(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None


def without_forbidden(value: str) -> str:
    return _FORBIDDEN.sub("", value)


def refuse_forbidden(value: object) -> object:
    """A Pydantic validator: ValueError for a string breaking the rule, anything else as is."""
    if isinstance(value, str) and has_forbidden(value):
        raise ValueError(PROBLEM)
    return value
