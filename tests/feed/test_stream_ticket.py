"""A browser opens the live feed with a short-lived stream ticket, never with the API token in
its URL; the ticket opens nothing else; CORS lets listed dashboard origins call the API and no
other (the same flows in Chromium: tests/ui/test_browser_dashboards.py)."""

import time

import pytest
from pydantic import ValidationError

from app.api import tickets
from app.config import Settings
from tests.support.app import API_TOKEN, RunningApp, client_from, make_settings, start_app
from tests.support.bodies import at
from tests.support.sse import open_stream
from tests.support.webhooks import post_receipt

DASHBOARD = "https://dash.example.com"


async def test_a_ticket_opens_the_live_feed_without_the_token(running: RunningApp) -> None:
    response = await running.client.post("/api/v1/events/stream-ticket")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_at"].endswith("Z")
    assert body["stream_url"] == f"/api/v1/events/stream?ticket={body['ticket']}"
    assert API_TOKEN not in body["ticket"]
    params = {"ticket": body["ticket"], "kind": "receipt"}
    async with open_stream(running.app, params=params, token=False) as stream:
        assert stream.status == 200
        await post_receipt(running.client, "MSG-1", "DELIVERED", 1, at(1))
        event = await stream.next()
        assert event.event == "receipt"
        assert event.data["data"]["status"] == "DELIVERED"
        assert event.data["created_at"].endswith("Z")
        assert event.data["data"]["occurred_at"].endswith("Z")  # one time format everywhere


async def test_a_ticket_is_refused_when_expired_forged_or_outside_the_feed(
    running: RunningApp,
) -> None:
    expired = tickets.issue([API_TOKEN], 60, now=time.time() - 120).value
    other_key = tickets.issue(["another-token"], 60).value
    expiry, nonce, mac = tickets.issue([API_TOKEN], 60).value.split(".")
    stretched = f"{int(expiry) + 3600}.{nonce}.{mac}"
    for ticket, why in (
        (expired, "expired"),
        (other_key, "invalid"),
        (stretched, "invalid"),
        ("not-a-ticket", "malformed"),
    ):
        async with open_stream(running.app, params={"ticket": ticket}, token=False) as stream:
            assert stream.status == 401, ticket
            assert why in stream.body, stream.body
    good = (await running.client.post("/api/v1/events/stream-ticket")).json()["ticket"]
    async with client_from(running.app, "203.0.113.9") as anonymous:
        for path in ("/api/v1/stats", "/api/v1/receipts", "/api/v1/optouts"):
            response = await anonymous.get(path, params={"ticket": good})
            assert response.status_code == 401, path
        response = await anonymous.post("/api/v1/events/stream-ticket", params={"ticket": good})
        assert response.status_code == 401


async def test_the_stream_still_takes_the_bearer_token(running: RunningApp) -> None:
    async with open_stream(running.app) as stream:
        assert stream.status == 200
    async with open_stream(running.app, token=False) as stream:
        assert stream.status == 401


async def test_cors_is_off_by_default(running: RunningApp) -> None:
    response = await running.client.options(
        "/api/v1/stats",
        headers={"Origin": DASHBOARD, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = await running.client.get("/api/v1/stats", headers={"Origin": DASHBOARD})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_answers_listed_origins_only(database_url: str) -> None:
    settings = make_settings(
        database_url, cors_allow_origins=f"{DASHBOARD}/, http://localhost:3000"
    )
    async with start_app(settings) as running:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = await running.client.options(
            "/api/v1/events/stream-ticket", headers={"Origin": DASHBOARD, **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == DASHBOARD
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = await running.client.options(
            "/api/v1/events/stream-ticket",
            headers={"Origin": "https://evil.example.net", **preflight},
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        simple = await running.client.get("/api/v1/stats", headers={"Origin": DASHBOARD})
        assert simple.headers["access-control-allow-origin"] == DASHBOARD


@pytest.mark.parametrize("origins", ["*", "dash.example.com", "https://dash.example.com/path"])
def test_cors_origins_must_be_origins(origins: str) -> None:
    with pytest.raises(ValidationError, match="cors_allow_origins"):
        Settings(_env_file=None, cors_allow_origins=origins)
