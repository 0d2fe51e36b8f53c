"""Counting outbound message status changes in `message_status_transitions_total`.

Status changes happen inside transactions that may still roll back, so they are noted against
the connection and counted only when its transaction commits (a rolled-back change, retried later,
is counted once). The runtime installs the listeners on its engine (`app.runtime.open_engine`).
Status names outside Mobivate's documented list and ours are counted as `OTHER`, so a provider
inventing names cannot multiply the series.
"""

import weakref
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.metrics import STATUS_TRANSITIONS
from app.delivery.status_rules import LOCAL_STATUSES
from app.mobivate.vocabulary import STATUS_CODES

# Keyed by the connection object itself: the listeners must not touch the DBAPI connection,
# which may be closing or invalidated when a rollback is announced.
_pending: "weakref.WeakKeyDictionary[Connection, Counter[tuple[str, str]]]" = (
    weakref.WeakKeyDictionary()
)
_KNOWN = LOCAL_STATUSES | STATUS_CODES.keys()


def note_transitions(conn: AsyncConnection, changes: Iterable[tuple[str, str]]) -> None:
    """Record (from status, to status) changes made in the current transaction of `conn`;
    pairs whose two statuses are equal are not changes and are ignored."""
    moved = Counter((_label(old), _label(new)) for old, new in changes if old != new)
    if moved and conn.sync_connection is not None:
        _pending.setdefault(conn.sync_connection, Counter()).update(moved)


def install_transition_counting(engine: Engine) -> None:
    event.listen(engine, "commit", _count)
    event.listen(engine, "rollback", _discard)


def _count(conn: Connection) -> None:
    pending = _pending.pop(conn, None)
    if pending:
        for (old, new), count in pending.items():
            STATUS_TRANSITIONS.labels(old, new).inc(count)


def _discard(conn: Connection) -> None:
    _pending.pop(conn, None)


def _label(status: str) -> str:
    return status if status in _KNOWN else "OTHER"
