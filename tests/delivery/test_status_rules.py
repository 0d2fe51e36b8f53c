"""The status rule as a table: which report becomes a message's current status."""

from datetime import UTC, datetime, timedelta

import pytest

from app.delivery.status_rules import (
    Phase,
    ReceiptFacts,
    best_receipt,
    phase_of,
    replay,
    status_name,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "phase"),
    [
        ("submitting", Phase.LOCAL),
        ("submitted", Phase.LOCAL),
        ("submit_failed", Phase.LOCAL),
        ("refused", Phase.LOCAL),
        ("ACCEPTED", Phase.IN_FLIGHT),
        ("INTERIM_QUEUED", Phase.IN_FLIGHT),
        ("INTERIM_ACKNOWLEDGED", Phase.IN_FLIGHT),
        ("RETRY", Phase.IN_FLIGHT),
        ("UNKNOWN", Phase.IN_FLIGHT),
        ("SCHEDULED", Phase.IN_FLIGHT),
        ("PENDING", Phase.IN_FLIGHT),
        ("DELIVERED", Phase.FINAL),
        ("Delivered", Phase.FINAL),
        ("EXPIRED", Phase.FINAL),
        ("DELETED", Phase.FINAL),
        ("UNDELIVERABLE", Phase.FINAL),
        ("REJECTED", Phase.FINAL),
        ("FAILED_NACK", Phase.FINAL),
        ("FAILED_SOMETHING_NEW", Phase.FINAL),
    ],
)
def test_phase_of_each_status(name: str, phase: Phase) -> None:
    assert phase_of(name) is phase


@pytest.mark.parametrize(
    ("status", "code", "name"),
    [
        ("delivered", 1, "DELIVERED"),
        (" accepted ", None, "ACCEPTED"),
        (None, 3, "EXPIRED"),
        ("", 29, "FAILED_UNKNOWN"),
        (None, 99, "CODE_99"),
        (None, None, None),
    ],
)
def test_status_name(status: str | None, code: int | None, name: str | None) -> None:
    assert status_name(status, code) == name


def facts(receipt_id: int, status: str | None, minutes: int | None) -> ReceiptFacts:
    at = None if minutes is None else T0 + timedelta(minutes=minutes)
    return ReceiptFacts(receipt_id, status, None, at, T0 + timedelta(hours=1, seconds=receipt_id))


# Each case: receipts (status, event minute) in arrival order -> the status that wins.
CASES = [
    ([("ACCEPTED", 0), ("DELIVERED", 1)], "DELIVERED"),
    ([("DELIVERED", 1), ("ACCEPTED", 0)], "DELIVERED"),
    ([("DELIVERED", 1), ("ACCEPTED", 5)], "DELIVERED"),
    ([("EXPIRED", 1), ("RETRY", 9)], "EXPIRED"),
    ([("ACCEPTED", 0), ("INTERIM_QUEUED", 1)], "INTERIM_QUEUED"),
    ([("INTERIM_QUEUED", 1), ("ACCEPTED", 0)], "INTERIM_QUEUED"),
    ([("UNKNOWN", 1), ("DELIVERED", 0)], "DELIVERED"),
    ([("DELIVERED", 1), ("EXPIRED", 2)], "EXPIRED"),
    ([("EXPIRED", 2), ("DELIVERED", 1)], "EXPIRED"),
    ([("DELIVERED", 1), ("FAILED_NACK", 1)], "FAILED_NACK"),
    ([("ACCEPTED", 0), ("ACCEPTED", 0)], "ACCEPTED"),
    ([("SOMETHING_NEW", 3), ("ACCEPTED", 4)], "ACCEPTED"),
    ([("FAILED_NEW_REASON", 0), ("ACCEPTED", 4)], "FAILED_NEW_REASON"),
    ([("ACCEPTED", None), ("DELIVERED", 0)], "DELIVERED"),
]


@pytest.mark.parametrize(("receipts", "winner"), CASES)
def test_winner_does_not_depend_on_arrival_order(
    receipts: list[tuple[str, int]], winner: str
) -> None:
    forward = [facts(i + 1, status, minute) for i, (status, minute) in enumerate(receipts)]
    best = best_receipt(forward)
    assert best is not None
    assert status_name(best[0].status, None) == winner
    changed = [e.status for e in replay("submitted", forward) if e.effect == "changed"]
    assert changed[-1] == winner


def test_replay_records_each_effect() -> None:
    effects = replay(
        "submitted",
        [
            facts(1, "ACCEPTED", 0),
            facts(2, "DELIVERED", 2),
            facts(3, "ACCEPTED", 3),
            facts(4, None, 4),
            facts(5, "EXPIRED", 1),
            facts(6, "FAILED_NACK", 5),
        ],
    )
    assert [(e.status, e.effect, e.previous) for e in effects] == [
        ("ACCEPTED", "changed", "submitted"),
        ("DELIVERED", "changed", "ACCEPTED"),
        ("ACCEPTED", "kept", "DELIVERED"),
        (None, "ignored", "DELIVERED"),
        ("EXPIRED", "kept", "DELIVERED"),
        ("FAILED_NACK", "changed", "DELIVERED"),
    ]


def test_no_status_means_no_winner() -> None:
    assert best_receipt([facts(1, None, 0)]) is None
