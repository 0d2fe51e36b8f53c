"""Which delivery status of a sent message is the current one. Pure rules, no I/O.

A message's status moves through three phases:

* local (ours, before any receipt): ``submitting``, ``submitted``, ``submit_failed``, ``refused``,
  ``submit_unknown`` (the call to Mobivate may or may not have been made; never made again);
* in flight (Mobivate's): ``ACCEPTED``, ``INTERIM_QUEUED``, ``INTERIM_ACKNOWLEDGED``, ``RETRY``,
  ``UNKNOWN``, and any status name this table does not know unless it starts with ``FAILED_``;
* final (Mobivate's): ``DELIVERED``, or a failure: ``EXPIRED``, ``DELETED``, ``UNDELIVERABLE``,
  ``REJECTED`` and every ``FAILED_*``.

The current status comes from the receipt with the greatest key (phase, event time, receipt id):
any receipt beats a local status, a final one beats every in-flight one whenever it happened, and
within a phase the later event time wins (on a tie, the receipt stored later). So the result does
not depend on the order receipts arrive in: a late ACCEPTED never replaces DELIVERED, and between
two final statuses the one that happened later wins. Names are compared upper-cased; a receipt
with only a status code gets the documented name of that code.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from app.mobivate.vocabulary import STATUS_NAMES

__all__ = [
    "DELIVERED",
    "LOCAL_STATUSES",
    "REFUSED",
    "SUBMITTED",
    "SUBMITTING",
    "SUBMIT_FAILED",
    "SUBMIT_UNKNOWN",
    "Phase",
    "ReceiptEffect",
    "ReceiptFacts",
    "StatusKey",
    "best_receipt",
    "phase_of",
    "receipt_key",
    "replay",
    "status_name",
]

SUBMITTING = "submitting"
SUBMITTED = "submitted"
SUBMIT_FAILED = "submit_failed"
SUBMIT_UNKNOWN = "submit_unknown"
REFUSED = "refused"
LOCAL_STATUSES = frozenset({SUBMITTING, SUBMITTED, SUBMIT_FAILED, SUBMIT_UNKNOWN, REFUSED})

DELIVERED = "DELIVERED"
_FAILURES = frozenset({"EXPIRED", "DELETED", "UNDELIVERABLE", "REJECTED"})


class Phase(IntEnum):
    LOCAL = 0
    IN_FLIGHT = 1
    FINAL = 2


def status_name(status: str | None, status_code: int | None) -> str | None:
    """The upper-cased name of a reported status, or None when the report carries neither."""
    if status is not None and status.strip():
        return status.strip().upper()
    if status_code is not None:
        return STATUS_NAMES.get(status_code, f"CODE_{status_code}")
    return None


def phase_of(name: str) -> Phase:
    if name in LOCAL_STATUSES:
        return Phase.LOCAL
    upper = name.upper()
    if upper == DELIVERED or upper in _FAILURES or upper.startswith("FAILED_"):
        return Phase.FINAL
    return Phase.IN_FLIGHT


@dataclass(frozen=True, order=True, slots=True)
class StatusKey:
    """Orders the statuses reported for one message; the greatest is the current one."""

    phase: Phase
    at: datetime
    receipt_id: int


def receipt_key(
    name: str, event_at: datetime | None, received_at: datetime, receipt_id: int
) -> StatusKey:
    """A receipt without a parseable event time counts as happening when it was received."""
    return StatusKey(phase_of(name), event_at or received_at, receipt_id)


@dataclass(frozen=True, slots=True)
class ReceiptEffect:
    receipt_id: int
    status: str | None
    # "changed": it became the current status; "kept": it was not newer than the current one
    # (or a final status was already known); "ignored": it carries no status at all.
    effect: str
    previous: str | None


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    receipt_id: int
    status: str | None
    status_code: int | None
    event_at: datetime | None
    received_at: datetime


def replay(initial: str | None, receipts: Iterable[ReceiptFacts]) -> list[ReceiptEffect]:
    """What each receipt, taken in the order given (the order they were stored), did to the
    current status. The last "changed" entry names the status the message has now."""
    current = initial
    best: StatusKey | None = None
    effects: list[ReceiptEffect] = []
    for receipt in receipts:
        name = status_name(receipt.status, receipt.status_code)
        if name is None:
            effects.append(ReceiptEffect(receipt.receipt_id, None, "ignored", current))
            continue
        key = receipt_key(name, receipt.event_at, receipt.received_at, receipt.receipt_id)
        if best is None or key > best:
            effects.append(ReceiptEffect(receipt.receipt_id, name, "changed", current))
            best, current = key, name
        else:
            effects.append(ReceiptEffect(receipt.receipt_id, name, "kept", current))
    return effects


def best_receipt(receipts: Sequence[ReceiptFacts]) -> tuple[ReceiptFacts, StatusKey] | None:
    """The receipt among these that sets the status, with its key; None if none carries one."""
    winner: tuple[ReceiptFacts, StatusKey] | None = None
    for receipt in receipts:
        name = status_name(receipt.status, receipt.status_code)
        if name is None:
            continue
        key = receipt_key(name, receipt.event_at, receipt.received_at, receipt.receipt_id)
        if winner is None or key > winner[1]:
            winner = (receipt, key)
    return winner
