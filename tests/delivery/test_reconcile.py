"""Reconciliation: messages stuck without a final status are looked up in Mobivate's log."""

import argparse
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from app.cli.delivery import run_reconcile
from app.cli.main import build_parser
from app.core.db import utcnow
from app.core.tables import Receipt
from app.delivery.reconcile import parse_duration
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows
from tests.support.waiting import eventually


async def stuck_message(harness: Harness, hours_ago: float = 7, **body: Any) -> dict[str, Any]:
    response = await harness.send(**body)
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    await harness.age(message["id"], utcnow() - timedelta(hours=hours_ago))
    return message


async def reconcile_cli(harness: Harness, *args: str) -> tuple[int, str, str]:
    parsed = build_parser().parse_args(["reconcile", *args])
    out, err = io.StringIO(), io.StringIO()
    code = await run_reconcile(
        harness.running.runtime.settings,
        older_than=parsed.older_than,
        limit=parsed.limit,
        concurrency=parsed.concurrency,
        search_pages=parsed.search_pages,
        transport=harness.fake.transport(),
        retry_wait_seconds=0.001,
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


async def test_reconciliation_turns_a_stuck_message_final(harness: Harness) -> None:
    stuck = await stuck_message(harness)
    recent = await stuck_message(harness, hours_ago=1, to="+447700900124")
    harness.fake.set_message_status(stuck["mobivate_id"], "DELIVERED")
    harness.fake.set_message_status(recent["mobivate_id"], "DELIVERED")

    code, out, err = await reconcile_cli(harness, "--older-than", "6h")
    assert code == 0, err
    assert "1 examined: 1 now final" in out
    assert "examined" in err

    message = await harness.message(stuck["id"])
    assert message["status"] == "DELIVERED"
    assert message["final"] is True
    [entry] = [e for e in message["timeline"] if e["event"] == "receipt"]
    assert entry["details"]["source"] == "reconciliation"
    assert entry["details"]["effect"] == "changed"
    assert (await harness.message(recent["id"]))["status"] == "submitted"
    lookups = [r for r in harness.fake.requests if r.method == "GET"]
    assert [r.path for r in lookups] == [f"/message/{harness.fake.sent[0].id}"]


async def test_reconciling_twice_records_nothing_new(harness: Harness) -> None:
    stuck = await stuck_message(harness)
    harness.fake.set_message_status(stuck["mobivate_id"], "ACCEPTED")
    assert (await reconcile_cli(harness))[0] == 0
    assert (await reconcile_cli(harness))[0] == 0
    assert await count_rows(harness.engine, Receipt) == 1
    message = await harness.message(stuck["id"])
    assert (message["status"], message["final"]) == ("ACCEPTED", False)


async def test_reconciliation_never_moves_a_status_back(harness: Harness) -> None:
    stuck = await stuck_message(harness)
    await harness.fake.send_receipt(stuck["mobivate_id"], "DELIVERED")
    await harness.age(stuck["id"], utcnow() - timedelta(hours=7))
    harness.fake.set_message_status(stuck["mobivate_id"], "ACCEPTED")
    code, out, _ = await reconcile_cli(harness)
    assert code == 0
    assert "0 examined" in out
    assert (await harness.message(stuck["id"]))["status"] == "DELIVERED"


async def test_failed_lookups_are_reported(harness: Harness) -> None:
    stuck = await stuck_message(harness)
    harness.fake.fail_next(3, 500)
    code, out, err = await reconcile_cli(harness)
    assert code == 3
    assert "1 lookups failed" in out
    assert "run again" in err
    assert (await harness.message(stuck["id"]))["status"] == "submitted"
    assert len([r for r in harness.fake.requests if r.method == "GET"]) == 3


async def test_message_unknown_to_mobivate_is_reported(harness: Harness) -> None:
    await stuck_message(harness)
    harness.fake.fail_next(1, 404)
    code, out, _ = await reconcile_cli(harness)
    assert code == 0
    assert "1 unknown to Mobivate" in out
    assert "1 still in flight" in out


async def test_refused_api_key_stops_with_exit_code_1(harness: Harness) -> None:
    await stuck_message(harness)
    harness.fake.api_key = "rotated"
    code, _, err = await reconcile_cli(harness)
    assert code == 1
    assert "refused the API key" in err


async def test_stored_receipts_that_were_never_linked_are_linked(harness: Harness) -> None:
    stuck = await stuck_message(harness)
    mobivate_id = harness.fake.sent[0].id
    async with harness.engine.begin() as conn:
        await conn.execute(
            insert(Receipt).values(
                source="webhook",
                dedupe_key="stored-while-unmatched",
                received_at=utcnow(),
                delivery_message_id=mobivate_id,
                message_id_norm=mobivate_id,
                status="EXPIRED",
                status_code=3,
            )
        )
    code, out, _ = await reconcile_cli(harness)
    assert code == 0
    assert "1 stored receipts linked" in out
    assert (await harness.message(stuck["id"]))["status"] == "EXPIRED"
    assert [r for r in harness.fake.requests if r.method == "GET"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
        (" 1W ", timedelta(weeks=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "6", "h", "-1h", "-0s", "1.5h", "6 hours", "6y"])
def test_bad_durations_are_usage_errors(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["reconcile", f"--older-than={text}"])
    assert exit_info.value.code == 2
    assert "duration" in capsys.readouterr().err


def test_reconcile_takes_zero_but_purge_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["reconcile", "--older-than", "0s"]).older_than == timedelta()
    assert build_parser().parse_args(["reconcile", "--older-than", "0h"]).older_than == timedelta()
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["purge", "--older-than", "0s"])
    assert exit_info.value.code == 2
    assert "more than zero" in capsys.readouterr().err


def test_default_is_six_hours() -> None:
    parsed: argparse.Namespace = build_parser().parse_args(["reconcile"])
    assert parsed.older_than == timedelta(hours=6)


async def test_scheduled_reconciliation_runs_in_the_service(database_url: str) -> None:
    settings = sending_settings(
        database_url, reconcile_interval_minutes=0.001, reconcile_older_than_minutes=60
    )
    async with start_harness(settings) as harness:
        stuck = await stuck_message(harness)
        harness.fake.set_message_status(stuck["mobivate_id"], "UNDELIVERABLE")

        async def reconciled() -> bool:
            return bool((await harness.message(stuck["id"]))["status"] == "UNDELIVERABLE")

        await eventually(reconciled, within=5, what="the scheduled reconciliation", interval=0.02)
