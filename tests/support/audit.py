"""The standing audit: no test may leave a message sent to a person who was opted out."""

from datetime import UTC, datetime

from app.core.db import create_engine
from app.optouts.audit import sends_after_optout

EVER = datetime(1970, 1, 1, tzinfo=UTC)


async def assert_no_sends_after_optout(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        found = await sends_after_optout(engine, EVER)
    finally:
        await engine.dispose()
    assert found == [], (
        "messages were sent to opted-out people (mark the test sends_after_optout if it does "
        f"so on purpose): {found}"
    )
