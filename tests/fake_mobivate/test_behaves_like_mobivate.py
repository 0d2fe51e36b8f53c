import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.fake_mobivate import FakeMobivate, NoWebhook
from app.fake_mobivate.dates import MalformedDate, parse_mobivate_date

BASE_URL = "https://api.mobivatebulksms.com"
API_KEY = "test-key"
HOOKS = "https://hooks.example.com/mobivate"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UPPER_HEX = re.compile(r"[0-9A-F]{32}")
LOWER_HEX = re.compile(r"[0-9a-f]{32}")


class Receiver:
    """Stands in for our webhook endpoints: records every callback and answers 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.record, methods=["POST"])])

    async def record(self, request: Request) -> PlainTextResponse:
        self.calls.append((request.url.path, await request.json()))
        return PlainTextResponse("OK")

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [body for path, body in self.calls if path == f"/mobivate/{kind}"]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def callbacks(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app)) as client:
        yield client


@pytest.fixture
def fake(callbacks: httpx.AsyncClient) -> FakeMobivate:
    fake = FakeMobivate(api_key=API_KEY, callback_client=callbacks)
    fake.webhooks.update({kind: f"{HOOKS}/{kind}" for kind in ("receipt", "incoming", "click")})
    return fake


@pytest.fixture
async def api(fake: FakeMobivate) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=headers
    ) as client:
        yield client


def single(**fields: Any) -> dict[str, Any]:
    return {
        "originator": "Brand",
        "recipient": "447700900001",
        "body": "Hello",
        "routeId": "mglobal",
        **fields,
    }


def item(recipient: str, **fields: Any) -> dict[str, Any]:
    return {"originator": "Brand", "recipient": recipient, "text": "Hi", **fields}


def mobivate_error(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.json()


# --- authentication, routing, failure injection --------------------------------------------


async def test_auth_test_accepts_bearer_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/auth/test")

    assert (response.status_code, response.json()) == (200, {"message": "API Key is valid"})


async def test_auth_test_accepts_api_key_query_parameter(fake: FakeMobivate) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as client:
        response = await client.get("/auth/test", params={"api_key": API_KEY})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}]
)
async def test_missing_or_wrong_key_is_unauthorized(
    fake: FakeMobivate, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as client:
        response = await client.post("/send/single", json=single(), headers=headers)

    assert mobivate_error(response) == (401, {"code": 401, "message": "Unauthorized"})
    assert fake.sent == []


async def test_unknown_path_and_method_answer_in_mobivate_shape(api: httpx.AsyncClient) -> None:
    missing = await api.get("/send/everything")
    wrong_method = await api.get("/send/single")
    unknown_kind = await api.post("/webhooks/sms", json={"url": f"{HOOKS}/x"})

    assert mobivate_error(missing) == (404, {"code": 404, "message": "Not Found"})
    assert mobivate_error(wrong_method) == (405, {"code": 405, "message": "Method Not Allowed"})
    assert unknown_kind.status_code == 404


async def test_every_request_is_recorded(api: httpx.AsyncClient, fake: FakeMobivate) -> None:
    await api.request("DELETE", "/optout", json={"mobile": "440011122233"}, params={"x": "1"})

    [recorded] = fake.requests
    assert (recorded.method, recorded.path, recorded.query) == ("DELETE", "/optout", {"x": "1"})
    assert recorded.json == {"mobile": "440011122233"}
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"


async def test_fail_next_answers_the_next_calls_then_recovers(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    fake.fail_next(2, 503)

    responses = [await api.get("/auth/test") for _ in range(3)]

    assert [response.status_code for response in responses] == [503, 503, 200]
    assert responses[0].json() == {"code": 503, "message": "Service Unavailable"}
    assert len(fake.requests) == 3


async def test_down_refuses_connections(api: httpx.AsyncClient, fake: FakeMobivate) -> None:
    fake.down = True

    with pytest.raises(httpx.ConnectError):
        await api.get("/auth/test")

    fake.down = False
    assert (await api.get("/auth/test")).status_code == 200
    assert len(fake.requests) == 1


# --- webhooks registration -------------------------------------------------------------------


async def test_register_webhook_stores_url(api: httpx.AsyncClient, fake: FakeMobivate) -> None:
    response = await api.post("/webhooks/click", json={"url": "https://new.example.com/click"})

    assert response.json() == {"message": "Webhook updated successfully"}
    assert fake.webhooks["click"] == "https://new.example.com/click"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing required field: url"),
        ({"url": "hooks.example.com/dlr"}, "url: must be an absolute http(s) URL"),
        ({"url": "ftp://hooks.example.com/dlr"}, "url: must be an absolute http(s) URL"),
    ],
)
async def test_register_webhook_rejects_bad_urls(
    api: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await api.post("/webhooks/receipt", json=body)

    assert mobivate_error(response) == (400, {"code": 400, "message": message})


# --- sending -----------------------------------------------------------------------------------


async def test_send_single_answers_the_message_with_a_dashed_uuid(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    response = await api.post("/send/single", json=single(reference="order-17"))

    body = response.json()
    assert response.status_code == 200
    assert UUID.fullmatch(body["id"])
    assert body == {
        "id": body["id"],
        "originator": "Brand",
        "recipient": "447700900001",
        "body": "Hello",
        "routeId": "mglobal",
        "reference": "order-17",
        "campaignId": None,
    }
    [message] = fake.sent
    assert message.id == body["id"].replace("-", "").upper()
    assert message.response_id == body["id"]


@pytest.mark.parametrize("missing", ["originator", "recipient", "body", "routeId"])
async def test_send_single_names_a_missing_field(api: httpx.AsyncClient, missing: str) -> None:
    body = single()
    del body[missing]

    response = await api.post("/send/single", json=body)

    assert mobivate_error(response) == (
        400,
        {"code": 400, "message": f"Missing required field: {missing}"},
    )


@pytest.mark.parametrize(
    "recipient", ["12345", "4470090000112345", "+447700900001", "44 7700 900001", "44770090000x"]
)
async def test_send_single_rejects_invalid_mobile(api: httpx.AsyncClient, recipient: str) -> None:
    response = await api.post("/send/single", json=single(recipient=recipient))

    assert mobivate_error(response) == (400, {"code": 400, "message": "Invalid mobile number"})


@pytest.mark.parametrize(
    ("originator", "status"),
    [
        ("Brand Name1", 200),
        ("BrandName123", 400),
        ("447700900001234", 200),
        ("4477009000012345", 400),
        ("Brand!", 400),
    ],
)
async def test_send_single_applies_originator_limits(
    api: httpx.AsyncClient, originator: str, status: int
) -> None:
    response = await api.post("/send/single", json=single(originator=originator))

    assert response.status_code == status


async def test_send_single_requires_a_future_schedule(api: httpx.AsyncClient) -> None:
    past = await api.post("/send/single", json=single(scheduleDateTime="2020-01-01T10:00:00+0000"))
    future = await api.post(
        "/send/single", json=single(scheduleDateTime="2099-08-01T10:00:00.996+0200")
    )

    assert past.json()["message"] == "scheduleDateTime: must be in the future"
    assert future.status_code == 200


async def test_send_single_to_opted_out_number_is_forbidden(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    fake.add_optout("447700900001")

    response = await api.post("/send/single", json=single())

    assert mobivate_error(response) == (403, {"code": 403, "message": "Recipient has opted out"})
    assert fake.sent == []


async def test_send_batch_answers_the_campaign_without_message_ids(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    request = {"routeId": "mglobal", "recipients": [item("447700900001", reference="a")]}

    response = await api.post("/send/batch", json=request)

    body = response.json()
    assert LOWER_HEX.fullmatch(body["id"])
    assert body == {
        "id": body["id"],
        "name": None,
        "routeId": "mglobal",
        "shortenUrls": False,
        "spreadHours": 0,
        "excludeOptouts": True,
        "excludeDuplicates": True,
        "scheduleDateTime": None,
        "recipients": [
            {
                "originator": "Brand",
                "recipient": "447700900001",
                "text": "Hi",
                "reference": "a",
                "routeId": None,
            }
        ],
    }
    [message] = fake.sent
    assert (message.batch_id, message.reference, message.response_id) == (
        body["id"].upper(),
        "a",
        None,
    )


async def test_send_batch_drops_opted_out_and_duplicate_recipients_by_default(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    fake.add_optout("447700900002")
    recipients = [item("447700900001"), item("447700900002"), item("447700900001")]

    response = await api.post("/send/batch", json={"routeId": "mglobal", "recipients": recipients})

    assert len(response.json()["recipients"]) == 3
    assert [message.recipient for message in fake.sent] == ["447700900001"]


async def test_send_batch_keeps_opted_out_recipients_when_asked(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    fake.add_optout("447700900002")
    request = {
        "routeId": "mglobal",
        "excludeOptouts": False,
        "excludeDuplicates": False,
        "recipients": [item("447700900002"), item("447700900002")],
    }

    await api.post("/send/batch", json=request)

    assert [message.recipient for message in fake.sent] == ["447700900002", "447700900002"]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (
            {"routeId": "mglobal", "messages": [item("447700900001")]},
            "Missing required field: recipients",
        ),
        ({"routeId": "mglobal", "recipients": []}, "recipients: must be a non-empty array"),
        (
            {
                "routeId": "mglobal",
                "recipients": [{"originator": "B", "recipient": "447700900001"}],
            },
            "Missing required field: recipients[0].text",
        ),
        ({"routeId": "mglobal", "recipients": [item("12")]}, "Invalid mobile number"),
        ({"recipients": [item("447700900001")]}, "Missing required field: routeId"),
        (
            {"routeId": "mglobal", "recipients": [item("447700900001")] * 1001},
            "recipients: at most 1000 messages per batch",
        ),
    ],
)
async def test_send_batch_rejects_invalid_requests(
    api: httpx.AsyncClient, fake: FakeMobivate, request_body: dict[str, Any], message: str
) -> None:
    response = await api.post("/send/batch", json=request_body)

    assert mobivate_error(response) == (400, {"code": 400, "message": message})
    assert fake.sent == []


async def test_send_batch_of_1000_is_accepted(api: httpx.AsyncClient, fake: FakeMobivate) -> None:
    recipients = [item(f"4477009{n:05d}") for n in range(1000)]

    response = await api.post("/send/batch", json={"routeId": "mglobal", "recipients": recipients})

    assert response.status_code == 200
    assert len(fake.sent) == 1000


# --- callbacks -----------------------------------------------------------------------------------


async def test_receipts_of_a_single_send_correlate_with_its_id(
    api: httpx.AsyncClient, fake: FakeMobivate, receiver: Receiver
) -> None:
    sent = (await api.post("/send/single", json=single(reference="order-17"))).json()

    responses = await fake.deliver_receipts()

    assert [response.status_code for response in responses] == [200, 200]
    accepted, delivered = receiver.bodies("receipt")
    assert accepted["deliveryMessageId"] == sent["id"].replace("-", "").upper()
    assert UPPER_HEX.fullmatch(accepted["batchId"])
    assert accepted["clientReference"] == "order-17"
    assert (accepted["status"], accepted["statusCode"]) == ("ACCEPTED", 2)
    assert (delivered["status"], delivered["statusCode"]) == ("DELIVERED", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", delivered["created"])
    assert (delivered["parts"], delivered["hlr"]) == (1, None)
    assert set(delivered) == {
        "deliveryMessageId",
        "batchId",
        "clientReference",
        "created",
        "status",
        "statusCode",
        "parts",
        "hlr",
    }
    log = (await api.get(f"/message/{accepted['deliveryMessageId']}")).json()
    assert log["status"] == "DELIVERED"
    assert await fake.deliver_receipts() == []


async def test_each_batch_item_gets_its_own_receipt_id(
    api: httpx.AsyncClient, fake: FakeMobivate, receiver: Receiver
) -> None:
    recipients = [item("447700900001", reference="a"), item("447700900002", reference="b")]
    batch = (await api.post("/send/batch", json={"routeId": "m", "recipients": recipients})).json()

    await fake.deliver_receipts(final_status="UNDELIVERABLE")

    receipts = receiver.bodies("receipt")
    finals = [body for body in receipts if body["status"] == "UNDELIVERABLE"]
    assert [body["clientReference"] for body in finals] == ["a", "b"]
    assert {body["batchId"] for body in receipts} == {batch["id"].upper()}
    assert len({body["deliveryMessageId"] for body in receipts}) == 2
    assert {body["statusCode"] for body in finals} == {5}


async def test_receipt_status_code_follows_the_status_table(
    api: httpx.AsyncClient, fake: FakeMobivate, receiver: Receiver
) -> None:
    await api.post("/send/single", json=single(body="x" * 161))
    [message] = fake.sent

    await fake.send_receipt(message, "FAILED_NOROUTE")
    await fake.send_receipt(message.response_id or "", "SOMETHING_NEW", status_code=99)
    with pytest.raises(ValueError, match="status_code"):
        await fake.send_receipt(message, "SOMETHING_NEW")

    assert [(b["statusCode"], b["parts"]) for b in receiver.bodies("receipt")] == [
        (12, 2),
        (99, 2),
    ]


async def test_auto_receipts_follow_each_send(
    callbacks: httpx.AsyncClient, receiver: Receiver
) -> None:
    fake = FakeMobivate(callback_client=callbacks, auto_receipts=True, receipt_delay=0)
    fake.webhooks["receipt"] = f"{HOOKS}/receipt"
    headers = {"Authorization": "Bearer test-key"}

    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=headers
    ) as client:
        await client.post("/send/single", json=single())
        await client.post(
            "/send/batch", json={"routeId": "m", "recipients": [item("447700900002")]}
        )
        await fake.wait_for_callbacks()

    assert [body["status"] for body in receiver.bodies("receipt")] == [
        "ACCEPTED",
        "DELIVERED",
        "ACCEPTED",
        "DELIVERED",
    ]


async def test_incoming_reply_carries_the_original_ids(
    api: httpx.AsyncClient, fake: FakeMobivate, receiver: Receiver
) -> None:
    sent = (await api.post("/send/single", json=single())).json()
    [original] = fake.sent

    await fake.send_incoming("447700900001", "STOP", recipient="12345", in_reply_to=sent["id"])
    await fake.send_incoming("447700900009", "Hello?")

    reply, unmatched = receiver.bodies("incoming")
    assert UPPER_HEX.fullmatch(reply["id"])
    assert (reply["originator"], reply["recipient"], reply["body"]) == (
        "447700900001",
        "12345",
        "STOP",
    )
    assert (reply["inReplyTo"], reply["logicalMessageId"]) == (original.id, original.batch_id)
    assert UPPER_HEX.fullmatch(reply["ownerUserId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", reply["created"])
    assert (unmatched["inReplyTo"], unmatched["logicalMessageId"]) == (None, None)


async def test_click_notification_describes_the_clicked_message(
    api: httpx.AsyncClient, fake: FakeMobivate, receiver: Receiver
) -> None:
    await api.post("/send/single", json=single(reference="ref-001", shortenUrls=True))
    [message] = fake.sent

    await fake.send_click(message, "https://shop.example.com/sale", device={"browser": "Chrome"})

    [click] = receiver.bodies("click")
    assert click == {
        "mobile": "447700900001",
        "messageId": message.id,
        "batchId": message.batch_id,
        "clientRef": "ref-001",
        "browser": "Chrome",
        "country": "United Kingdom",
        "ipAddress": "1.1.1.1",
        "iso2l": "UK",
        "os": "Mac OS X",
        "url": "https://shop.example.com/sale",
    }


async def test_callbacks_need_a_registered_webhook(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    await api.post("/send/single", json=single())
    fake.webhooks.clear()

    with pytest.raises(NoWebhook):
        await fake.send_receipt(fake.sent[0])
    with pytest.raises(NoWebhook):
        await fake.send_incoming("447700900001", "Hi")

    assert fake.sent[0].status == "PENDING"
    assert fake.received == []


# --- opt-outs --------------------------------------------------------------------------------


async def test_add_optout_answers_the_record(api: httpx.AsyncClient, fake: FakeMobivate) -> None:
    response = await api.post("/addressbook/optout", json={"mobile": "440011122233"})

    body = response.json()
    assert body == {"mobile": "440011122233", "note": "API", "created": body["created"]}
    assert isinstance(body["created"], int)
    assert body["created"] == int(fake.optouts["440011122233"].created.timestamp() * 1000)


@pytest.mark.parametrize("path", ["/addressbook/optout", "/optout"])
async def test_delete_optout_takes_a_json_body_on_either_path(
    api: httpx.AsyncClient, fake: FakeMobivate, path: str
) -> None:
    fake.add_optout("440011122233", note="MO")

    removed = await api.request("DELETE", path, json={"mobile": "440011122233"})
    again = await api.request("DELETE", path, json={"mobile": "440011122233"})

    assert (removed.json()["mobile"], removed.json()["note"]) == ("440011122233", "MO")
    assert mobivate_error(again) == (404, {"code": 404, "message": "Not Found"})
    assert fake.optouts == {}


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_optout_changes_reject_invalid_mobile(api: httpx.AsyncClient, method: str) -> None:
    response = await api.request(method, "/addressbook/optout", json={"mobile": "0011-22"})

    assert mobivate_error(response) == (400, {"code": 400, "message": "Invalid mobile number"})


async def test_list_optouts_pages_a_bare_array_in_created_order(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    start = datetime(2023, 1, 1, 9, tzinfo=UTC)
    for minutes in (3, 0, 2, 1):
        fake.add_optout(f"44700900000{minutes}", created=start + timedelta(minutes=minutes))
    fake.add_optout("447700900009", created=datetime(2023, 2, 1, tzinfo=UTC))
    window = {"startDate": "2023-01-01", "endDate": "2023-01-02", "pageSize": "3"}

    first = (await api.get("/addressbook/optout", params={**window, "page": "1"})).json()
    second = (await api.get("/addressbook/optout", params={**window, "page": "2"})).json()

    assert [record["mobile"] for record in first + second] == [
        "447009000000",
        "447009000001",
        "447009000002",
        "447009000003",
    ]
    assert set(first[0]) == {"id", "mobile", "note", "created"}
    assert first[0]["created"] == int(start.timestamp() * 1000)


async def test_list_optouts_understands_offsets_in_dates(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    fake.add_optout("447700900001", created=datetime(2023, 1, 1, 0, 30, tzinfo=UTC))
    fake.add_optout("447700900002", created=datetime(2023, 1, 1, 1, 0, tzinfo=UTC))
    params = {"startDate": "2023-01-01T12:00:00+1200", "endDate": "2023-01-01T12:45:00+1200"}

    response = await api.get("/addressbook/optout", params=params)

    assert [record["mobile"] for record in response.json()] == ["447700900001"]


async def test_list_optouts_defaults_to_pages_of_ten(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    for n in range(12):
        fake.add_optout(f"4477009000{n:02d}")
    today = datetime.now(UTC).date()
    params = {"startDate": str(today), "endDate": str(today + timedelta(days=1))}

    response = await api.get("/addressbook/optout", params=params)

    assert len(response.json()) == 10


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"startDate": "2023-01-011", "endDate": "2023-01-02"},
            'startDate: Invalid format: "2023-01-011" is malformed at "1"',
        ),
        ({"endDate": "2023-01-02"}, "Missing required parameter: startDate"),
        (
            {"startDate": "2023-01-01", "endDate": "2023-01"},
            'endDate: Invalid format: "2023-01" is too short',
        ),
        (
            {"startDate": "2023-01-01", "endDate": "2023-01-02", "pageSize": "1001"},
            "pageSize: must be less than or equal to 1000",
        ),
        (
            {"startDate": "2023-01-01", "endDate": "2023-01-02", "page": "0"},
            "page: must be at least 1",
        ),
    ],
)
async def test_list_optouts_rejects_bad_parameters(
    api: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    response = await api.get("/addressbook/optout", params=params)

    assert mobivate_error(response) == (400, {"code": 400, "message": message})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-01", datetime(2023, 1, 1, tzinfo=UTC)),
        ("2023-01-01T00:09:00+0900", datetime(2022, 12, 31, 15, 9, tzinfo=UTC)),
        ("2023-01-01T12:00:00.5-02:30", datetime(2023, 1, 1, 14, 30, 0, 500000, tzinfo=UTC)),
        ("2023-01-01T12:00:00Z", datetime(2023, 1, 1, 12, tzinfo=UTC)),
    ],
)
def test_date_parameters_accept_documented_forms(text: str, expected: datetime) -> None:
    assert parse_mobivate_date(text).value == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", 'Invalid format: "yesterday"'),
        ("2023-01-01T10:00", 'Invalid format: "2023-01-01T10:00" is too short'),
        (
            "2023-01-01 10:00:00",
            'Invalid format: "2023-01-01 10:00:00" is malformed at " 10:00:00"',
        ),
        ("2023-13-01", 'Cannot parse "2023-13-01": month must be in 1..12'),
    ],
)
def test_date_parameter_errors_read_like_mobivate(text: str, message: str) -> None:
    with pytest.raises(MalformedDate) as caught:
        parse_mobivate_date(text)

    assert str(caught.value) == message


# --- message logs ----------------------------------------------------------------------------


async def test_message_log_is_found_by_either_id_form(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    sent = (await api.post("/send/single", json=single(reference="ref-001"))).json()
    fake.set_message_status(sent["id"], "EXPIRED")

    by_uuid = (await api.get(f"/message/{sent['id']}")).json()
    by_hex = (await api.get(f"/message/{sent['id'].replace('-', '').upper()}")).json()

    assert by_uuid == by_hex
    assert by_hex["id"] == fake.sent[0].id
    assert (by_hex["status"], by_hex["direction"], by_hex["senderReference"]) == (
        "EXPIRED",
        "MT",
        "ref-001",
    )
    assert set(by_hex) == {
        "id",
        "created",
        "modified",
        "originator",
        "recipient",
        "body",
        "status",
        "direction",
        "inReplyTo",
        "routeId",
        "parts",
        "cost",
        "currency",
        "senderReference",
        "campaignId",
    }


async def test_unknown_message_is_not_found(api: httpx.AsyncClient) -> None:
    response = await api.get("/message/9A0C23DD0A000A9D2FBD4671D780AFDA")

    assert mobivate_error(response) == (404, {"code": 404, "message": "Not Found"})


async def test_message_search_filters_dates_direction_and_pages(
    api: httpx.AsyncClient, fake: FakeMobivate
) -> None:
    for n in range(3):
        await api.post("/send/single", json=single(recipient=f"44770090000{n}"))
    await fake.send_incoming("447700900001", "Thanks")
    today = datetime.now(UTC).date()
    window = {"startDate": str(today), "endDate": str(today + timedelta(days=1))}

    everything = (await api.get("/message", params=window)).json()
    incoming = (await api.get("/message", params={**window, "direction": "MO"})).json()
    second_page = (await api.get("/message", params={**window, "page": 2, "pageSize": 2})).json()
    yesterday = {"startDate": str(today - timedelta(days=2)), "endDate": str(today - timedelta(1))}
    earlier = (await api.get("/message", params=yesterday)).json()
    invalid = await api.get("/message", params={**window, "direction": "IN"})

    assert len(everything) == 4
    assert [(m["direction"], m["body"]) for m in incoming] == [("MO", "Thanks")]
    assert len(second_page) == 2
    assert earlier == []
    assert mobivate_error(invalid) == (400, {"code": 400, "message": "direction: must be MO or MT"})


# --- control endpoints for local runs -----------------------------------------------------------


async def test_control_endpoints_drive_callbacks_without_a_key(
    api: httpx.AsyncClient, fake: FakeMobivate, receiver: Receiver
) -> None:
    sent = (await api.post("/send/single", json=single())).json()

    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as person:
        incoming = await person.post(
            "/_fake/incoming", json={"originator": "447700900001", "body": "STOP"}
        )
        click = await person.post("/_fake/click", json={"messageId": sent["id"]})
        receipt = await person.post(
            "/_fake/receipt", json={"messageId": sent["id"], "status": "REJECTED"}
        )
        unknown = await person.post("/_fake/click", json={"messageId": "nope"})
        recorded = (await person.get("/_fake/requests")).json()
        messages = (await person.get("/_fake/messages")).json()

    assert [r.json()["webhookStatus"] for r in (incoming, click, receipt)] == [200, 200, 200]
    assert [path for path, _ in receiver.calls] == [
        "/mobivate/incoming",
        "/mobivate/click",
        "/mobivate/receipt",
    ]
    assert receiver.bodies("receipt")[0]["statusCode"] == 7
    assert unknown.status_code == 404
    assert [r["path"] for r in recorded] == ["/send/single"]
    assert recorded[0]["headers"]["authorization"] == "********"
    assert [m["direction"] for m in messages] == ["MT", "MO"]


async def test_control_endpoint_reports_a_missing_webhook(
    fake: FakeMobivate,
) -> None:
    fake.webhooks.clear()

    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as person:
        response = await person.post("/_fake/incoming", json={"originator": "4477", "body": "x"})

    assert mobivate_error(response) == (
        409,
        {"code": 409, "message": "no incoming webhook registered"},
    )
