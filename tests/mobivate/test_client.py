import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import SecretStr

from app.fake_mobivate import FakeMobivate
from app.mobivate.client import MobivateClient
from app.mobivate.errors import (
    MobivateAuthError,
    MobivateError,
    MobivateOptedOut,
    MobivateRefused,
    MobivateUnavailable,
)
from app.mobivate.models import BatchItem, BatchRequest, MessageLog, SingleMessage
from app.mobivate.vocabulary import WebhookKind, normalise_id
from tests.support.fake import fake_mobivate

BASE_URL = "https://api.mobivatebulksms.com"
API_KEY = "v-0d4c-SECRET-KEY-9f7e:77aa"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMobivate]:
    receiver = httpx.MockTransport(lambda request: httpx.Response(200))
    async with (
        httpx.AsyncClient(transport=receiver) as callbacks,
        fake_mobivate(api_key=API_KEY, callback_client=callbacks) as fake,
    ):
        yield fake


@pytest.fixture
async def http(fake: FakeMobivate) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as client:
        yield client


def make_client(http: httpx.AsyncClient, api_key: str = API_KEY) -> MobivateClient:
    return MobivateClient(
        http,
        base_url=BASE_URL,
        api_key=SecretStr(api_key),
        retry_wait_seconds=0,
        retry_max_wait_seconds=0,
    )


@pytest.fixture
def mobivate(http: httpx.AsyncClient) -> MobivateClient:
    return make_client(http)


@pytest.fixture
async def mocked() -> AsyncIterator[Callable[[httpx.MockTransport], MobivateClient]]:
    """A client over an httpx.MockTransport, for answers the fake never gives."""
    clients: list[httpx.AsyncClient] = []

    def build(transport: httpx.MockTransport) -> MobivateClient:
        clients.append(httpx.AsyncClient(transport=transport))
        return make_client(clients[-1])

    yield build
    for client in clients:
        await client.aclose()


def answering(status: int, body: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


def hello(recipient: str = "447700900001", **fields: object) -> SingleMessage:
    return SingleMessage.model_validate(
        {"originator": "Brand", "recipient": recipient, "body": "Hello", **fields}
    )


async def test_requests_carry_bearer_key_and_json_headers(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    await mobivate.test_api_key()

    [request] = fake.requests
    assert (request.method, request.path) == ("GET", "/auth/test")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.query == {}


async def test_wrong_api_key_raises_auth_error_with_mobivate_code_and_message(
    http: httpx.AsyncClient,
) -> None:
    with pytest.raises(MobivateAuthError) as caught:
        await make_client(http, api_key="not-the-key").test_api_key()

    assert isinstance(caught.value, MobivateRefused)
    assert (caught.value.status_code, caught.value.code) == (401, 401)
    assert caught.value.message == "Unauthorized"


async def test_auth_failure_is_not_retried(http: httpx.AsyncClient, fake: FakeMobivate) -> None:
    with pytest.raises(MobivateAuthError):
        await make_client(http, api_key="not-the-key").test_api_key()

    assert len(fake.requests) == 1


async def test_not_authenticated_body_of_the_proxy_is_an_auth_error(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
) -> None:
    body = {"code": 401, "message": "Not Authenticated"}

    with pytest.raises(MobivateAuthError) as caught:
        await mocked(answering(401, body)).register_webhook(
            WebhookKind.RECEIPT, "https://h.example/x"
        )

    assert (caught.value.status_code, caught.value.code) == (401, 401)
    assert caught.value.message == "Not Authenticated"


async def test_forbidden_for_missing_permission_is_an_auth_error(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
) -> None:
    body = {"code": 403, "message": "API key lacks permission create:SingleSMS"}

    with pytest.raises(MobivateAuthError) as caught:
        await mocked(answering(403, body)).send_single(hello())

    assert caught.value.status_code == 403


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (403, "Recipient has opted out", MobivateOptedOut),
        (403, "Number is on the Opt-Out list", MobivateOptedOut),
        (400, "Recipient opted out", MobivateOptedOut),
        (400, "recipient is blacklisted", MobivateOptedOut),
        (422, "Recipient unsubscribed", MobivateOptedOut),
        (403, "Forbidden", MobivateAuthError),
        (400, "Invalid mobile number", MobivateRefused),
    ],
)
async def test_a_refusal_that_says_the_recipient_opted_out_is_told_apart(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
    status: int,
    message: str,
    error: type[MobivateRefused],
) -> None:
    with pytest.raises(MobivateRefused) as caught:
        await mocked(answering(status, {"code": status, "message": message})).send_single(hello())

    assert type(caught.value) is error
    assert caught.value.message == message


@pytest.mark.parametrize("kind", ["receipt", "incoming", "click"])
async def test_register_webhook_returns_mobivate_message(
    mobivate: MobivateClient, fake: FakeMobivate, kind: str
) -> None:
    url = f"https://hooks.example.com/mobivate/{kind}"

    message = await mobivate.register_webhook(kind, url)  # type: ignore[arg-type]

    assert message == "Webhook updated successfully"
    assert fake.webhooks == {kind: url}
    assert fake.requests[-1].json == {"url": url}


async def test_register_webhook_refused_for_a_bad_url(mobivate: MobivateClient) -> None:
    with pytest.raises(MobivateRefused) as caught:
        await mobivate.register_webhook(WebhookKind.RECEIPT, "ftp://hooks.example.com")

    assert caught.value.status_code == 400


async def test_send_single_posts_only_the_fields_that_are_set(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    await mobivate.send_single(hello())

    assert fake.requests[-1].json == {
        "originator": "Brand",
        "recipient": "447700900001",
        "body": "Hello",
        "routeId": "mglobal",
    }


async def test_send_single_posts_optional_fields_in_mobivate_spelling(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    schedule = datetime(2099, 1, 26, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))

    await mobivate.send_single(
        hello(
            reference="order-17",
            shorten_urls=True,
            campaign_id="abc-123",
            schedule_date_time=schedule,
        )
    )

    body = fake.requests[-1].json
    assert body["reference"] == "order-17"
    assert body["shortenUrls"] is True
    assert body["campaignId"] == "abc-123"
    assert body["scheduleDateTime"] == "2099-01-26T15:30:00+0530"


async def test_send_single_returns_the_id_receipts_will_carry(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    sent = await mobivate.send_single(hello(reference="order-17"))

    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", sent.id)
    assert (sent.recipient, sent.body, sent.reference) == ("447700900001", "Hello", "order-17")
    assert normalise_id(sent.id) == fake.sent[0].id


async def test_send_single_to_invalid_mobile_is_refused(mobivate: MobivateClient) -> None:
    with pytest.raises(MobivateRefused) as caught:
        await mobivate.send_single(hello(recipient="12345"))

    assert not isinstance(caught.value, MobivateAuthError)
    assert (caught.value.status_code, caught.value.code) == (400, 400)
    assert caught.value.message == "Invalid mobile number"


async def test_send_single_to_opted_out_number_raises_opted_out(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.add_optout("447700900001")

    with pytest.raises(MobivateOptedOut) as caught:
        await mobivate.send_single(hello())

    assert caught.value.status_code == 403


async def test_send_batch_posts_a_recipients_array(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    batch = BatchRequest(
        recipients=(
            BatchItem(originator="Brand", recipient="447700900001", text="One", reference="a"),
            BatchItem(originator="Brand", recipient="447700900002", text="Two", route_id="r2"),
        ),
        name="August",
    )

    sent = await mobivate.send_batch(batch)

    assert fake.requests[-1].json == {
        "routeId": "mglobal",
        "name": "August",
        "recipients": [
            {"originator": "Brand", "recipient": "447700900001", "text": "One", "reference": "a"},
            {"originator": "Brand", "recipient": "447700900002", "text": "Two", "routeId": "r2"},
        ],
    }
    assert re.fullmatch(r"[0-9a-f]{32}", sent.id)
    assert [item.reference for item in sent.recipients] == ["a", None]
    assert {message.batch_id for message in fake.sent} == {sent.id.upper()}


async def test_send_batch_rejects_more_than_1000_items_before_calling(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    item = BatchItem(originator="Brand", recipient="447700900001", text="Hi")

    with pytest.raises(ValueError, match="1000"):
        await mobivate.send_batch(BatchRequest(recipients=(item,) * 1001))
    with pytest.raises(ValueError, match="at least one"):
        await mobivate.send_batch(BatchRequest(recipients=()))

    assert fake.requests == []


async def test_add_optout_returns_record_with_aware_created(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    record = await mobivate.add_optout("440011122233")

    assert (record.mobile, record.note) == ("440011122233", "API")
    assert record.created is not None
    assert record.created.utcoffset() == timedelta(0)
    assert "440011122233" in fake.optouts


async def test_add_optout_of_invalid_mobile_is_refused(mobivate: MobivateClient) -> None:
    with pytest.raises(MobivateRefused, match="Invalid mobile number"):
        await mobivate.add_optout("44-not-a-number")


async def test_delete_optout_sends_json_body_with_delete(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.add_optout("440011122233")

    record = await mobivate.delete_optout("440011122233")

    assert record.mobile == "440011122233"
    assert (fake.requests[-1].method, fake.requests[-1].path) == ("DELETE", "/addressbook/optout")
    assert fake.requests[-1].json == {"mobile": "440011122233"}
    assert fake.optouts == {}


async def test_delete_optout_falls_back_to_optout_path_on_404(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.add_optout("440011122233")
    fake.add_optout("440011122244")
    fake.fail_next(1, 404)

    record = await mobivate.delete_optout("440011122233")
    await mobivate.delete_optout("440011122244")

    assert record.mobile == "440011122233"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("DELETE", "/addressbook/optout"),
        ("DELETE", "/optout"),
        ("DELETE", "/optout"),
    ]
    assert fake.requests[1].json == {"mobile": "440011122233"}
    assert fake.optouts == {}


async def test_delete_optout_of_unknown_number_raises_not_found(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    with pytest.raises(MobivateRefused) as caught:
        await mobivate.delete_optout("440011122233")

    assert caught.value.status_code == 404
    assert [r.path for r in fake.requests] == ["/addressbook/optout", "/optout"]


async def test_list_optouts_pages_in_created_order(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    first = datetime(2023, 1, 1, 9, tzinfo=UTC)
    for minutes in (4, 2, 0, 3, 1):
        fake.add_optout(f"44700900000{minutes}", created=first + timedelta(minutes=minutes))

    pages = [
        await mobivate.list_optouts(date(2023, 1, 1), date(2023, 1, 2), page=page, page_size=2)
        for page in (1, 2, 3, 4)
    ]

    assert [[record.mobile[-1] for record in page] for page in pages] == [
        ["0", "1"],
        ["2", "3"],
        ["4"],
        [],
    ]
    assert pages[0][0].created == first
    assert pages[0][0].id is not None
    assert fake.requests[0].query == {
        "startDate": "2023-01-01",
        "endDate": "2023-01-02",
        "page": "1",
        "pageSize": "2",
    }


async def test_list_optouts_sends_datetimes_with_their_offset(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    auckland = timezone(timedelta(hours=12))
    fake.add_optout("447700900001", created=datetime(2023, 1, 1, 0, 30, tzinfo=UTC))
    fake.add_optout("447700900002", created=datetime(2023, 1, 2, 0, 30, tzinfo=UTC))

    records = await mobivate.list_optouts(
        datetime(2023, 1, 1, 12, tzinfo=auckland), datetime(2023, 1, 2, 12, tzinfo=auckland)
    )

    assert [record.mobile for record in records] == ["447700900001"]
    assert fake.requests[0].query["startDate"] == "2023-01-01T12:00:00+1200"


async def test_list_optouts_rejects_bad_arguments_before_calling(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await mobivate.list_optouts(datetime(2023, 1, 1), date(2023, 1, 2))
    with pytest.raises(ValueError, match="page_size"):
        await mobivate.list_optouts(date(2023, 1, 1), date(2023, 1, 2), page_size=1001)
    with pytest.raises(ValueError, match="page"):
        await mobivate.list_optouts(date(2023, 1, 1), date(2023, 1, 2), page=0)

    assert fake.requests == []


async def test_malformed_date_error_keeps_mobivate_message(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
) -> None:
    message = 'startDate: Invalid format: "2023-01-011" is malformed at "1"'
    client = mocked(answering(400, {"code": 400, "message": message}))

    with pytest.raises(MobivateRefused) as caught:
        await client.list_optouts(date(2023, 1, 1), date(2023, 1, 2))

    assert (caught.value.code, caught.value.message) == (400, message)


async def test_get_message_returns_its_log(mobivate: MobivateClient, fake: FakeMobivate) -> None:
    sent = await mobivate.send_single(hello(reference="order-17"))
    fake.set_message_status(sent.id, "DELIVERED")

    message_id = normalise_id(sent.id)
    assert message_id is not None
    log = await mobivate.get_message(message_id)

    assert log.id == normalise_id(sent.id)
    assert (log.status, log.direction, log.sender_reference) == ("DELIVERED", "MT", "order-17")
    assert log.created is not None
    assert log.created.utcoffset() == timedelta(0)


async def test_get_unknown_message_raises_not_found(mobivate: MobivateClient) -> None:
    with pytest.raises(MobivateRefused) as caught:
        await mobivate.get_message("9A0C23DD0A000A9D2FBD4671D780AFDA")

    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        404,
        404,
        "Not Found",
    )


async def test_search_messages_filters_by_direction(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.webhooks["incoming"] = "https://hooks.example.com/mobivate/incoming"
    sent = await mobivate.send_single(hello())
    await fake.send_incoming("447700900001", "STOP", in_reply_to=sent.id)
    [reply] = fake.received
    today = datetime.now(UTC).date()
    window = (today - timedelta(days=1), today + timedelta(days=1))

    outgoing = await mobivate.search_messages(*window, direction="MT")
    incoming = await mobivate.search_messages(*window, direction="MO")
    both = await mobivate.search_messages(*window)

    assert [m.id for m in outgoing] == [normalise_id(sent.id)]
    assert [(m.id, m.in_reply_to) for m in incoming] == [(reply.id, normalise_id(sent.id))]
    assert len(both) == 2
    assert fake.requests[-2].query["direction"] == "MO"
    assert "direction" not in fake.requests[-1].query


async def test_response_models_tolerate_extra_and_missing_fields(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
) -> None:
    body = {"id": "9A0C23DD0A000A9D2FBD4671D780AFDA", "somethingNew": {"x": 1}}

    log = await mocked(answering(200, body)).get_message("9A0C23DD0A000A9D2FBD4671D780AFDA")

    assert log == MessageLog(id="9A0C23DD0A000A9D2FBD4671D780AFDA")


@pytest.mark.parametrize(
    ("status", "content"),
    [(200, b"<html>proxy error</html>"), (200, b'{"originator": "Brand"}'), (200, b"")],
)
async def test_unreadable_response_raises_unavailable(
    mocked: Callable[[httpx.MockTransport], MobivateClient], status: int, content: bytes
) -> None:
    client = mocked(httpx.MockTransport(lambda request: httpx.Response(status, content=content)))

    with pytest.raises(MobivateUnavailable):
        await client.send_single(hello())


async def test_timeout_raises_unavailable_after_retrying_a_safe_call(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
) -> None:
    calls: list[httpx.Request] = []

    def time_out(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(MobivateUnavailable, match="timed out"):
        await mocked(httpx.MockTransport(time_out)).get_message("9A0C23DD")

    assert len(calls) == 3


async def test_timed_out_send_is_not_retried(
    mocked: Callable[[httpx.MockTransport], MobivateClient],
) -> None:
    calls: list[httpx.Request] = []

    def time_out(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(MobivateUnavailable):
        await mocked(httpx.MockTransport(time_out)).send_single(hello())

    assert len(calls) == 1


async def test_connection_refused_raises_unavailable(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.down = True

    with pytest.raises(MobivateUnavailable, match="unreachable"):
        await mobivate.add_optout("440011122233")

    assert fake.requests == []


async def test_safe_call_is_retried_until_mobivate_recovers(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.fail_next(2, 500)

    await mobivate.add_optout("440011122233")

    assert len(fake.requests) == 3
    assert "440011122233" in fake.optouts


async def test_rate_limit_is_retried(mobivate: MobivateClient, fake: FakeMobivate) -> None:
    fake.fail_next(1, 429)

    await mobivate.test_api_key()

    assert len(fake.requests) == 2


async def test_safe_call_gives_up_after_retry_attempts(
    mobivate: MobivateClient, fake: FakeMobivate
) -> None:
    fake.fail_next(5, 503)

    with pytest.raises(MobivateUnavailable) as caught:
        await mobivate.list_optouts(date(2023, 1, 1), date(2023, 1, 2))

    assert caught.value.status_code == 503
    assert len(fake.requests) == 3


async def test_retry_attempts_of_one_disables_retries(
    http: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    client = MobivateClient(http, base_url=BASE_URL, api_key=SecretStr(API_KEY), retry_attempts=1)
    fake.fail_next(1, 500)

    with pytest.raises(MobivateUnavailable):
        await client.test_api_key()

    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_sends_are_never_retried(
    mobivate: MobivateClient, fake: FakeMobivate, status: int
) -> None:
    item = BatchItem(originator="Brand", recipient="447700900002", text="Hi")

    fake.fail_next(1, status)
    with pytest.raises(MobivateUnavailable):
        await mobivate.send_single(hello())
    fake.fail_next(1, status)
    with pytest.raises(MobivateUnavailable):
        await mobivate.send_batch(BatchRequest(recipients=(item,)))

    assert [r.path for r in fake.requests] == ["/send/single", "/send/batch"]
    assert fake.sent == []


async def test_refusals_are_not_retried(mobivate: MobivateClient, fake: FakeMobivate) -> None:
    with pytest.raises(MobivateRefused):
        await mobivate.add_optout("123")

    assert len(fake.requests) == 1


async def test_api_key_never_appears_in_errors_reprs_or_logs(
    http: httpx.AsyncClient,
    fake: FakeMobivate,
    mocked: Callable[[httpx.MockTransport], MobivateClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mobivate = make_client(http)
    errors: list[MobivateError] = []

    async def collect(call: Awaitable[object]) -> None:
        try:
            await call
        except MobivateError as exc:
            errors.append(exc)

    await mobivate.test_api_key()
    fake.fail_next(1, 401)
    await collect(mobivate.send_single(hello()))
    await collect(mobivate.send_single(hello(recipient="1")))
    fake.fail_next(3, 500)
    await collect(mobivate.get_message("nope"))
    fake.down = True
    await collect(mobivate.register_webhook(WebhookKind.RECEIPT, "https://hooks.example.com/"))
    echoing = mocked(answering(400, {"code": 400, "message": f"Bad key {API_KEY}"}))
    await collect(echoing.test_api_key())

    assert len(errors) == 5
    assert "Bad key **********" in str(errors[-1])
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in repr(vars(error))
    assert API_KEY not in repr(mobivate)
    assert "GET /auth/test -> 200" in caplog.text
    assert API_KEY not in caplog.text
