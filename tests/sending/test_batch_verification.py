"""A campaign with `verify_numbers` leaves numbers unreachable by lookup out before anything is
sent (a lookup that cannot be made fails the batch before anything is sent), and a dry run
answers what a campaign would send without storing or sending anything."""

from typing import Any

import httpx
import pytest

from app.core.tables import Batch, IdempotencyKey, NumberLookup, OutboundMessage
from tests.support.app import make_settings, start_app
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows


def number(i: int) -> str:
    return f"4477009{i:05d}"


ONE = [{"to": number(0), "text": "x"}]


async def post_batch(
    harness: Harness, messages: list[dict[str, Any]], *, dry_run: bool = False, **fields: Any
) -> httpx.Response:
    url = "/api/v1/batches" + ("?dry_run=true" if dry_run else "")
    return await harness.client.post(url, json={"messages": messages, **fields})


async def nothing_stored(harness: Harness) -> bool:
    return all(
        [
            await count_rows(harness.engine, Batch) == 0,
            await count_rows(harness.engine, OutboundMessage) == 0,
            await count_rows(harness.engine, IdempotencyKey) == 0,
        ]
    )


async def test_verified_batch_skips_unreachable_and_invalid_numbers(harness: Harness) -> None:
    harness.fake.set_hlr(number(1), "unreachable")
    harness.fake.set_hlr(number(2), "invalid")
    harness.fake.set_hlr(number(3), "pending")
    messages = [{"to": "+" + number(i), "text": f"Offer {i}"} for i in range(5)]
    body = await harness.send_batch(messages, verify_numbers=True)
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (1, "hlr_unreachable"),
        (2, "hlr_unreachable"),
    ]
    assert "EC_ABSENT_SUBSCRIBER" in body["skipped"][0]["detail"]
    assert "EC_UNKNOWN_SUBSCRIBER" in body["skipped"][1]["detail"]
    [call] = harness.calls("/send/batch")
    assert [item["recipient"] for item in call.json["recipients"]] == [
        number(0),
        number(3),
        number(4),
    ]
    assert harness.fake.hlr_lookups == [[number(i) for i in range(5)]]
    assert body["accepted"] == 3


async def test_opted_out_and_duplicate_numbers_are_not_looked_up(harness: Harness) -> None:
    await harness.opt_out(number(1))
    messages = [{"to": number(i), "text": "x"} for i in (0, 1, 2, 2)]
    body = await harness.send_batch(messages, verify_numbers=True)
    assert [s["reason"] for s in body["skipped"]] == ["opted_out", "duplicate"]
    assert harness.fake.hlr_lookups == [[number(0), number(2)]]


async def test_without_verify_numbers_nothing_is_looked_up(harness: Harness) -> None:
    harness.fake.set_hlr(number(1), "invalid")
    body = await harness.send_batch([{"to": number(i), "text": "x"} for i in range(3)])
    assert harness.fake.hlr_lookups == []
    assert body["skipped"] == []


async def test_a_batch_whose_numbers_are_all_unreachable_sends_nothing(harness: Harness) -> None:
    for i in range(2):
        harness.fake.set_hlr(number(i), "invalid")
    messages = [{"to": number(i), "text": "x"} for i in range(2)]
    body = await harness.send_batch(messages, verify_numbers=True)
    assert body["state"] == "failed"
    assert "all 2 were left out" in body["error"]["message"]
    assert harness.calls("/send/batch") == []


async def test_a_spent_budget_fails_the_verified_batch_before_anything_is_sent(
    database_url: str,
) -> None:
    settings = sending_settings(database_url, hlr_daily_limit=2)
    async with start_harness(settings) as harness:
        messages = [{"to": number(i), "text": "x"} for i in range(3)]
        body = await harness.send_batch(messages, verify_numbers=True)
        assert body["state"] == "failed"
        assert body["error"]["mobivate_status"] == 429
        assert "HLR_DAILY_LIMIT allows 2" in body["error"]["message"]
        assert harness.fake.requests == []
        assert await count_rows(harness.engine, OutboundMessage) == 0


async def test_a_failing_lookup_fails_the_verified_batch(harness: Harness) -> None:
    harness.fake.fail_next(1, 500)
    messages = [{"to": number(i), "text": "x"} for i in range(3)]
    body = await harness.send_batch(messages, verify_numbers=True)
    assert body["state"] == "failed"
    assert body["error"]["mobivate_status"] == 502
    assert "could not be looked up" in body["error"]["message"]
    assert harness.calls("/send/batch") == []
    assert await count_rows(harness.engine, OutboundMessage) == 0


async def test_dry_run_reports_every_reason_and_the_parts_and_sends_nothing(
    harness: Harness,
) -> None:
    await harness.opt_out(number(1))
    harness.fake.set_hlr(number(4), "unreachable")
    long_gsm = "x" * 161
    messages = [
        {"to": number(0), "text": "Hello", "reference": "r-0"},
        {"to": number(1), "text": "opted out"},
        {"to": "07700 900123", "text": "national"},
        {"to": number(0), "text": "again"},
        {"to": number(4), "text": "switched off"},
        {"to": number(5), "text": long_gsm},
        {"to": number(6), "text": "Привет"},
    ]
    response = await post_batch(harness, messages, dry_run=True, verify_numbers=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dry_run"] is True
    assert body["requested"] == 7
    assert body["would_send"] == 3
    assert body["parts"] == 1 + 2 + 1
    assert body["skipped_by_reason"] == {
        "opted_out": 1,
        "invalid": 1,
        "duplicate": 1,
        "hlr_unreachable": 1,
    }
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (1, "opted_out"),
        (2, "invalid"),
        (3, "duplicate"),
        (4, "hlr_unreachable"),
    ]
    assert body["messages"] == [
        {"index": 0, "to": "+" + number(0), "reference": "r-0", "encoding": "GSM-7", "parts": 1},
        {"index": 5, "to": "+" + number(5), "reference": None, "encoding": "GSM-7", "parts": 2},
        {"index": 6, "to": "+" + number(6), "reference": None, "encoding": "UCS-2", "parts": 1},
    ]
    assert [r.path for r in harness.fake.requests] == ["/hlr"]
    assert harness.fake.sent == []
    assert await nothing_stored(harness)


async def test_a_dry_run_pays_for_lookups_once_and_the_send_reuses_them(
    harness: Harness,
) -> None:
    messages = [{"to": number(i), "text": "x"} for i in range(3)]
    dry = await post_batch(harness, messages, dry_run=True, verify_numbers=True)
    assert dry.status_code == 200, dry.text
    await harness.send_batch(messages, verify_numbers=True)
    assert len(harness.fake.hlr_lookups) == 1
    assert await count_rows(harness.engine, NumberLookup) == 3
    assert len(harness.calls("/send/batch")) == 1


async def test_dry_run_ignores_the_idempotency_key(harness: Harness) -> None:
    messages = [{"to": number(0), "text": "x"}]
    headers = {"Idempotency-Key": "campaign-7"}
    for _ in range(2):
        dry = await harness.client.post(
            "/api/v1/batches?dry_run=true", json={"messages": messages}, headers=headers
        )
        assert dry.status_code == 200, dry.text
        assert "Idempotent-Replayed" not in dry.headers
    real = await harness.client.post(
        "/api/v1/batches", json={"messages": messages}, headers=headers
    )
    assert real.status_code == 202, real.text
    await harness.settled_batch(real.json()["id"])


async def test_dry_run_needs_no_api_key_unless_numbers_are_verified(database_url: str) -> None:
    async with start_app(make_settings(database_url, default_originator="Shop")) as running:
        body = {"messages": [{"to": number(0), "text": "x"}]}
        dry = await running.client.post("/api/v1/batches?dry_run=true", json=body)
        assert dry.status_code == 200, dry.text
        assert dry.json()["would_send"] == 1
        verified = await running.client.post(
            "/api/v1/batches?dry_run=true", json={**body, "verify_numbers": True}
        )
        assert verified.status_code == 503
        assert "MOBIVATE_API_KEY" in verified.json()["detail"]


@pytest.mark.parametrize(
    ("query", "body", "words"),
    [
        ("?dry_run=true", {"messages": []}, "at least one"),
        ("?dry_run=perhaps", {"messages": [{"to": number(0), "text": "x"}]}, "dry_run"),
        ("?dry_run=true&dry_run=false", {"messages": ONE}, "dry_run: is given more than once"),
        ("?dry_run=true", {"messages": [{"to": number(0), "text": "x"}], "verify": 1}, "verify"),
        ("?dry_run=true", {"messages": ONE, "verify_numbers": "no?"}, "verify_numbers"),
        ("?dry_run=true", {"messages": ONE, "originator": "x" * 12}, "originator"),
    ],
)  # fmt: skip
async def test_bad_dry_runs_are_refused_like_sends(
    harness: Harness, query: str, body: dict[str, Any], words: str
) -> None:
    response = await harness.client.post(f"/api/v1/batches{query}", json=body)
    assert response.status_code == 422, response.text
    assert words in response.text
    assert harness.fake.requests == []
    assert await nothing_stored(harness)


async def test_a_dry_run_where_nothing_would_be_sent_says_why(harness: Harness) -> None:
    await harness.opt_out(number(1))
    messages = [{"to": "abc", "text": "x"}, {"to": number(1), "text": "x"}]
    response = await post_batch(harness, messages, dry_run=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["would_send"], body["parts"], body["messages"]) == (0, 0, [])
    assert body["skipped_by_reason"] == {"invalid": 1, "opted_out": 1}
    assert await nothing_stored(harness)
