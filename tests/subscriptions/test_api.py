"""`/api/v1/subscriptions`: create (the secret shown once), read, change, delete; careless and
hostile input is a 4xx naming the problem; only the admin scope may touch them."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.subscriptions.targets import TargetRefused, check_url
from tests.support.app import API_TOKEN, RunningApp, client_from, make_settings, start_app
from tests.support.bodies import incoming
from tests.support.metrics import metric_value
from tests.support.receiver import Receiver, receiving
from tests.support.waiting import eventually
from tests.support.webhooks import post_stored

PUBLIC = "https://93.184.215.14/hooks"
READER = "dashboard-read-token"


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, api_read_tokens=READER)
    async with start_app(settings) as running:
        yield running


async def create(running: RunningApp, **body: Any) -> dict[str, Any]:
    response = await running.client.post(
        "/api/v1/subscriptions", json={"url": PUBLIC, "event_types": ["receipt"], **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_the_secret_is_shown_once_and_the_subscription_can_be_changed_and_deleted(
    running: RunningApp,
) -> None:
    created = await create(running, batch_id=7, description="CRM")
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    path = f"/api/v1/subscriptions/{created['id']}"
    shown = (await running.client.get(path)).json()
    assert "secret" not in shown
    assert shown["event_types"] == ["receipt"]
    assert shown["batch_id"] == 7
    assert shown["enabled"] is True
    listed = (await running.client.get("/api/v1/subscriptions")).json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert all("secret" not in item for item in listed)
    changed = await running.client.patch(
        path, json={"event_types": ["optout.changed", "incoming"], "batch_id": None}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["incoming", "optout.changed"]
    assert changed.json()["batch_id"] is None
    assert changed.json()["description"] == "CRM"
    paused = await running.client.patch(path, json={"enabled": False})
    assert paused.json()["disabled_reason"] == "disabled through the API"
    assert (await running.client.delete(path)).status_code == 204
    assert (await running.client.get(path)).status_code == 404
    assert (await running.client.delete(path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"url": "ftp://example.com/x"}, "must start with http(s)://"),
        ({"url": "https://user:pw@93.184.215.14/"}, "user name or password"),
        ({"url": "https:///nohost"}, "no host"),
        ({"url": "https://93.184.215.14/a b"}, "spaces"),
        ({"url": "https://93.184.215.14:99999/"}, "not a URL"),
        ({"url": "https://no-such-host.invalid/"}, "does not resolve"),
        ({"url": "x" * 3000}, "2048"),
        ({"event_types": []}, "at least 1"),
        ({"event_types": ["receipt", "receipt"]}, "once"),
        ({"event_types": ["delivered"]}, "receipt"),
        ({"event_types": "receipt"}, "list"),
        ({"secret": "whsec_mine"}, "Extra inputs"),
        ({"batch_id": 0}, "greater than or equal"),
        ({"originator": ""}, "at least 1"),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_careless_input_is_a_422_saying_what_is_wrong(
    running: RunningApp, body: dict[str, Any], expected: str
) -> None:
    response = await running.client.post(
        "/api/v1/subscriptions", json={"url": PUBLIC, "event_types": ["receipt"], **body}
    )
    assert response.status_code == 422, response.text
    assert expected in response.text
    assert (await running.client.get("/api/v1/subscriptions")).json() == []


async def test_http_is_refused_in_production(database_url: str) -> None:
    settings = make_settings(database_url, environment="production", webhook_secret="x" * 32)
    async with start_app(settings) as running:
        response = await running.client.post(
            "/api/v1/subscriptions",
            json={"url": "http://93.184.215.14/hooks", "event_types": ["receipt"]},
        )
        assert response.status_code == 422
        assert "https://" in response.json()["detail"]


async def test_only_the_admin_scope_reaches_subscriptions(running: RunningApp) -> None:
    created = await create(running)
    async with client_from(running.app, "203.0.113.7", Authorization=f"Bearer {READER}") as reader:
        for method, path in (
            ("GET", "/api/v1/subscriptions"),
            ("GET", f"/api/v1/subscriptions/{created['id']}"),
            ("GET", f"/api/v1/subscriptions/{created['id']}/attempts"),
            ("POST", f"/api/v1/subscriptions/{created['id']}/replay"),
            ("DELETE", f"/api/v1/subscriptions/{created['id']}"),
        ):
            response = await reader.request(method, path)
            assert response.status_code == 403, (method, path)
            assert "'admin'" in response.json()["detail"]
    assert (await running.client.get(f"/api/v1/subscriptions/{created['id']}")).status_code == 200
    assert API_TOKEN not in str(running.app.openapi())


async def test_unknown_ids_and_bad_replays_are_4xx(running: RunningApp) -> None:
    for path in ("/api/v1/subscriptions/999", "/api/v1/subscriptions/999/deliveries"):
        response = await running.client.get(path)
        assert response.status_code == 404
        assert "no subscription with id 999" in response.json()["detail"]
    created = await create(running)
    replay = f"/api/v1/subscriptions/{created['id']}/replay"
    for body in ({}, {"since": "yesterday"}, {"since": 12, "extra": 1}):
        assert (await running.client.post(replay, json=body)).status_code == 422
    assert (await running.client.get("/api/v1/subscriptions/0")).status_code == 422
    rotate = f"/api/v1/subscriptions/{created['id']}/secret"
    assert (await running.client.post(rotate, json={"overlap_hours": -1})).status_code == 422


async def test_metrics_show_deliveries_by_outcome_and_the_backlog(database_url: str) -> None:
    settings = make_settings(
        database_url,
        subscription_allow_private=True,
        subscription_backoff_initial_seconds=30,
        subscription_poll_interval_seconds=0.05,
    )
    async with receiving() as receiver, start_app(settings) as running:
        receiver.always = 500
        await create(running, url=receiver.url, event_types=["incoming"])
        before = metric_value((await running.client.get("/metrics")).text, _RETRIES, **_RETRY)
        await post_stored(running.client, "incoming", incoming("447700900123", "x"))
        await _one_request(receiver)

        async def scraped() -> str | None:
            text = (await running.client.get("/metrics")).text
            return text if metric_value(text, _RETRIES, **_RETRY) > before else None

        text = await eventually(scraped, what="the retry counted")
        assert text is not None
        assert metric_value(text, "subscription_deliveries_pending") == 1
        assert metric_value(text, "subscription_deliveries_oldest_pending_age_seconds") >= 0
        assert metric_value(text, "subscriptions_disabled") == 0


_RETRIES = "subscription_delivery_attempts_total"
_RETRY = {"outcome": "retry"}


async def _one_request(receiver: Receiver) -> None:
    async def one() -> bool:
        return bool(receiver.received)

    await eventually(one, what="a delivery attempt")


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200, deadline=None)
@given(st.text(max_size=80), st.booleans())
def test_any_url_is_accepted_or_refused_with_a_reason(url: str, allow_http: bool) -> None:
    refused: TargetRefused | None = None
    try:
        checked = check_url(url, allow_http=allow_http)
    except TargetRefused as error:
        refused = error
    if refused is not None:
        assert refused.detail.startswith("url: ")
        assert refused.status == 422
        return
    assert checked.startswith("https://" if not allow_http else "http")


async def test_a_change_to_a_private_url_is_refused(running: RunningApp) -> None:
    created = await create(running)
    path = f"/api/v1/subscriptions/{created['id']}"
    refused = await running.client.patch(path, json={"url": "http://127.0.0.1:8000/api/v1"})
    assert refused.status_code == 422
    assert "SUBSCRIPTION_ALLOW_PRIVATE" in refused.json()["detail"]
    assert (await running.client.get(path)).json()["url"] == PUBLIC
    unknown = await running.client.patch(path, json={"colour": "red"})
    assert unknown.status_code == 422
