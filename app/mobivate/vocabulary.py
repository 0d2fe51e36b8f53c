"""The words Mobivate uses, defined once: its webhook kinds, how to compare its ids, and its
delivery status codes (API reference §5.5.3).

Mobivate renders one id as a dashed lowercase UUID in send responses (``ef5796ce-e326-...``)
and as 32 upper-case hex digits in receipts and logs (``EF5796CEE326...``); `normalise_id` gives
the form to compare and store: dashes and surrounding whitespace removed, upper case, and None for
an id that is absent or blank.
"""

import re
from enum import StrEnum

__all__ = [
    "STATUS_CODES",
    "STATUS_NAMES",
    "WebhookKind",
    "normalise_id",
    "receipt_reports_opted_out",
    "says_opted_out",
]


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


# The documented status for a recipient Mobivate will not message (§5.5.3).
RECIPIENT_BLACKLISTED = "FAILED_RECIPIENT_BLACKLISTED"
# Words Mobivate may use for a recipient on its opt-out list or blacklist, in an error message
# or a status name: the documentation shows only "opted out" (403) and the blacklisted status,
# so the rule is deliberately broad.
_OPTED_OUT = re.compile(r"opt(?:ed)?[\s_-]*out|black[\s_-]*list|unsubscrib", re.IGNORECASE)


def says_opted_out(text: str | None) -> bool:
    """Whether Mobivate's wording (an error message or a status name) says the recipient is
    opted out or blacklisted."""
    return bool(text) and _OPTED_OUT.search(text or "") is not None


def receipt_reports_opted_out(status: str | None, status_code: int | None) -> bool:
    """Whether a delivery receipt says Mobivate refused the recipient as opted out or
    blacklisted: by its status name when it has one, else by the documented code (19)."""
    if status is not None and status.strip():
        return says_opted_out(status)
    return status_code == STATUS_CODES[RECIPIENT_BLACKLISTED]
