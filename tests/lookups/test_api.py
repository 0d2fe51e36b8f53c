"""Number lookups through the REST API against the fake Mobivate: split into calls, cached,
held to the daily budget, and every kind of bad input or Mobivate failure answered plainly."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.tables import NumberLookup
from app.fake_mobivate import FakeMobivate
from tests.support.app import make_settings, start_app
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows


def number(i: int) -> str:
    return f"4477009{i:05d}"


async def start(database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    async with start_harness(sending_settings(database_url, **overrides)) as harness:
        yield harness


@pytest.fixture
async def small(database_url: str) -> AsyncIterator[Harness]:
    """Calls of at most 100 numbers, a budget of 300 a day."""
    async for harness in start(database_url, hlr_batch_size=100, hlr_daily_limit=300):
        yield harness


async def lookups(harness: Harness, numbers: list[str]) -> httpx.Response:
    return await harness.client.post("/api/v1/lookups", json={"numbers": numbers})


async def test_a_long_list_is_split_into_calls_and_answered_in_order(small: Harness) -> None:
    small.fake.set_hlr(number(3), "unreachable")
    small.fake.set_hlr(number(4), "invalid")
    small.fake.set_hlr(number(5), "pending")
    small.fake.set_hlr(number(6), ported=True)
    asked = ["+" + number(i) for i in range(250)]
    response = await lookups(small, asked)
    assert response.status_code == 200, response.text
    assert [len(call) for call in small.fake.hlr_lookups] == [100, 100, 50]
    items = response.json()["items"]
    assert [item["number"] for item in items] == asked
    assert [item["reachable"] for item in items[2:7]] == [True, False, False, None, True]
    live, unreachable, invalid, pending, ported = items[2:7]
    assert live["network"] == "MNO - BT - Everything Everywhere Limited"
    assert live["country"] == "United Kingdom"
    assert live["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert live["error"]["name"] == "NO_ERROR"
    assert unreachable["error"]["name"] == "EC_ABSENT_SUBSCRIBER"
    assert invalid["error"] == {
        "groupId": 1,
        "groupName": "HANDSET_ERRORS",
        "id": 1,
        "name": "EC_UNKNOWN_SUBSCRIBER",
        "description": "Unknown Subscriber",
        "permanent": True,
    }
    assert pending["status"]["groupName"] == "PENDING"
    assert ported["ported"] is True
    assert ported["network"] == "MNO - Virgin Media O2 (Telefonica UK Ltd)"
    assert not any(item["cached"] for item in items)
    assert all(item["looked_up_at"].endswith("Z") for item in items)


async def test_definite_answers_are_cached_and_cannot_tell_is_asked_again(
    small: Harness,
) -> None:
    small.fake.set_hlr(number(2), "pending")
    first = await lookups(small, [number(0), number(1), number(2)])
    assert first.status_code == 200, first.text
    second = await lookups(small, ["+44 7700 900000", number(1), number(2)])
    assert second.status_code == 200, second.text
    assert small.fake.hlr_lookups == [[number(0), number(1), number(2)], [number(2)]]
    assert [item["cached"] for item in second.json()["items"]] == [True, True, False]
    assert second.json()["items"][0]["looked_up_at"] == first.json()["items"][0]["looked_up_at"]

    one = await small.client.get(f"/api/v1/lookups/+{number(1)}")
    assert one.status_code == 200, one.text
    assert one.json()["cached"] is True
    assert len(small.fake.hlr_lookups) == 2


async def test_a_number_given_twice_is_looked_up_once(small: Harness) -> None:
    response = await lookups(small, [number(1), "+" + number(1), "00" + number(1)])
    assert response.status_code == 200, response.text
    assert [item["number"] for item in response.json()["items"]] == ["+" + number(1)]
    assert small.fake.hlr_lookups == [[number(1)]]


async def test_a_changed_answer_replaces_the_cached_one_after_the_cache_hours(
    database_url: str,
) -> None:
    async for harness in start(database_url, hlr_cache_hours=0):
        assert (await lookups(harness, [number(1)])).json()["items"][0]["reachable"] is True
        harness.fake.set_hlr(number(1), "invalid")
        again = await lookups(harness, [number(1)])
        assert again.json()["items"][0]["reachable"] is False
        assert await count_rows(harness.engine, NumberLookup) == 1


async def test_the_daily_budget_refuses_new_numbers_and_still_serves_cached_ones(
    small: Harness,
) -> None:
    first = await lookups(small, [number(i) for i in range(250)])
    assert first.status_code == 200, first.text
    over = await lookups(small, [number(i) for i in range(240, 310)])
    assert over.status_code == 429
    detail = over.json()["detail"]
    assert "HLR_DAILY_LIMIT allows 300" in detail
    assert "250 are used and 60 more would be needed" in detail
    assert "10 of the numbers have cached answers" in detail
    assert len(small.fake.hlr_lookups) == 3

    cached = await lookups(small, [number(i) for i in range(240, 250)])
    assert cached.status_code == 200, cached.text
    assert all(item["cached"] for item in cached.json()["items"])
    fits = await lookups(small, [number(i) for i in range(250, 300)])
    assert fits.status_code == 200, fits.text
    refused = await small.client.get(f"/api/v1/lookups/{number(300)}")
    assert refused.status_code == 429
    assert "HLR_DAILY_LIMIT" in refused.json()["detail"]
    assert len(small.fake.hlr_lookups) == 4


async def test_a_failing_call_gives_its_numbers_back_and_keeps_the_others(
    small: Harness,
) -> None:
    small.fake.fail_next(1, 500)
    response = await lookups(small, [number(i) for i in range(200)])
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert "HTTP 500" in detail
    assert "1 of 2 lookup calls failed and 100 numbers were not looked up" in detail
    assert await count_rows(small.engine, NumberLookup) == 100
    again = await lookups(small, [number(i) for i in range(200)])
    assert again.status_code == 200, again.text
    assert sum(item["cached"] for item in again.json()["items"]) == 100
    # 100 + 100 numbers asked successfully; the failed 100 were given back: 100 left today.
    last = await lookups(small, [number(i) for i in range(200, 300)])
    assert last.status_code == 200, last.text


class _Garbled(httpx.AsyncBaseTransport):
    """The fake, except that its HLR answers are not JSON."""

    def __init__(self, fake: FakeMobivate) -> None:
        self.inner = fake.transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/hlr":
            return httpx.Response(200, content=b"<html>maintenance</html>")
        return await self.inner.handle_async_request(request)


async def test_an_unreadable_answer_is_502_and_nothing_is_cached(database_url: str) -> None:
    async with start_harness(sending_settings(database_url), wrap=_Garbled) as harness:
        response = await lookups(harness, [number(1)])
        assert response.status_code == 502, response.text
        assert "not JSON" in response.json()["detail"]
        assert await count_rows(harness.engine, NumberLookup) == 0


async def test_mobivate_down_is_503_and_a_refused_key_is_502(small: Harness) -> None:
    small.fake.down = True
    response = await lookups(small, [number(1)])
    assert response.status_code == 503, response.text
    assert "unreachable" in response.json()["detail"]
    small.fake.down = False
    small.fake.api_key = "another-key"
    response = await lookups(small, [number(1)])
    assert response.status_code == 502, response.text
    assert "refused the service's API key" in response.json()["detail"]


async def test_without_an_api_key_lookups_are_503_but_cached_answers_are_served(
    database_url: str,
) -> None:
    async for harness in start(database_url):
        assert (await lookups(harness, [number(1)])).status_code == 200
    async with start_app(make_settings(database_url)) as running:
        cached = await running.client.get(f"/api/v1/lookups/{number(1)}")
        assert cached.status_code == 200, cached.text
        assert cached.json()["cached"] is True
        missing = await running.client.get(f"/api/v1/lookups/{number(2)}")
        assert missing.status_code == 503
        assert "MOBIVATE_API_KEY" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"numbers": []}, "at least one number"),
        ({"numbers": ["447700900001", "07700 900123"]}, "numbers[1]"),
        ({"numbers": ["447700900001", "abc"]}, "is not a phone number"),
        ({"numbers": ["+44 12345"]}, "numbers[0]"),
        ({"numbers": ["4" * 16]}, "numbers[0]"),
        ({"numbers": "447700900001"}, "numbers"),
        ({"numbers": [447700900001]}, "numbers"),
        ({"numbers": [None]}, "numbers"),
        ({}, "numbers"),
        ({"numbers": ["447700900001"], "extra": 1}, "extra"),
    ],
)
async def test_bad_input_is_422_naming_it_and_nothing_is_asked(
    small: Harness, body: object, words: str
) -> None:
    response = await small.client.post("/api/v1/lookups", json=body)
    assert response.status_code == 422, response.text
    assert words in response.text
    assert small.fake.hlr_lookups == []


async def test_a_huge_number_is_not_echoed_back_whole(small: Harness) -> None:
    response = await lookups(small, ["4" * 100_000])
    assert response.status_code == 422
    assert len(response.text) < 300
    assert response.json()["detail"].startswith("numbers[0]: '" + "4" * 40 + "...'")


async def test_a_huge_list_is_refused_before_anything_is_asked(database_url: str) -> None:
    async for harness in start(database_url, batch_max_messages=50):
        response = await lookups(harness, [number(i) for i in range(51)])
        assert response.status_code == 422
        assert "at most 50 per request (BATCH_MAX_MESSAGES)" in response.json()["detail"]
        assert harness.fake.requests == []


@pytest.mark.parametrize("path", ["abc", "07700900123", "%2B44%2012345", "4" * 40])
async def test_one_bad_number_in_the_path_is_422(small: Harness, path: str) -> None:
    response = await small.client.get(f"/api/v1/lookups/{path}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("number: ")
    assert small.fake.requests == []


async def test_lookups_need_the_api_token(small: Harness) -> None:
    response = await small.client.post(
        "/api/v1/lookups", json={"numbers": [number(1)]}, headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 401
    assert small.fake.requests == []


def drawn_number_lists() -> list[list[str]]:
    drawn: list[list[str]] = []

    @given(st.lists(st.text(max_size=20), max_size=5))
    @settings(max_examples=60, database=None, derandomize=True, deadline=None)
    def draw(numbers: list[str]) -> None:
        drawn.append(numbers)

    draw()
    return drawn


async def test_any_list_of_strings_is_answered_without_a_server_error(small: Harness) -> None:
    for numbers in drawn_number_lists():
        response = await lookups(small, numbers)
        assert response.status_code in (200, 422), (numbers, response.text)
        assert response.json().get("detail") or response.json()["items"]
