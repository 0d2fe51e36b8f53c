"""Migration 0010 with data in it, on both backends: several spellings of one person become one
E.164 entry by the newest-event rule, every history entry is kept, and the downgrade gives the
old keys back."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import migrate
from app.core.db import UTCDateTime, create_engine
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PERSON = "+447700900123"
# Two spellings of PERSON the older versions kept apart, and one other person.
CANONICAL, TRUNK, OTHER = "447700900123", "4407700900123", "447700900999"
UNRESOLVABLE = "123456"

OPTOUTS = sa.table(
    "optouts",
    *(sa.column(name) for name in ("msisdn", "opted_out", "source", "keyword", "reason")),
    sa.column("changed_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
EVENTS = sa.table(
    "optout_events",
    *(sa.column(name) for name in ("id", "msisdn", "action", "source", "keyword", "reason")),
    sa.column("event_at", UTCDateTime()),
    sa.column("recorded_at", UTCDateTime()),
)
OUTBOX = sa.table(
    "outbox",
    *(sa.column(name) for name in ("operation", "msisdn", "event_id", "state", "attempts")),
    sa.column("next_attempt_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)
MESSAGES = sa.table(
    "outbound_messages",
    *(
        sa.column(name)
        for name in (
            "id",
            "msisdn",
            "originator",
            "body",
            "route_id",
            "reference",
            "encoding",
            "parts",
            "shorten_urls",
            "submission",
            "status",
            "status_rank",
            "final",
        )
    ),
    sa.column("status_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


@pytest.fixture(params=BACKENDS)
async def empty_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('identity')}/identity.db"
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


def event(id_: int, msisdn: str, action: str, source: str, minutes: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return {
        "id": id_,
        "msisdn": msisdn,
        "action": action,
        "source": source,
        "keyword": "STOP" if action == "opt_out" and source == "incoming_sms" else None,
        "reason": None,
        "event_at": at,
        "recorded_at": at,
    }


def state(msisdn: str, opted_out: bool, source: str, minutes: int) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return {
        "msisdn": msisdn,
        "opted_out": opted_out,
        "source": source,
        "keyword": None,
        "reason": None,
        "changed_at": at,
        "updated_at": at,
    }


async def seed_at_0009(engine: AsyncEngine) -> None:
    """What the older versions could hold: one person under two spellings, opted out under the
    canonical one and later back in under the trunk-digit one; then out again by STOP."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(EVENTS),
            [
                event(1, CANONICAL, "opt_out", "incoming_sms", 0),
                event(2, TRUNK, "opt_out", "operator", 5),
                event(3, TRUNK, "opt_in", "api", 10),
                event(4, OTHER, "opt_out", "imported", 1),
                event(5, UNRESOLVABLE, "opt_out", "api", 2),
                event(6, CANONICAL, "help", "incoming_sms", 20),
            ],
        )
        await conn.execute(
            sa.insert(OPTOUTS),
            [
                state(CANONICAL, True, "incoming_sms", 0),
                state(TRUNK, False, "api", 10),
                state(OTHER, True, "imported", 1),
                state(UNRESOLVABLE, True, "api", 2),
            ],
        )
        # Ids come from the sequences, which the migration's own pushes use next.
        pushes = [("optout_add", CANONICAL, 1), ("optout_delete", TRUNK, 3)]
        await conn.execute(
            sa.insert(OUTBOX),
            [
                {
                    "operation": operation,
                    "msisdn": msisdn,
                    "event_id": event_id,
                    "state": "delivered",
                    "attempts": 1,
                    "next_attempt_at": T0,
                    "created_at": T0,
                }
                for operation, msisdn, event_id in pushes
            ],
        )
        await conn.execute(
            sa.insert(MESSAGES),
            [
                {
                    "msisdn": msisdn,
                    "originator": "Shop",
                    "body": "Hi",
                    "route_id": "mglobal",
                    "reference": f"ref-{index}",
                    "encoding": "GSM-7",
                    "parts": 1,
                    "shorten_urls": False,
                    "submission": "submitted",
                    "status": "submitted",
                    "status_rank": 0,
                    "final": False,
                    "status_at": T0,
                    "created_at": T0,
                    "updated_at": T0,
                }
                for index, msisdn in enumerate((TRUNK, OTHER))
            ],
        )


async def rows(engine: AsyncEngine, query: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(sa.text(query))).all()]


async def test_upgrade_merges_spellings_by_the_newest_event_and_downgrade_restores_keys(
    empty_database: str,
) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_database, "0009")
    engine = create_engine(empty_database)
    try:
        await seed_at_0009(engine)
        await asyncio.to_thread(migrate.upgrade, empty_database, "0010")

        # One entry per person: the trunk-digit spelling's opt-in happened last, so it wins.
        assert await rows(
            engine, "SELECT msisdn, opted_out, source, unresolved FROM optouts ORDER BY msisdn"
        ) == [
            (PERSON, False, "api", False),
            ("+447700900999", True, "imported", False),
            (UNRESOLVABLE, True, "api", True),
        ]
        # Every history entry kept, re-keyed, with the spelling it had.
        assert await rows(
            engine, "SELECT id, msisdn, written_as, unresolved FROM optout_events ORDER BY id"
        ) == [
            (1, PERSON, CANONICAL, False),
            (2, PERSON, TRUNK, False),
            (3, PERSON, TRUNK, False),
            (4, "+447700900999", OTHER, False),
            (5, UNRESOLVABLE, None, True),
            (6, PERSON, CANONICAL, False),
        ]
        # The merged state came from another spelling: it is pushed for the canonical one.
        assert await rows(
            engine, "SELECT operation, msisdn, state, event_id FROM outbox ORDER BY id"
        ) == [
            ("optout_add", PERSON, "delivered", 1),
            ("optout_delete", PERSON, "delivered", 3),
            ("optout_delete", PERSON, "pending", None),
        ]
        assert await rows(engine, "SELECT msisdn FROM outbound_messages ORDER BY id") == [
            (PERSON,),
            ("+447700900999",),
        ]

        await asyncio.to_thread(migrate.downgrade, empty_database, "0009")

        # The older keys are back, and each one's state follows its own newest event.
        assert await rows(
            engine, "SELECT msisdn, opted_out, source FROM optouts ORDER BY msisdn"
        ) == [
            (UNRESOLVABLE, True, "api"),
            (TRUNK, False, "api"),
            (CANONICAL, True, "incoming_sms"),
            (OTHER, True, "imported"),
        ]
        assert await rows(engine, "SELECT id, msisdn FROM optout_events ORDER BY id") == [
            (1, CANONICAL),
            (2, TRUNK),
            (3, TRUNK),
            (4, OTHER),
            (5, UNRESOLVABLE),
            (6, CANONICAL),
        ]
        assert await rows(engine, "SELECT msisdn FROM outbox ORDER BY id") == [
            (CANONICAL,),
            (TRUNK,),
            (CANONICAL,),
        ]
        # Sent messages keep the canonical digits: the spelling they had is not kept.
        assert await rows(engine, "SELECT msisdn FROM outbound_messages ORDER BY id") == [
            (CANONICAL,),
            (OTHER,),
        ]

        await asyncio.to_thread(migrate.upgrade, empty_database, "head")
        assert await rows(engine, "SELECT count(*) FROM optout_events") == [(6,)]
    finally:
        await engine.dispose()
