"""The words Mobivate uses, defined once: its webhook kinds, how to compare its ids, and its
delivery status codes (API reference §5.5.3).

Mobivate renders one id as a dashed lowercase UUID in send responses (``ef5796ce-e326-...``)
and as 32 upper-case hex digits in receipts and logs (``EF5796CEE326...``); `normalise_id` gives
the form to compare and store: dashes and surrounding whitespace removed, upper case, and None for
an id that is absent or blank.
"""

from enum import StrEnum

__all__ = ["STATUS_CODES", "STATUS_NAMES", "WebhookKind", "normalise_id"]


class WebhookKind(StrEnum):
    RECEIPT = "receipt"
    INCOMING = "incoming"
    CLICK = "click"


def normalise_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    return raw.strip().replace("-", "").upper() or None


# Mobivate's delivery status list, name to code.
STATUS_CODES: dict[str, int] = {
    "DELIVERED": 1,
    "ACCEPTED": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIVERABLE": 5,
    "UNKNOWN": 6,
    "REJECTED": 7,
    "INTERIM_QUEUED": 8,
    "INTERIM_ACKNOWLEDGED": 9,
    "RETRY": 10,
    "FAILED_NACK": 11,
    "FAILED_NOROUTE": 12,
    "FAILED_INSUFFICIENT_CREDIT": 17,
    "FAILED_ORIGINATOR_RECIPIENT_EQUAL": 18,
    "FAILED_RECIPIENT_BLACKLISTED": 19,
    "FAILED_ORIGINATOR_REJECTED": 20,
    "FAILED_ROUTE_INVALID": 21,
    "FAILED_LIMITS_EXCEEDED": 22,
    "FAILED_EXHAUSTED": 24,
    "FAILED_INTERNAL_ERROR": 28,
    "FAILED_UNKNOWN": 29,
}
STATUS_NAMES: dict[int, str] = {code: name for name, code in STATUS_CODES.items()}
