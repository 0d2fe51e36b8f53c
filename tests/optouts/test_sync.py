"""Importing Mobivate's opt-out list: paging, idempotence, and the newest-event rule."""

import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.optouts import sync_optouts
from app.core.phone import resolve_msisdn
from app.core.tables import Optout, OptoutEvent, OutboxMessage, ServiceSetting
from app.fake_mobivate import FakeMobivate
from app.mobivate.client import MobivateClient
from app.optouts.registry import OptoutChange, record_changes
from app.optouts.sync import import_optouts
from tests.support.app import start_app
from tests.support.bodies import incoming
from tests.support.cli import run_cli
from tests.support.fake import FAKE_API_KEY, fake_mobivate
from tests.support.optouts import all_settled, optout_settings, pushes
from tests.support.rows import count_rows
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"
DAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeMobivate]:
    async with fake_mobivate() as fake:
        yield fake


@pytest.fixture
async def mobivate(fake: FakeMobivate) -> AsyncIterator[MobivateClient]:
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        yield MobivateClient(
            http,
            base_url="https://api.mobivatebulksms.com",
            api_key=SecretStr(FAKE_API_KEY),
            retry_attempts=1,
        )


async def state(engine: AsyncEngine, msisdn: str) -> tuple[bool, str] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(Optout.opted_out, Optout.source).where(
                    Optout.msisdn == resolve_msisdn(msisdn)
                )
            )
        ).first()
    return None if row is None else (row.opted_out, row.source)


async def test_import_pages_through_the_whole_list_and_is_idempotent(
    engine: AsyncEngine, fake: FakeMobivate, mobivate: MobivateClient
) -> None:
    numbers = [f"4477009{index:05d}" for index in range(7)]
    for index, number in enumerate(numbers):
        fake.add_optout(number, note="MO", created=DAY + timedelta(minutes=index))
    fake.add_optout("12345", note="MO", created=DAY)  # not a phone number
    pages_seen: list[int] = []

    first = await import_optouts(
        engine,
        mobivate,
        since=date(2026, 3, 1),
        until=date(2026, 3, 3),
        page_size=3,
        progress=lambda report: pages_seen.append(report.pages),
    )
    second = await import_optouts(
        engine, mobivate, since=date(2026, 3, 1), until=date(2026, 3, 3), page_size=3
    )

    assert (first.pages, first.records, first.imported, first.invalid) == (3, 8, 7, 1)
    assert pages_seen == [1, 2, 3]
    listed = [r.query for r in fake.requests if r.method == "GET"]
    assert [(q["page"], q["pageSize"]) for q in listed[:3]] == [("1", "3"), ("2", "3"), ("3", "3")]
    assert (second.imported, second.already_opted_out) == (0, 7)
    for number in numbers:
        assert await state(engine, number) == (True, "imported")
    assert await count_rows(engine, OptoutEvent) == 7
    async with engine.connect() as conn:
        [event] = (
            await conn.execute(
                select(OptoutEvent).where(OptoutEvent.msisdn == resolve_msisdn(numbers[0]))
            )
        ).all()
    assert (event.action, event.source) == ("opt_out", "imported")
    assert event.event_at == DAY
    assert event.reason == "on Mobivate's opt-out list (note: MO)"
    # Imported opt-outs came from Mobivate: nothing is pushed back.
    assert await pushes(engine) == []


async def test_an_exact_multiple_of_the_page_size_ends_on_an_empty_page(
    engine: AsyncEngine, fake: FakeMobivate, mobivate: MobivateClient
) -> None:
    for index in range(4):
        fake.add_optout(f"4477009{index:05d}", created=DAY)
    report = await import_optouts(
        engine, mobivate, since=date(2026, 3, 1), until=date(2026, 3, 3), page_size=2
    )
    assert (report.pages, report.records, report.imported) == (3, 4, 4)


async def test_newest_event_wins_between_local_opt_in_and_mobivate_record(
    engine: AsyncEngine, fake: FakeMobivate, mobivate: MobivateClient
) -> None:
    stale, renewed = "447700900001", "447700900002"
    async with engine.begin() as conn:
        await record_changes(
            conn,
            [
                OptoutChange(resolve_msisdn(number), "opt_in", "operator", DAY + timedelta(hours=1))
                for number in (stale, renewed)
            ],
        )
    # Mark the local opt-ins' pushes as done, so only the newest-event rule decides.
    for push in await pushes(engine):
        assert push.operation == "optout_delete"
    async with engine.begin() as conn:
        await conn.execute(update(OutboxMessage).values(state="delivered"))
    fake.add_optout(stale, created=DAY)  # before the local opt-in
    fake.add_optout(renewed, created=DAY + timedelta(hours=2))  # after it

    report = await import_optouts(engine, mobivate, since=date(2026, 3, 1), until=date(2026, 3, 3))
    again = await import_optouts(engine, mobivate, since=date(2026, 3, 1), until=date(2026, 3, 3))

    assert (report.imported, report.kept_opted_in) == (1, 1)
    assert await state(engine, stale) == (False, "operator")
    assert await state(engine, renewed) == (True, "imported")
    async with engine.connect() as conn:
        history = (
            await conn.execute(
                select(OptoutEvent.action, OptoutEvent.source)
                .where(OptoutEvent.msisdn == resolve_msisdn(stale))
                .order_by(OptoutEvent.event_at)
            )
        ).all()
    # The stale record is in the history, before the opt-in that outranks it.
    assert [tuple(row) for row in history] == [("opt_out", "imported"), ("opt_in", "operator")]
    assert (again.imported, again.kept_opted_in, again.already_opted_out) == (0, 1, 1)
    assert await count_rows(engine, OptoutEvent) == 4


async def test_own_pushes_and_changes_in_flight_are_not_imported(
    database_url: str, engine: AsyncEngine, fake: FakeMobivate, mobivate: MobivateClient
) -> None:
    in_flight = "447700900009"
    async with start_app(
        optout_settings(database_url), mobivate_transport=fake.transport()
    ) as running:
        # STOP reaches Mobivate, then START cannot be pushed: Mobivate refuses the delete.
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
        await eventually(lambda: all_settled(engine), what="the opt-out push")
        fake.fail_next(1, 400)
        later = datetime.now(UTC) + timedelta(seconds=1)
        await post_accepted(running.client, "incoming", incoming(NUMBER, "START", created=later))
        await eventually(lambda: all_settled(engine), what="the refused delete")
        # Another number opts in locally while Mobivate is unreachable.
        fake.add_optout(in_flight, created=datetime.now(UTC) - timedelta(hours=1))
        await running.client.post("/api/v1/optouts", json={"msisdn": in_flight})
        await eventually(lambda: all_settled(engine), what="the second opt-out push")
        fake.down = True
        await running.client.delete(f"/api/v1/optouts/{in_flight}")
    # The service has stopped with the delete still to push; Mobivate is back.
    fake.down = False
    today = datetime.now(UTC).date()
    report = await import_optouts(
        engine, mobivate, since=today - timedelta(days=1), until=today + timedelta(days=1)
    )
    assert NUMBER in fake.optouts
    assert (report.own_pushes, report.push_in_flight, report.imported) == (1, 1, 0)
    assert await state(engine, NUMBER) == (False, "incoming_sms")


async def test_periodic_sync_imports_at_start_and_keeps_a_watermark(
    database_url: str, engine: AsyncEngine, fake: FakeMobivate
) -> None:
    fake.add_optout(NUMBER, note="MO", created=datetime.now(UTC) - timedelta(hours=2))
    fake.add_optout("447700900001", created=datetime.now(UTC) - timedelta(days=3))  # too old
    settings = optout_settings(database_url, optout_sync_interval_minutes=0.001)
    async with start_app(settings, mobivate_transport=fake.transport()):

        async def imported() -> bool:
            return await state(engine, NUMBER) == (True, "imported")

        await eventually(imported, what="the periodic import")

        async def several_runs() -> bool:
            return sum(r.method == "GET" for r in fake.requests) >= 3

        await eventually(several_runs, what="later runs")
    assert await state(engine, "447700900001") is None
    async with engine.connect() as conn:
        watermark = await conn.scalar(
            select(ServiceSetting.value).where(ServiceSetting.key == "optout_sync_until")
        )
    assert watermark is not None
    assert datetime.fromisoformat(watermark) > datetime.now(UTC) - timedelta(minutes=1)
    assert await count_rows(engine, OptoutEvent) == 1


async def test_sync_command_reports_progress_and_counts(
    database_url: str, engine: AsyncEngine, fake: FakeMobivate
) -> None:
    for index in range(5):
        fake.add_optout(f"4477009{index:05d}", created=DAY)
    out, err = io.StringIO(), io.StringIO()
    code = await sync_optouts(
        optout_settings(database_url),
        since=date(2026, 3, 2),
        until=date(2026, 3, 2),
        page_size=2,
        transport=fake.transport(),
        out=out,
        err=err,
    )
    assert code == 0
    assert out.getvalue().startswith("imported 5 records in 3 pages: 5 opted out")
    assert err.getvalue().count("page ") == 3
    [query] = [r.query for r in fake.requests][:1]
    assert query["startDate"] == "2026-03-02T00:00:00+0000"
    assert query["endDate"] == "2026-03-03T00:00:00+0000"


async def run_sync(
    database_url: str, fake: FakeMobivate, *, api_key: str | None = FAKE_API_KEY, since: date
) -> tuple[int, str]:
    err = io.StringIO()
    code = await sync_optouts(
        optout_settings(database_url, mobivate_api_key=api_key),
        since=since,
        transport=fake.transport(),
        out=io.StringIO(),
        err=err,
    )
    return code, err.getvalue()


async def test_sync_command_exit_codes(database_url: str, fake: FakeMobivate) -> None:
    since = date(2026, 3, 1)
    assert await run_sync(database_url, fake, api_key=None, since=since) == (
        2,
        "cannot import opt-outs: set MOBIVATE_API_KEY\n",
    )
    code, message = await run_sync(database_url, fake, since=date(2999, 1, 1))
    assert code == 2
    assert "is not before" in message
    code, message = await run_sync(database_url, fake, api_key="wrong-key", since=since)
    assert code == 1
    assert "HTTP 401: Unauthorized" in message
    fake.down = True
    code, message = await run_sync(database_url, fake, since=since)
    assert code == 3
    assert "could not be reached" in message


async def test_sync_command_rejects_a_malformed_date(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    code, _, err = await run_cli(env, "sync-optouts", "--since", "2026-13-01")
    assert code == 2
    assert "'2026-13-01' is not a date: use YYYY-MM-DD" in err
