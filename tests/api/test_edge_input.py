"""Input at the edge of what the database holds, on both backends: dates outside the calendar
the service accepts, NUL and other control characters. Each is a 422 naming the field (or, in
Mobivate's webhooks, stripped before storing); one bad row of a batch is reported without failing
the rest; and no log line ever carries an SQL parameter."""

import base64
import io
import json

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import IncomingMessage, Optout, WebhookRequest
from tests.support.app import AUTH_HEADERS, RunningApp
from tests.support.bodies import incoming
from tests.support.harness import Harness
from tests.support.refusals import refusing
from tests.support.webhooks import post_webhook

EDGE_DATES = [
    "0001-01-01T00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59Z",
    "1899-12-31T23:59:59Z",
]
LISTS = [
    "/api/v1/receipts",
    "/api/v1/incoming",
    "/api/v1/clicks",
    "/api/v1/messages",
    "/api/v1/batches",
    "/api/v1/optouts",
    "/api/v1/optout-pushes",
]
CONTROLS = ["\x00", "\x07", "\x1b[31m", "\x7f", "\ud800"]


async def post_json(client: httpx.AsyncClient, url: str, body: object) -> httpx.Response:
    """JSON with every non-ASCII character escaped, as a lone surrogate can only travel."""
    return await client.post(
        url, content=json.dumps(body), headers={"content-type": "application/json"}
    )


def cursor_at(at: str, row_id: object = 1) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at, row_id])).decode().rstrip("=")


@pytest.mark.parametrize("when", EDGE_DATES)
async def test_dates_outside_the_calendar_are_refused_everywhere_with_422(
    harness: Harness, when: str
) -> None:
    client = harness.client
    answers = {}
    for path in LISTS:
        for name, value in (("since", when), ("until", when), ("cursor", cursor_at(when))):
            answers[path, name] = await client.get(path, params={name: value})
    for name in ("since", "until"):
        answers["/api/v1/stats", name] = await client.get("/api/v1/stats", params={name: when})
    answers["send", "schedule_at"] = await harness.send(schedule_at=when)
    answers["batch", "schedule_at"] = await client.post(
        "/api/v1/batches",
        json={"schedule_at": when, "messages": [{"to": "+447700900123", "text": "Hi"}]},
    )
    statuses = {where: answer.status_code for where, answer in answers.items()}
    assert set(statuses.values()) == {422}, statuses
    since = answers["/api/v1/receipts", "since"].json()["detail"][0]
    assert since["loc"] == ["query", "since"]
    assert "between 1900-01-01T00:00:00Z and 9000-01-01T00:00:00Z" in since["msg"]
    assert "cursor" in answers["/api/v1/optouts", "cursor"].text
    assert harness.fake.sent == []


@pytest.mark.parametrize("control", CONTROLS)
async def test_control_characters_in_api_input_are_refused_naming_the_field(
    harness: Harness, control: str
) -> None:
    client = harness.client
    for field in ("text", "reference", "route_id", "to"):
        body = {"to": "+447700900123", "text": "Hello", field: f"a{control}b"}
        if field == "to":
            body["to"] = f"+447700900123{control}"
        answer = await post_json(client, "/api/v1/messages", body)
        assert answer.status_code == 422, (field, answer.text)
        assert field in answer.text
    batches: list[dict[str, object]] = [
        {"name": f"spring{control}", "messages": [{"to": "+447700900123", "text": "Hi"}]},
        {"route_id": f"r{control}", "messages": [{"to": "+447700900123", "text": "Hi"}]},
    ]
    for batch in batches:
        answer = await post_json(client, "/api/v1/batches", batch)
        assert answer.status_code == 422, answer.text
    refused = await post_json(
        client, "/api/v1/optouts", {"msisdn": "447700900123", "reason": f"asked{control}"}
    )
    assert refused.status_code == 422
    assert "reason" in refused.text
    if control != "\ud800":  # a URL carries UTF-8, which has no lone surrogates
        listed = await client.get("/api/v1/receipts", params={"reference": f"x{control}"})
        assert listed.status_code == 422
    assert harness.fake.sent == []


async def test_one_bad_row_of_a_batch_is_reported_and_the_rest_is_sent(harness: Harness) -> None:
    answer = await harness.client.post(
        "/api/v1/batches",
        json={
            "name": "spring",
            "messages": [
                {"to": "+447700900123", "text": "Hi\x00there"},
                {"to": "+447700900124\x00", "text": "Hi"},
                {"to": "+447700900125", "text": "Hi", "reference": "r\x001"},
                {"to": "+447700900126", "text": "Fine\nand well"},
            ],
        },
    )
    assert answer.status_code == 202, answer.text
    body = await harness.settled_batch(answer.json()["id"])
    assert (body["requested"], body["accepted"]) == (4, 1)
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [
        (0, "invalid"),
        (1, "invalid"),
        (2, "invalid"),
    ]
    assert body["skipped"][1]["to"] == "+447700900124"
    assert "messages[0].text: must not contain control characters" in body["skipped"][0]["detail"]
    again = await harness.client.get(f"/api/v1/batches/{body['id']}")
    assert again.status_code == 200
    assert [m.body for m in harness.fake.sent] == ["Fine\nand well"]


async def test_a_batch_row_with_a_lone_surrogate_is_reported_and_the_rest_is_sent(
    harness: Harness,
) -> None:
    batch = {
        "messages": [
            {"to": "+447700900123", "text": "Hi\ud800"},
            {"to": "+447700900124", "text": "Hi", "reference": "r\ud8001"},
            {"to": "+447700900125", "text": "Fine"},
        ]
    }
    answer = await post_json(harness.client, "/api/v1/batches", batch)
    assert answer.status_code == 202, answer.text
    body = await harness.settled_batch(answer.json()["id"])
    assert (body["requested"], body["accepted"]) == (3, 1)
    assert [(s["index"], s["reason"]) for s in body["skipped"]] == [(0, "invalid"), (1, "invalid")]
    assert "messages[0].text" in body["skipped"][0]["detail"]
    assert "messages[1].reference" in body["skipped"][1]["detail"]
    assert [m.body for m in harness.fake.sent] == ["Fine"]


async def test_control_characters_in_webhooks_are_stripped_and_the_raw_body_kept(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = incoming("447700900321", "ST\x00OP\x1b", message_id="M\x001", recipient="6\x0740")
    body["hlr"] = {"network": "Voda\x00fone"}
    answer = await post_webhook(client, "incoming", body)
    assert answer.json() == {"status": "stored"}
    async with engine.connect() as conn:
        stored = (await conn.execute(select(IncomingMessage))).one()
        raw = await conn.scalar(select(WebhookRequest.body))
        optout = await conn.scalar(select(Optout.opted_out))
    assert (stored.body, stored.mobivate_id, stored.recipient) == ("STOP", "M1", "640")
    assert raw is not None
    assert b"ST\\u0000OP" in raw
    assert optout is True


async def test_sql_parameters_never_reach_the_logs(
    running: RunningApp, engine: AsyncEngine, app_logs: io.StringIO
) -> None:
    """A statement the database refuses (a trigger stands in for any fault): the answer is a
    500 and neither the log nor the answer holds the number or the reason sent."""
    transport = httpx.ASGITransport(app=running.app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=AUTH_HEADERS
        ) as client,
        refusing(engine, "optout_events", sqlite_when="1", postgres_when="true"),
    ):
        answer = await client.post(
            "/api/v1/optouts", json={"msisdn": "447700900987", "reason": "secret-reason-text"}
        )
    assert answer.status_code == 500
    logs = app_logs.getvalue()
    assert "internal error in opt_out: " in logs
    assert "refused by the test trigger" in logs
    assert "hidden due to hide_parameters" in logs
    for leaked in ("447700900987", "secret-reason-text"):
        assert leaked not in logs
        assert leaked not in answer.text
