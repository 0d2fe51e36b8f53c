"""`GET /api/v1/stats` against figures computed by hand from a small, fully known history."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.core.tables import Click, OutboundMessage, StatsDirtyHour, StatsHour
from app.stats.rollup import refresh
from tests.support.harness import Harness, send_message
from tests.support.webhooks import post_click, post_incoming, post_receipt

DAY1 = datetime(2026, 11, 20, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def t(day: datetime, hour: int, minute: int, second: int = 0) -> datetime:
    return day + timedelta(hours=hour, minutes=minute, seconds=second)


# number, created, final receipt (status, code, time) or None
MESSAGES = [
    ("447700900001", t(DAY1, 12, 0), ("DELIVERED", 1, t(DAY1, 12, 0, 10))),
    ("447700900002", t(DAY1, 12, 10), ("DELIVERED", 1, t(DAY1, 12, 10, 30))),
    ("447700900003", t(DAY1, 12, 20), ("UNDELIVERABLE", 5, t(DAY1, 12, 21))),
    ("447700900004", t(DAY1, 12, 30), ("ACCEPTED", 2, t(DAY1, 12, 30, 5))),
    ("447700900005", t(DAY1, 13, 5), ("DELIVERED", 1, t(DAY1, 13, 5, 20))),
    ("447700900006", t(DAY1, 13, 10), ("DELIVERED", 1, t(DAY1, 13, 11))),
    ("447700900007", t(DAY2, 9, 0), ("DELIVERED", 1, t(DAY2, 9, 0, 5))),
]
CLICKS = [
    ("447700900001", t(DAY1, 12, 40)),
    ("447700900001", t(DAY1, 12, 41)),
    ("447700900002", t(DAY1, 13, 20)),
    ("447700900005", t(DAY2, 9, 30)),
]
INCOMING = [
    ("447700900001", "Thanks", t(DAY1, 12, 45)),
    ("447700900003", "STOP", t(DAY1, 13, 30)),
    ("447700900003", "START", t(DAY2, 10, 0)),
    ("447700900006", "STOP", t(DAY2, 10, 5)),
]
ZERO = {
    "sent": 0,
    "delivered": 0,
    "failed": 0,
    "pending": 0,
    "delivery_rate": None,
    "median_seconds_to_delivery": None,
    "p90_seconds_to_delivery": None,
    "p95_seconds_to_delivery": None,
    "clicks": 0,
    "unique_clickers": 0,
    "click_through_rate": None,
    "incoming": 0,
    "opt_outs": 0,
    "opt_ins": 0,
}


def figures(**values: Any) -> dict[str, Any]:
    return {**ZERO, **values}


def delivery(median: float, p90: float, p95: float) -> dict[str, float]:
    return {
        "median_seconds_to_delivery": median,
        "p90_seconds_to_delivery": p90,
        "p95_seconds_to_delivery": p95,
    }


@pytest.fixture
async def history(harness: Harness) -> None:
    client = harness.client
    for index, (number, created, (status, code, when)) in enumerate(MESSAGES):
        sent = await send_message(harness, "+" + number, f"stats-{index}")
        async with harness.engine.begin() as conn:
            await conn.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == sent["id"])
                .values(created_at=created, submitted_at=created)
            )
        await post_receipt(client, sent["mobivate_id"], status, code, when)
        by_number = {number: sent["mobivate_id"]}
        for clicker, clicked_at in CLICKS:
            if clicker in by_number:
                await post_click(client, clicker, by_number[clicker], url=f"https://x/{clicked_at}")
                async with harness.engine.begin() as conn:
                    await conn.execute(
                        update(Click)
                        .where(Click.url == f"https://x/{clicked_at}")
                        .values(received_at=clicked_at)
                    )
    for index, (number, body, when) in enumerate(INCOMING):
        await post_incoming(client, f"IN-{index}", number, body, when)


async def stats(harness: Harness, **params: str) -> dict[str, Any]:
    response = await harness.client.get("/api/v1/stats", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def without_start(bucket: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in bucket.items() if key != "start"}


@pytest.mark.usefixtures("history")
async def test_hourly_figures_match_the_hand_computed_ones(harness: Harness) -> None:
    body = await stats(
        harness, since=t(DAY1, 12, 0).isoformat(), until=t(DAY2, 12, 0).isoformat(), bucket="hour"
    )
    assert len(body["buckets"]) == 24
    by_start = {b["start"]: without_start(b) for b in body["buckets"]}
    assert by_start["2026-11-20T12:00:00Z"] == figures(
        sent=4,
        delivered=2,
        failed=1,
        pending=1,
        delivery_rate=0.5,
        **delivery(20.0, 28.0, 29.0),  # 10 and 30 s
        clicks=2,
        unique_clickers=1,
        click_through_rate=0.5,
        incoming=1,
    )
    assert by_start["2026-11-20T13:00:00Z"] == figures(
        sent=2,
        delivered=2,
        delivery_rate=1.0,
        **delivery(40.0, 56.0, 58.0),  # 20 and 60 s
        clicks=1,
        unique_clickers=1,
        click_through_rate=0.5,
        incoming=1,
        opt_outs=1,
    )
    assert by_start["2026-11-21T09:00:00Z"] == figures(
        sent=1,
        delivered=1,
        delivery_rate=1.0,
        **delivery(5.0, 5.0, 5.0),
        clicks=1,
        unique_clickers=1,
        click_through_rate=1.0,
    )
    assert by_start["2026-11-21T10:00:00Z"] == figures(incoming=2, opt_outs=1, opt_ins=1)
    assert by_start["2026-11-20T14:00:00Z"] == ZERO
    assert body["totals"] == figures(
        sent=7,
        delivered=5,
        failed=1,
        pending=1,
        delivery_rate=0.7143,
        **delivery(20.0, 48.0, 54.0),  # 5, 10, 20, 30 and 60 s
        clicks=4,
        unique_clickers=3,
        click_through_rate=0.6,
        incoming=4,
        opt_outs=2,
        opt_ins=1,
    )


@pytest.mark.usefixtures("history")
async def test_daily_figures_and_window_edges(harness: Harness) -> None:
    body = await stats(harness, since="2026-11-20T12:00:00Z", until="2026-11-22T00:00:00Z")
    assert body["bucket"] == "day"
    assert [b["start"] for b in body["buckets"]] == ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"]
    first, second = (without_start(b) for b in body["buckets"])
    assert first == figures(
        sent=6,
        delivered=4,
        failed=1,
        pending=1,
        delivery_rate=0.6667,
        **delivery(25.0, 51.0, 55.5),  # 10, 20, 30 and 60 s
        clicks=3,
        unique_clickers=2,
        click_through_rate=0.5,
        incoming=2,
        opt_outs=1,
    )
    assert second == figures(
        sent=1,
        delivered=1,
        delivery_rate=1.0,
        **delivery(5.0, 5.0, 5.0),
        clicks=1,
        unique_clickers=1,
        click_through_rate=1.0,
        incoming=2,
        opt_outs=1,
        opt_ins=1,
    )
    # `until` is exclusive: a window ending at 13:05 leaves out the message created then.
    edge = await stats(harness, since="2026-11-20T13:00:00Z", until="2026-11-20T13:05:00Z")
    assert edge["totals"]["sent"] == 0
    edge = await stats(harness, since="2026-11-20T13:05:00Z", until="2026-11-20T13:06:00Z")
    assert edge["totals"]["sent"] == 1


async def test_empty_window_and_invalid_parameters(harness: Harness) -> None:
    body = await stats(harness, since="2026-01-01T00:00:00Z", until="2026-01-03T00:00:00Z")
    assert body["totals"] == ZERO
    assert len(body["buckets"]) == 2
    for params, name in [
        ({"bucket": "week"}, "bucket"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"since": "2000-01-01T00:00:00Z", "bucket": "hour"}, "bucket"),
    ]:
        response = await harness.client.get("/api/v1/stats", params=params)
        assert response.status_code == 422, params
        assert name in response.text


@pytest.mark.usefixtures("history")
async def test_kept_hours_give_the_same_figures_and_changes_show_at_once(
    harness: Harness, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("hours are kept on PostgreSQL only")
    window = {"since": "2026-11-20T12:00:00Z", "until": "2026-11-22T00:00:00Z", "bucket": "hour"}
    computed = await stats(harness, **window)
    assert await refresh(harness.engine) > 0
    async with harness.engine.connect() as conn:
        kept = await conn.scalar(select(func.count()).select_from(StatsHour))
        past = StatsDirtyHour.hour < datetime.now(UTC) - timedelta(hours=1)
        dirty = await conn.scalar(select(func.count()).where(past))
    assert kept
    assert not dirty  # marks of the current hour stay until it is over
    assert await stats(harness, **window) == computed

    # The pending message of 12:30 is delivered: its hour is no longer taken as kept.
    pending = harness.fake.sent[3]
    await post_receipt(harness.client, pending.id, "DELIVERED", 1, t(DAY1, 12, 30, 45))
    changed = await stats(harness, **window)
    noon = next(b for b in changed["buckets"] if b["start"] == "2026-11-20T12:00:00Z")
    assert (noon["delivered"], noon["pending"]) == (3, 0)
    assert noon["median_seconds_to_delivery"] == 30.0  # 10, 30 and 45 s
    assert (noon["p90_seconds_to_delivery"], noon["p95_seconds_to_delivery"]) == (42.0, 43.5)
    assert changed["totals"]["delivered"] == 6
    await refresh(harness.engine)
    assert await stats(harness, **window) == changed


async def test_a_batch_shows_its_own_figures(harness: Harness) -> None:
    response = await harness.client.post(
        "/api/v1/batches",
        json={
            "messages": [
                {"to": "+447700900001", "text": "Sale"},
                {"to": "+447700900002", "text": "Sale"},
            ]
        },
    )
    assert response.status_code == 202, response.text
    batch = await harness.settled_batch(response.json()["id"])
    first = harness.fake.sent[0]
    when = datetime.now(UTC) + timedelta(seconds=30)
    await post_receipt(
        harness.client,
        first.id,
        "DELIVERED",
        1,
        when,
        batch=first.batch_id,
        reference=first.reference,
    )
    await post_click(harness.client, "447700900001", first.id)
    detail = (await harness.client.get(f"/api/v1/batches/{batch['id']}")).json()
    figures = detail["stats"]
    assert (figures["sent"], figures["delivered"], figures["pending"]) == (2, 1, 1)
    assert figures["delivery_rate"] == 0.5
    assert 0 < figures["median_seconds_to_delivery"] < 60
    assert (figures["clicks"], figures["unique_clickers"]) == (1, 1)
    assert figures["click_through_rate"] == 1.0


async def test_a_batch_counts_the_opt_outs_that_reply_to_its_messages(harness: Harness) -> None:
    numbers = ["447700900001", "447700900002", "447700900003", "447700900004"]
    response = await harness.client.post(
        "/api/v1/batches",
        json={"messages": [{"to": "+" + number, "text": "Sale"} for number in numbers]},
    )
    assert response.status_code == 202, response.text
    batch = await harness.settled_batch(response.json()["id"])
    await harness.fake.deliver_receipts()  # Mobivate's ids of the messages become known
    sent = {message.recipient: message for message in harness.fake.sent}
    fake = harness.fake
    await fake.send_incoming(numbers[0], "STOP", in_reply_to=sent[numbers[0]])
    await fake.send_incoming(numbers[0], "stop please", in_reply_to=sent[numbers[0]])
    await fake.send_incoming(numbers[1], "STOP")  # not a reply to the batch
    await fake.send_incoming(numbers[2], "How much?", in_reply_to=sent[numbers[2]])
    await fake.send_incoming(numbers[3], "Please stop texting me", in_reply_to=sent[numbers[3]])
    await fake.send_incoming(numbers[3], "START", in_reply_to=sent[numbers[3]])
    await harness.opt_out(numbers[2])  # by an operator: not a reply

    figures = (await harness.client.get(f"/api/v1/batches/{batch['id']}")).json()["stats"]

    assert figures["incoming"] == 5
    assert (figures["opt_outs"], figures["opt_ins"]) == (2, 1)


async def test_a_reply_confirmed_from_the_review_queue_counts_for_its_batch(
    harness: Harness,
) -> None:
    response = await harness.client.post(
        "/api/v1/batches", json={"messages": [{"to": "+447700900001", "text": "Sale"}]}
    )
    batch = await harness.settled_batch(response.json()["id"])
    await harness.fake.deliver_receipts()
    [message] = harness.fake.sent
    await harness.fake.send_incoming("447700900001", "stop the deals", in_reply_to=message)
    before = (await harness.client.get(f"/api/v1/batches/{batch['id']}")).json()["stats"]
    [review] = (await harness.client.get("/api/v1/optouts/review")).json()["items"]

    decided = await harness.client.post(
        f"/api/v1/optouts/review/{review['id']}", json={"decision": "opt_out"}
    )

    assert decided.status_code == 200, decided.text
    after = (await harness.client.get(f"/api/v1/batches/{batch['id']}")).json()["stats"]
    assert (before["opt_outs"], after["opt_outs"]) == (0, 1)
