"""The contacts proxy as a second destination of the opt-out outbox, on both backends: pushes
reach the fake as Mobivate documents them, failures are retried without holding back the other
destination, and the password, which travels in the query string, never shows anywhere."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.fake_mobivate import FakeMobivate
from app.mobivate.contacts import ContactsProxyClient, contacts_http_client
from app.mobivate.errors import MobivateAuthError, MobivateRefused, MobivateUnavailable
from tests.support.app import make_settings, start_app
from tests.support.bodies import incoming
from tests.support.fake import fake_mobivate
from tests.support.optouts import all_settled, optout_settings, pushes
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"
USERNAME = "shop@example.com"
PASSWORD = "S3cret pass&word=1%"  # characters the query string must encode


def proxy_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "optout_contacts_proxy": True,
        "mobivate_username": USERNAME,
        "mobivate_password": PASSWORD,
    }
    values.update(overrides)
    return optout_settings(database_url, **values)


def proxy_fake() -> Any:
    return fake_mobivate(contacts_username=USERNAME, contacts_password=PASSWORD)


def contacts_calls(fake: FakeMobivate) -> list[tuple[str, dict[str, str]]]:
    return [(r.path, r.query) for r in fake.requests if r.path.startswith("/api/contacts/")]


def password_forms() -> list[str]:
    return [PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD)]


def assert_no_password(text: str, where: str) -> None:
    for form in password_forms():
        assert form not in text, f"the password shows in {where}"


class FailingFirst(httpx.AsyncBaseTransport):
    """The fake, except that the first `count` calls to the contacts proxy answer `status`."""

    def __init__(self, fake: FakeMobivate, count: int, status: int = 503) -> None:
        self._inner = fake.transport()
        self._left = count
        self._status = status

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/contacts/") and self._left > 0:
            self._left -= 1
            return httpx.Response(self._status, json={"code": self._status, "message": "busy"})
        return await self._inner.handle_async_request(request)


async def test_a_stop_and_a_start_reach_the_contacts_proxy_as_documented(
    database_url: str, engine: AsyncEngine
) -> None:
    async with (
        proxy_fake() as fake,
        start_app(proxy_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        # A second apart: a STOP and a START in one second leave the number opted out.
        stop_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
        stop = incoming(NUMBER, "STOP", message_id="A1", created=stop_at)
        await post_accepted(running.client, "incoming", stop)
        await eventually(lambda: all_settled(engine), what="both pushes delivered")
        assert fake.contacts == {NUMBER: {"optouts:sms"}}
        assert NUMBER in fake.optouts
        start = incoming(NUMBER, "START", message_id="A2", created=stop_at + timedelta(seconds=5))
        await post_accepted(running.client, "incoming", start)
        await eventually(lambda: all_settled(engine), what="both opt-in pushes delivered")
    assert fake.contacts == {}
    assert [path for path, _ in contacts_calls(fake)] == [
        "/api/contacts/create",
        "/api/contacts/delete",
    ]
    for _, query in contacts_calls(fake):
        assert query == {
            "username": USERNAME,
            "msisdn": NUMBER,
            "applications": "optouts:sms",
            "password": PASSWORD,
        }
    rows = await pushes(engine)
    assert sorted((row.operation, row.state) for row in rows) == [
        ("contacts_create", "delivered"),
        ("contacts_delete", "delivered"),
        ("optout_add", "delivered"),
        ("optout_delete", "delivered"),
    ]
    created = next(row for row in rows if row.operation == "contacts_create")
    assert created.mobivate_message == "status: ok, optouts:sms: ok"


async def test_a_failed_push_to_the_proxy_is_retried_and_holds_back_nothing_else(
    database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with proxy_fake() as fake:
        settings = proxy_settings(database_url)
        async with start_app(settings, mobivate_transport=FailingFirst(fake, 2)) as running:
            await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
            await eventually(lambda: all_settled(engine), what="both pushes delivered")
            metrics = (await running.client.get("/metrics")).text
    rows = {row.operation: row for row in await pushes(engine)}
    assert (rows["optout_add"].state, rows["optout_add"].attempts) == ("delivered", 1)
    assert (rows["contacts_create"].state, rows["contacts_create"].attempts) == ("delivered", 3)
    assert fake.contacts == {NUMBER: {"optouts:sms"}}
    assert 'operation="contacts_create",outcome="unavailable"' in metrics
    # httpx logs every request's URL at INFO: the proxy's are there, without the password.
    assert "/api/contacts/create?username=" in caplog.text
    assert_no_password(caplog.text, "the logs")
    assert_no_password(metrics, "the metrics")


@pytest.mark.parametrize(
    ("wrong", "expected_error"),
    [
        ({"mobivate_password": "not-the-password"}, "Not Authenticated"),
        ({"mobivate_username": "someone-else"}, "Not Authenticated"),
    ],
)
async def test_a_refused_sign_in_keeps_the_push_pending_and_shows_no_password(
    database_url: str,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    wrong: dict[str, str],
    expected_error: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        proxy_fake() as fake,
        start_app(
            proxy_settings(database_url, **wrong), mobivate_transport=fake.transport()
        ) as running,
    ):
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))

        async def refused() -> bool:
            rows = await pushes(engine)
            return any(r.operation == "contacts_create" and r.last_error for r in rows)

        await eventually(refused, what="the proxy refused the sign-in")
    rows = {row.operation: row for row in await pushes(engine)}
    assert rows["optout_add"].state == "delivered"
    contact = rows["contacts_create"]
    assert contact.state == "pending"
    assert contact.mobivate_status == 401
    assert expected_error in contact.last_error
    assert fake.contacts == {}
    for row in rows.values():
        assert_no_password(f"{row.last_error} {row.mobivate_message}", "a stored error")
    assert_no_password(caplog.text, "the logs")


async def test_an_operator_opt_out_is_pushed_to_both_and_proxy_down_is_retried(
    database_url: str, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        proxy_fake() as fake,
        start_app(proxy_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        fake.down = True
        response = await running.client.post("/api/v1/optouts", json={"msisdn": f"+{NUMBER}"})
        assert response.status_code == 201, response.text

        async def failed_once() -> bool:
            return all(row.attempts >= 1 for row in await pushes(engine))

        await eventually(failed_once, what="both pushes tried while Mobivate is down")
        stored = await pushes(engine)
        fake.down = False
        await eventually(lambda: all_settled(engine), what="both pushes delivered")
    assert {row.operation for row in stored} == {"optout_add", "contacts_create"}
    for row in stored:
        assert_no_password(str(row.last_error), "a stored error")
    assert fake.contacts == {NUMBER: {"optouts:sms"}}
    assert_no_password(caplog.text, "the logs")


async def test_without_the_setting_nothing_goes_to_the_proxy(
    database_url: str, engine: AsyncEngine
) -> None:
    async with (
        proxy_fake() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
        await eventually(lambda: all_settled(engine), what="the push delivered")
    assert [row.operation for row in await pushes(engine)] == ["optout_add"]
    assert contacts_calls(fake) == []


@pytest.mark.parametrize("missing", ["mobivate_username", "mobivate_password"])
def test_the_proxy_needs_a_username_and_a_password(missing: str) -> None:
    values: dict[str, Any] = {
        "optout_contacts_proxy": True,
        "mobivate_username": USERNAME,
        "mobivate_password": PASSWORD,
        missing: None,
    }
    with pytest.raises(ValidationError, match="needs MOBIVATE_USERNAME and MOBIVATE_PASSWORD"):
        make_settings("sqlite+aiosqlite:///unused.db", **values)


def test_the_password_is_never_shown_by_the_settings() -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        optout_contacts_proxy=True,
        mobivate_username=USERNAME,
        mobivate_password=PASSWORD,
    )
    assert_no_password(repr(settings), "the settings' repr")
    assert_no_password(str(settings.model_dump()), "the settings' dump")


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> ContactsProxyClient:
    http = contacts_http_client(
        SecretStr(PASSWORD), timeout=5, transport=httpx.MockTransport(handler)
    )
    return ContactsProxyClient(
        http,
        base_url="https://tasks-wave.mobivate.com",
        username=USERNAME,
        password=SecretStr(PASSWORD),
    )


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (200, {"code": 401, "message": "Not Authenticated"}, MobivateAuthError, "Not Auth"),
        (401, {"code": 401, "message": "Not Authenticated"}, MobivateAuthError, "Not Auth"),
        (200, {"status": "error"}, MobivateRefused, "status: error"),
        (200, {"status": "ok", "optouts:sms": "failed"}, MobivateRefused, "optouts:sms: failed"),
        (400, {"code": 400, "message": f"bad password {PASSWORD}"}, MobivateRefused, "bad"),
        (200, ["ok"], MobivateUnavailable, "not a JSON object"),
        (503, None, MobivateUnavailable, "HTTP 503"),
    ],
)
async def test_the_proxy_answers_are_read_defensively(
    status: int, body: object, error: type[Exception], words: str
) -> None:
    client = answering(lambda request: httpx.Response(status, json=body))
    with pytest.raises(error) as caught:
        await client.create(NUMBER)
    assert words in str(caught.value)
    assert_no_password(str(caught.value), "the error")
    assert type(caught.value) is error


async def test_the_password_is_added_only_on_the_way_out() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    client = answering(handler)
    with pytest.raises(MobivateUnavailable) as caught:
        await client.delete(NUMBER)
    [sent] = seen
    assert sent.url.params["password"] == PASSWORD
    assert sent.url.params["applications"] == "optouts:sms"
    assert_no_password(str(caught.value), "the error")
    assert caught.value.__cause__ is None
