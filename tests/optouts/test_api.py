"""The opt-out REST API, and `is_opted_out` for sending."""

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.optouts.registry import OptoutChange, is_opted_out, record_changes
from tests.support.app import start_app
from tests.support.fake import fake_mobivate, optout_calls
from tests.support.optouts import all_settled, optout_settings
from tests.support.waiting import eventually

NUMBER = "+447700900123"
# What Mobivate is sent.
DIGITS = "447700900123"


def encode_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


async def test_unknown_number_is_404_and_a_malformed_one_422(database_url: str) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        unknown = await running.client.get(f"/api/v1/optouts/{NUMBER}")
        national = await running.client.get("/api/v1/optouts/07700900123")
        letters = await running.client.get("/api/v1/optouts/call-me")
    assert unknown.status_code == 404
    assert NUMBER in unknown.json()["detail"]
    assert national.status_code == 422
    assert "national form" in national.json()["detail"]
    assert letters.status_code == 422
    assert "is not a phone number" in letters.json()["detail"]


async def test_operator_opt_out_is_recorded_and_pushed(
    database_url: str, engine: AsyncEngine
) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        response = await running.client.post(
            "/api/v1/optouts",
            json={"msisdn": "+44 7700 900123", "reason": "asked by phone", "source": "operator"},
        )
        await eventually(lambda: all_settled(engine), what="the push")
        same = await running.client.get("/api/v1/optouts/0044 7700-900123")
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/optouts/{NUMBER}"
    body = response.json()
    assert body["msisdn"] == NUMBER
    assert body["opted_out"] is True
    assert body["state"]["source"] == "operator"
    assert body["state"]["reason"] == "asked by phone"
    [event] = body["history"]
    assert (event["action"], event["source"], event["reason"]) == (
        "opt_out",
        "operator",
        "asked by phone",
    )
    assert same.json()["pushes"][0]["state"] == "delivered"
    assert optout_calls(fake) == [("POST", DIGITS)]


async def test_opt_out_through_the_api_defaults_to_source_api(database_url: str) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        response = await running.client.post("/api/v1/optouts", json={"msisdn": NUMBER})
    assert response.json()["state"]["source"] == "api"
    assert response.json()["state"]["reason"] is None


async def test_opt_out_with_a_bad_body_is_422_naming_the_problem(database_url: str) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        bad_number = await running.client.post("/api/v1/optouts", json={"msisdn": "12"})
        missing = await running.client.post("/api/v1/optouts", json={"reason": "x"})
        bad_source = await running.client.post(
            "/api/v1/optouts", json={"msisdn": NUMBER, "source": "imported"}
        )
    assert bad_number.status_code == 422
    assert "fewer than 3 digits" in bad_number.json()["detail"]
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "msisdn"]
    assert bad_source.status_code == 422


async def test_delete_opts_a_number_back_in_and_removes_it_at_mobivate(
    database_url: str, engine: AsyncEngine
) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        await running.client.post("/api/v1/optouts", json={"msisdn": NUMBER})
        response = await running.client.delete(
            f"/api/v1/optouts/{DIGITS}", params={"reason": "customer called", "source": "operator"}
        )

        async def both() -> bool:
            return len(optout_calls(fake)) == 2

        await eventually(both, what="both pushes")
    assert response.status_code == 200
    body = response.json()
    assert body["opted_out"] is False
    assert [(e["action"], e["source"]) for e in body["history"]] == [
        ("opt_out", "api"),
        ("opt_in", "operator"),
    ]
    assert body["history"][1]["reason"] == "customer called"
    assert optout_calls(fake) == [("POST", DIGITS), ("DELETE", DIGITS)]
    assert DIGITS not in fake.optouts


async def test_delete_of_an_unknown_or_malformed_number(database_url: str) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        unknown = await running.client.delete(f"/api/v1/optouts/{NUMBER}")
        malformed = await running.client.delete("/api/v1/optouts/0770")
    assert unknown.status_code == 404
    assert "sync-optouts" in unknown.json()["detail"]
    assert malformed.status_code == 422
    assert optout_calls(fake) == []


async def test_list_pages_through_opted_out_numbers_newest_first(
    database_url: str, engine: AsyncEngine
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    numbers = [f"44770090{index:04d}" for index in range(7)]
    async with engine.begin() as conn:
        await record_changes(
            conn,
            [
                OptoutChange(number, "opt_out", "imported", start + timedelta(minutes=index))
                for index, number in enumerate(numbers)
            ]
            # Same time as the newest: ordered by number among equals.
            + [OptoutChange("447700909999", "opt_out", "imported", start + timedelta(minutes=6))]
            # Opted back in: not listed.
            + [OptoutChange(numbers[3], "opt_in", "operator", start + timedelta(hours=1))],
        )
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = (await running.client.get("/api/v1/optouts", params=params)).json()
            pages += 1
            seen.extend(item["msisdn"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        bad = await running.client.get("/api/v1/optouts", params={"cursor": "garbage"})
        naive = await running.client.get(
            "/api/v1/optouts", params={"cursor": encode_cursor(["2026-01-01T00:00:00", "44"])}
        )
        huge = await running.client.get(
            "/api/v1/optout-pushes", params={"cursor": encode_cursor(10**30)}
        )
        too_big = await running.client.get("/api/v1/optouts", params={"limit": 5000})
    expected = ["447700909999", *reversed(numbers)]
    expected.remove(numbers[3])
    assert seen == expected
    assert pages == 3
    for refused in (bad, naive, huge):
        assert refused.status_code == 422
        # The shape every list answers a bad parameter with: `loc` names it.
        assert refused.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert too_big.status_code == 422


async def test_push_list_filters_by_state_and_pages(database_url: str, engine: AsyncEngine) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        fake.fail_next(2, 400)
        for index in range(5):
            await running.client.post("/api/v1/optouts", json={"msisdn": f"44770090000{index}"})
            await eventually(lambda: all_settled(engine), what="the push")
        failed = (await running.client.get("/api/v1/optout-pushes?state=failed")).json()
        first = (await running.client.get("/api/v1/optout-pushes?limit=3")).json()
        rest = (
            await running.client.get(f"/api/v1/optout-pushes?limit=3&cursor={first['next_cursor']}")
        ).json()
    assert [item["msisdn"] for item in failed["items"]] == ["+447700900001", "+447700900000"]
    assert [item["state"] for item in first["items"] + rest["items"]] == [
        "delivered",
        "delivered",
        "delivered",
        "failed",
        "failed",
    ]
    assert rest["next_cursor"] is None


async def test_the_api_needs_a_token(database_url: str) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        transport = httpx.ASGITransport(app=running.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
            response = await anonymous.get("/api/v1/optouts")
    assert response.status_code == 401


async def test_is_opted_out_answers_for_many_numbers_at_once(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await record_changes(
            conn,
            [
                OptoutChange("+447700900001", "opt_out", "api", now),
                OptoutChange("+447700900002", "opt_out", "api", now),
                OptoutChange("+447700900002", "opt_in", "api", now + timedelta(seconds=1)),
                OptoutChange("+447700900003", "help", "incoming_sms", now),
            ],
        )
    asked = ["+447700900001", "+447700900002", "+447700900003", "+447700900004"]
    asked += [f"+4477009{index:05d}" for index in range(100, 12_100)]
    assert await is_opted_out(engine, asked) == {"+447700900001"}
    async with engine.connect() as conn:
        assert await is_opted_out(conn, ["+447700900001"]) == {"+447700900001"}
    assert await is_opted_out(engine, []) == set()


async def test_thousands_of_changes_fit_in_one_transaction(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    changes = [OptoutChange(f"+4478{index:07d}", "opt_out", "api", now) for index in range(5000)]
    async with engine.begin() as conn:
        result = await record_changes(conn, changes)
    assert (result.recorded, len(result.changed), result.pushes) == (5000, 5000, 5000)
    assert len(await is_opted_out(engine, [change.msisdn for change in changes])) == 5000
