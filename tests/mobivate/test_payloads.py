"""Parsing of Mobivate webhook bodies: documented examples, leniency, errors, hostile input."""

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mobivate.payloads import (
    ParsedClick,
    ParsedEvent,
    ParsedIncoming,
    ParsedReceipt,
    PayloadError,
    UnsupportedContentType,
    parse_timestamp,
    parse_webhook,
    parse_webhook_items,
    rejected_json,
)
from app.mobivate.vocabulary import WebhookKind, normalise_id
from tests.support.paths import DATA_DIR

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
RECEIPT, INCOMING, CLICK = WebhookKind.RECEIPT, WebhookKind.INCOMING, WebhookKind.CLICK
EVENT_TYPE = {RECEIPT: ParsedReceipt, INCOMING: ParsedIncoming, CLICK: ParsedClick}


def parse_one(kind: WebhookKind, fields: object) -> Any:
    [event] = parse_webhook(kind, orjson.dumps(fields), JSON)
    return event


def statuses(events: list[ParsedEvent]) -> list[str | None]:
    return [event.status for event in events if isinstance(event, ParsedReceipt)]


def rejection(kind: WebhookKind, body: bytes, content_type: str | None = JSON) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(kind, body, content_type)
    return caught.value


def json_rejection(kind: WebhookKind, fields: object) -> PayloadError:
    return rejection(kind, orjson.dumps(fields))


def form(xml: str) -> bytes:
    return urlencode({"xml": xml}).encode()


# --- documented examples (verbatim, tests/data) -------------------------------------------


def test_documented_receipt_example_parses() -> None:
    events = parse_webhook(RECEIPT, (DATA_DIR / "receipt.json").read_bytes(), JSON)

    assert events == [
        ParsedReceipt(
            delivery_message_id="9A85B95E0A000A9D2FBD46710388AD54",
            message_id_norm="9A85B95E0A000A9D2FBD46710388AD54",
            batch_id="9A85B9110A000A9D2FBD4671D691C328",
            batch_id_norm="9A85B9110A000A9D2FBD4671D691C328",
            client_reference=None,
            status="ACCEPTED",
            status_code=2,
            parts=1,
            part=None,
            event_at=datetime(2023, 7, 28, 3, 23, 22, tzinfo=UTC),
            event_at_raw="2023-07-28T03:23:22.000+00:00",
            hlr=None,
        )
    ]


def test_documented_incoming_example_parses() -> None:
    events = parse_webhook(INCOMING, (DATA_DIR / "incoming.json").read_bytes(), JSON)

    assert events == [
        ParsedIncoming(
            mobivate_id="1C9A658F0A931B317B6A53BB42EC3571",
            mobivate_id_norm="1C9A658F0A931B317B6A53BB42EC3571",
            originator="4400000000",
            recipient="12345",
            body="Incoming Message",
            event_at=datetime(2023, 9, 1, 0, 30, 36, tzinfo=UTC),
            event_at_raw="2023-09-01T00:30:36+0000",
            in_reply_to="961AEAEB0A000A9D2FBD4671D07705FE",
            in_reply_to_norm="961AEAEB0A000A9D2FBD4671D07705FE",
            logical_message_id="6EE262430A931B3127AFD4F044FC0622",
            logical_message_id_norm="6EE262430A931B3127AFD4F044FC0622",
            owner_user_id="94B8CC070A000A9D2FBD467124131CA6",
        )
    ]


def test_documented_click_example_parses() -> None:
    events = parse_webhook(CLICK, (DATA_DIR / "click.json").read_bytes(), JSON)

    assert events == [
        ParsedClick(
            message_id="9AEC3BB90A000A9D2FBD467178FF6827",
            message_id_norm="9AEC3BB90A000A9D2FBD467178FF6827",
            mobile="4400001234",
            batch_id="9AEC3B590A000A9D2FBD4671C4D151BF",
            batch_id_norm="9AEC3B590A000A9D2FBD4671C4D151BF",
            client_ref="ref-001",
            browser="Safari",
            country="United Kingdom",
            ip_address="1.1.1.1",
            iso2l="UK",
            os="Mac OS X",
            url="http://vimeo.com/751393851?autoplay=1",
        )
    ]


def test_documented_legacy_xml_receipt_parses_from_form_field() -> None:
    body = form((DATA_DIR / "receipt.xml").read_text())

    events = parse_webhook(RECEIPT, body, FORM)

    assert events == [
        ParsedReceipt(
            delivery_message_id="2ae13f9d-f5dc-4478-ab17-ba13ddeffad2",
            message_id_norm="2AE13F9DF5DC4478AB17BA13DDEFFAD2",
            batch_id=None,
            batch_id_norm=None,
            client_reference="myref",
            status="DELIVERED",
            status_code=None,
            parts=1,
            part=1,
            event_at=datetime(2000, 12, 19, 6, 29, 56, tzinfo=UTC),
            event_at_raw="2000-12-19T06:29:56+0000",
            hlr=None,
        )
    ]


def test_documented_legacy_xml_incoming_parses_from_form_field() -> None:
    body = form((DATA_DIR / "incoming.xml").read_text())

    events = parse_webhook(INCOMING, body, f"{FORM}; charset=UTF-8")

    assert events == [
        ParsedIncoming(
            mobivate_id="0ed7b241-096e-4ca4-abc3-a365f11fae8f",
            mobivate_id_norm="0ED7B241096E4CA4ABC3A365F11FAE8F",
            originator="44000009999",
            recipient="44000000001",
            body="Test 11:33",
            event_at=datetime(2011, 7, 11, 11, 30, 36, tzinfo=UTC),
            event_at_raw="2011-07-11T11:30:36+0000",
            in_reply_to="cad1bf26-1294-4076-8b44-1197f2568104",
            in_reply_to_norm="CAD1BF26129440768B441197F2568104",
            logical_message_id="c8aca89b-84e1-42fe-a32c-5050cd6a0590",
            logical_message_id_norm="C8ACA89B84E142FEA32C5050CD6A0590",
            owner_user_id=None,
        )
    ]


# --- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ef5796ce-e326-4a09-9033-6b457039b1ba", "EF5796CEE3264A0990336B457039B1BA"),
        ("fd9157b74bd3475d8716a69683066f0f", "FD9157B74BD3475D8716A69683066F0F"),
        ("9A85B95E0A000A9D2FBD46710388AD54", "9A85B95E0A000A9D2FBD46710388AD54"),
        ("  9a85-b95e  ", "9A85B95E"),
        ("", None),
        ("  ", None),
        ("---", None),
        (None, None),
    ],
)
def test_normalise_id_removes_dashes_and_upper_cases(raw: str | None, expected: str | None) -> None:
    assert normalise_id(raw) == expected


def test_ids_are_stripped_and_blank_ids_become_none() -> None:
    event = parse_one(RECEIPT, {"deliveryMessageId": "  abc-def \n", "batchId": "   "})

    assert event.delivery_message_id == "abc-def"
    assert event.message_id_norm == "ABCDEF"
    assert event.batch_id is None
    assert event.batch_id_norm is None


# --- timestamps ----------------------------------------------------------------------------

AT = datetime(2023, 7, 28, 3, 23, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-07-28T03:23:22.000+00:00", AT),  # DLR
        ("2023-07-28T03:23:22+0000", AT),  # MO, message log, legacy XML
        ("2023-07-28T03:23:22.000Z", AT),  # v2 records
        ("2023-07-28T03:23:22Z", AT),
        ("2023-07-28T03:23:22", AT),  # no offset: UTC
        ("2023-07-28 03:23:22", AT),
        ("2023-07-28 03:23:22 UTC", AT),
        ("2023-07-28t03:23:22z", AT),
        ("  2023-07-28T03:23:22Z\n", AT),
        ("2023-07-28T05:23:22+02:00", AT),
        ("2023-07-28T05:23:22+02", AT),
        ("2023-07-27T22:23:22-0500", AT),
        ("2023-07-28T03:23Z", AT.replace(second=0)),
        ("2023-07-28T03:23:22.5Z", AT.replace(microsecond=500_000)),
        ("2023-07-28T03:23:22.123456+00:00", AT.replace(microsecond=123_456)),
        ("2023-07-28T03:23:22,123456789Z", AT.replace(microsecond=123_456)),
        (1690783496000, datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)),  # opt-out epoch ms
        ("1690783496000", datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)),
        (1690783496, datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)),  # < 1e11: seconds
        ("1690783496", datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)),
        (1690783496.5, datetime(2023, 7, 31, 6, 4, 56, 500_000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_documented_formats(raw: object, expected: datetime) -> None:
    parsed = parse_timestamp(raw)

    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "2023-07-28",
        "2023-13-01T00:00:00Z",
        "2023-02-30T00:00:00Z",
        "2023-07-28T24:00:00Z",
        "2023-07-28T03:23:22+24:00",
        "2023-07-28T03:23:22+01:60",
        "0001-01-01T00:00:00+01:00",  # before datetime.min once in UTC
        "9999-12-31T23:59:59-01:00",  # after datetime.max once in UTC
        "\u0662\u0660\u0662\u0663-07-28T03:23:22Z",  # non-ASCII digits
        "9" * 100,
        10**30,
        -(10**30),
        math.inf,
        math.nan,
        True,
        None,
        {"created": "2023-07-28T03:23:22Z"},
        ["2023-07-28T03:23:22Z"],
    ],
)
def test_parse_timestamp_returns_none_for_unusable_values(raw: object) -> None:
    assert parse_timestamp(raw) is None


def test_unparseable_created_keeps_the_event_and_the_raw_value() -> None:
    event = parse_one(RECEIPT, {"status": "DELIVERED", "created": "28/07/2023 03:23"})

    assert event.status == "DELIVERED"
    assert event.event_at is None
    assert event.event_at_raw == "28/07/2023 03:23"


def test_epoch_created_is_parsed_and_rendered_as_raw_text() -> None:
    event = parse_one(RECEIPT, {"created": 1690783496000})

    assert event.event_at == datetime(2023, 7, 31, 6, 4, 56, tzinfo=UTC)
    assert event.event_at_raw == "1690783496000"


@pytest.mark.parametrize(
    ("created", "got"), [(True, "boolean true"), ({}, "object"), ([1], "array")]
)
def test_created_of_the_wrong_type_is_rejected(created: object, got: str) -> None:
    error = json_rejection(INCOMING, {"created": created})

    assert error.status_code == 422
    assert error.message == f"'created' must be a timestamp string or epoch number, got {got}"


def test_created_longer_than_its_column_is_rejected() -> None:
    error = json_rejection(RECEIPT, {"created": "x" * 65})

    assert error.status_code == 422
    assert error.message == "'created' is too long: 65 characters, at most 64 allowed"


# --- leniency ------------------------------------------------------------------------------


def test_unknown_fields_are_ignored() -> None:
    event = parse_one(
        RECEIPT,
        {"statusCode": 1, "part": 3, "surprise": {"deep": [1, 2, {"x": None}]}, "STATUS": "x"},
    )

    assert event.status_code == 1
    assert event.status is None
    assert event.part is None  # `part` only exists in the legacy XML receipt


def test_unknown_status_and_status_code_are_kept() -> None:
    event = parse_one(RECEIPT, {"status": "teleported", "statusCode": 99})

    assert (event.status, event.status_code) == ("TELEPORTED", 99)


@pytest.mark.parametrize("status", ["DELIVERED", "Delivered", "delivered", "  delivered\t"])
def test_status_is_compared_case_insensitively(status: str) -> None:
    assert parse_one(RECEIPT, {"status": status}).status == "DELIVERED"


def test_every_field_is_optional() -> None:
    assert parse_one(RECEIPT, {}) == ParsedReceipt(*[None] * 12)
    assert parse_one(INCOMING, {}) == ParsedIncoming(*[None] * 12)
    assert parse_one(CLICK, {}) == ParsedClick(*[None] * 12)


def test_nulls_are_accepted_everywhere() -> None:
    names = ["deliveryMessageId", "batchId", "clientReference", "created", "status"]
    names += ["statusCode", "parts", "hlr"]

    assert parse_one(RECEIPT, dict.fromkeys(names)) == ParsedReceipt(*[None] * 12)


def test_numbers_are_accepted_for_string_fields() -> None:
    event = parse_one(INCOMING, {"originator": 4400000000, "recipient": 12345.0, "body": 7})

    assert (event.originator, event.recipient, event.body) == ("4400000000", "12345", "7")


@pytest.mark.parametrize("value", [2, 2.0, "2", " 2 ", "+2", "0002"])
def test_integer_fields_accept_integral_numbers_and_strings(value: object) -> None:
    assert parse_one(RECEIPT, {"statusCode": value}).status_code == 2


def test_integer_fields_accept_the_signed_32_bit_range_and_blank_strings() -> None:
    event = parse_one(RECEIPT, {"statusCode": -(2**31), "parts": 2**31 - 1})
    assert (event.status_code, event.parts) == (-(2**31), 2**31 - 1)

    assert parse_one(RECEIPT, {"statusCode": "  "}).status_code is None


def test_body_keeps_its_whitespace_but_phone_numbers_do_not() -> None:
    event = parse_one(
        INCOMING, {"body": "  STOP \n", "originator": " 4400000000 ", "recipient": " "}
    )

    assert event.body == "  STOP \n"
    assert event.originator == "4400000000"
    assert event.recipient is None


def test_client_references_are_kept_as_sent_unless_blank() -> None:
    assert parse_one(RECEIPT, {"clientReference": " ref 1 "}).client_reference == " ref 1 "
    assert parse_one(RECEIPT, {"clientReference": "  "}).client_reference is None
    assert parse_one(CLICK, {"clientRef": ""}).client_ref is None


def test_descriptive_click_fields_are_kept_as_sent() -> None:
    event = parse_one(CLICK, {"browser": "", "os": " Mac OS X ", "iso2l": "UK"})

    assert (event.browser, event.os, event.iso2l) == ("", " Mac OS X ", "UK")


def test_nul_characters_are_removed_from_every_string() -> None:
    event = parse_one(
        RECEIPT,
        {
            "deliveryMessageId": "AB\x00CD",
            "status": "DELIV\x00ERED",
            "statusCode": "1\x00",
            "clientReference": "\x00",
            "created": "2023-07-28T03:23:22Z\x00",
            "hlr": {"k\x00ey": ["v\x00", {"n\x00": "\x00x"}], "n": 1},
        },
    )

    assert event.delivery_message_id == "ABCD"
    assert event.status == "DELIVERED"
    assert event.status_code == 1
    assert event.client_reference is None
    assert event.event_at == AT
    assert event.event_at_raw == "2023-07-28T03:23:22Z"
    assert event.hlr == {"key": ["v", {"n": "x"}], "n": 1}
    assert parse_one(INCOMING, {"body": "a\x00b"}).body == "ab"


def test_hlr_object_is_kept() -> None:
    hlr = {"status": "OK", "network": {"mcc": "234", "mnc": "15"}, "ported": False}

    assert parse_one(RECEIPT, {"hlr": hlr}).hlr == hlr


def test_duplicate_keys_last_wins() -> None:
    body = b'{"status":"ACCEPTED","statusCode":2,"status":"DELIVERED","statusCode":1}'

    [event] = parse_webhook(RECEIPT, body, JSON)

    assert isinstance(event, ParsedReceipt)
    assert (event.status, event.status_code) == ("DELIVERED", 1)


def test_leading_byte_order_mark_is_ignored() -> None:
    body = b"\xef\xbb\xbf" + (DATA_DIR / "receipt.json").read_bytes()

    assert parse_webhook(RECEIPT, body, JSON) == parse_webhook(
        RECEIPT, (DATA_DIR / "receipt.json").read_bytes(), JSON
    )


def test_unbounded_text_fields_take_long_values() -> None:
    event = parse_one(INCOMING, {"body": "x" * 100_000})
    click = parse_one(CLICK, {"url": "https://example.com/" + "a" * 10_000})

    assert len(event.body) == 100_000
    assert len(click.url) == 10_020


# --- arrays --------------------------------------------------------------------------------


def test_array_body_yields_one_event_per_item_in_order() -> None:
    body = orjson.dumps([{"status": "ACCEPTED"}, {"status": "DELIVERED"}])

    events = parse_webhook(RECEIPT, body, JSON)

    assert statuses(events) == ["ACCEPTED", "DELIVERED"]


def test_empty_array_is_rejected() -> None:
    error = rejection(RECEIPT, b"[]")

    assert error.status_code == 422
    assert error.message == "body is an empty JSON array; send at least one event object"


def test_item_by_item_parsing_keeps_the_good_items_and_reports_each_bad_one() -> None:
    body = b'[{"status":"ACCEPTED"}, "oops", null, {"statusCode":"abc"}, {"status":"DELIVERED"}]'

    parsed = parse_webhook_items(RECEIPT, body, JSON)

    assert statuses(parsed.events) == ["ACCEPTED", "DELIVERED"]
    assert [(item.index, item.message) for item in parsed.rejected] == [
        (1, "must be a JSON object, got string 'oops'"),
        (2, "must be a JSON object, got null"),
        (3, "'statusCode' must be an integer, got string 'abc'"),
    ]
    assert [item.value for item in parsed.rejected] == ["oops", None, {"statusCode": "abc"}]
    assert orjson.loads(rejected_json(parsed.rejected)) == ["oops", None, {"statusCode": "abc"}]


def test_item_by_item_parsing_refuses_an_array_without_one_good_item() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook_items(RECEIPT, b'["a", {"statusCode": []}]', JSON)

    assert caught.value.status_code == 422
    assert caught.value.message == "item 0: must be a JSON object, got string 'a'"


def test_an_item_nested_too_deep_to_write_again_is_reported_as_null() -> None:
    body = b'[{"status":"ACCEPTED"}, ' + b"[" * 400 + b"]" * 400 + b"]"

    parsed = parse_webhook_items(RECEIPT, body, JSON)

    [rejected] = parsed.rejected
    assert (rejected.index, rejected.message) == (1, "must be a JSON object, got array")
    assert rejected_json(parsed.rejected) == b"[null]"


@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"status": st.sampled_from(["ACCEPTED", "DELIVERED"])}),
            st.one_of(
                st.none(),
                st.integers(-(2**63), 2**63 - 1),
                st.text(max_size=5),
                st.lists(st.none()),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=200, deadline=None)
def test_every_item_is_either_an_event_or_rejected_in_order(items: list[object]) -> None:
    good = [index for index, item in enumerate(items) if isinstance(item, dict)]
    body = orjson.dumps(items)
    if not good:
        assert rejection(RECEIPT, body).message.startswith("item 0: ")
        return

    parsed = parse_webhook_items(RECEIPT, body, JSON)

    assert len(parsed.events) == len(good)
    assert [item.index for item in parsed.rejected] == [
        index for index in range(len(items)) if index not in good
    ]
    assert orjson.loads(rejected_json(parsed.rejected)) == [
        items[item.index] for item in parsed.rejected
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'"hello"',
            "body must be a JSON object or a non-empty array of objects, got string 'hello'",
        ),
        (b"42", "body must be a JSON object or a non-empty array of objects, got number 42"),
        (b"null", "body must be a JSON object or a non-empty array of objects, got null"),
        (b"[{}, 5]", "item 1: must be a JSON object, got number 5"),
        (b"[{}, {}, []]", "item 2: must be a JSON object, got array"),
        (
            b'[{}, {}, {"statusCode": "abc"}]',
            "item 2: 'statusCode' must be an integer, got string 'abc'",
        ),
    ],
)
def test_bodies_of_the_wrong_shape_are_rejected(body: bytes, message: str) -> None:
    error = rejection(RECEIPT, body)

    assert error.status_code == 422
    assert error.message == message


# --- field errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        (RECEIPT, {"statusCode": "abc"}, "'statusCode' must be an integer, got string 'abc'"),
        (RECEIPT, {"statusCode": "2.0"}, "'statusCode' must be an integer, got string '2.0'"),
        (RECEIPT, {"statusCode": "\u0661"}, "'statusCode' must be an integer, got string '\u0661'"),
        (RECEIPT, {"statusCode": 1.5}, "'statusCode' must be an integer, got number 1.5"),
        (RECEIPT, {"statusCode": True}, "'statusCode' must be an integer, got boolean true"),
        (RECEIPT, {"parts": []}, "'parts' must be an integer, got array"),
        (RECEIPT, {"parts": {}}, "'parts' must be an integer, got object"),
        (
            RECEIPT,
            {"statusCode": 2**31},
            "'statusCode' must fit a signed 32-bit integer, got number 2147483648",
        ),
        (
            RECEIPT,
            {"parts": "-99999999999"},
            "'parts' must fit a signed 32-bit integer, got string '-99999999999'",
        ),
        (
            RECEIPT,
            {"statusCode": "9" * 100},
            f"'statusCode' must be an integer, got string '{'9' * 40}'...",
        ),
        (RECEIPT, {"batchId": False}, "'batchId' must be a string, got boolean false"),
        (
            RECEIPT,
            {"deliveryMessageId": {"id": 1}},
            "'deliveryMessageId' must be a string, got object",
        ),
        (RECEIPT, {"clientReference": 1.5}, "'clientReference' must be a string, got number 1.5"),
        (RECEIPT, {"status": ["DELIVERED"]}, "'status' must be a string, got array"),
        (RECEIPT, {"hlr": "none"}, "'hlr' must be an object or null, got string 'none'"),
        (RECEIPT, {"hlr": [{}]}, "'hlr' must be an object or null, got array"),
        (INCOMING, {"body": {"text": "hi"}}, "'body' must be a string, got object"),
        (INCOMING, {"originator": True}, "'originator' must be a string, got boolean true"),
        (CLICK, {"url": ["http://x"]}, "'url' must be a string, got array"),
        (CLICK, {"iso2l": 1.25}, "'iso2l' must be a string, got number 1.25"),
    ],
)
def test_fields_of_the_wrong_type_are_rejected_with_the_field_named(
    kind: WebhookKind, fields: dict[str, object], message: str
) -> None:
    error = json_rejection(kind, fields)

    assert error.status_code == 422
    assert error.message == message


def test_integral_numbers_too_large_to_be_exact_are_not_turned_into_ids() -> None:
    error = rejection(RECEIPT, b'{"batchId": 123456789012345678901234567890}')

    assert error.message == "'batchId' must be a string, got number 1.2345678901234568e+29"


CAPS = [
    (RECEIPT, "deliveryMessageId", 128),
    (RECEIPT, "batchId", 128),
    (RECEIPT, "clientReference", 255),
    (RECEIPT, "status", 64),
    (INCOMING, "id", 128),
    (INCOMING, "inReplyTo", 128),
    (INCOMING, "logicalMessageId", 128),
    (INCOMING, "ownerUserId", 128),
    (INCOMING, "originator", 64),
    (INCOMING, "recipient", 64),
    (CLICK, "messageId", 128),
    (CLICK, "batchId", 128),
    (CLICK, "mobile", 64),
    (CLICK, "clientRef", 255),
    (CLICK, "browser", 255),
    (CLICK, "country", 255),
    (CLICK, "ipAddress", 255),
    (CLICK, "iso2l", 255),
    (CLICK, "os", 255),
]


@pytest.mark.parametrize(("kind", "field", "limit"), CAPS)
def test_identifier_like_fields_are_capped(kind: WebhookKind, field: str, limit: int) -> None:
    parse_one(kind, {field: "A" * limit})

    error = json_rejection(kind, {field: "A" * (limit + 1)})

    assert error.status_code == 422
    assert error.message == (
        f"'{field}' is too long: {limit + 1} characters, at most {limit} allowed"
    )


def test_length_cap_applies_after_whitespace_and_nul_removal() -> None:
    event = parse_one(RECEIPT, {"batchId": "  " + "A\x00" * 128 + "  "})

    assert event.batch_id == "A" * 128


# --- content types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;Charset=UTF-8",
        "application/vnd.mobivate.receipt+json",
        "text/plain",
        "text/plain; charset=us-ascii",
        "",
        None,
    ],
)
def test_json_is_accepted_under_json_like_content_types(content_type: str | None) -> None:
    events = parse_webhook(RECEIPT, (DATA_DIR / "receipt.json").read_bytes(), content_type)

    assert statuses(events) == ["ACCEPTED"]


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/xml", "multipart/form-data; boundary=x", "json"]
)
def test_other_content_types_are_unsupported(content_type: str) -> None:
    error = rejection(RECEIPT, (DATA_DIR / "receipt.json").read_bytes(), content_type)

    assert isinstance(error, UnsupportedContentType)
    assert error.status_code == 415
    assert error.message.startswith(f"content type {content_type!r} is not accepted")
    assert "application/json" in error.message
    assert FORM in error.message


def test_form_body_is_unsupported_for_click_notifications() -> None:
    error = rejection(CLICK, form("<click/>"), FORM)

    assert isinstance(error, UnsupportedContentType)
    assert error.status_code == 415
    assert error.message == (
        f"content type {FORM!r} is not accepted for click notifications; send application/json"
    )


def test_form_body_sent_as_json_is_malformed_json() -> None:
    error = rejection(RECEIPT, form((DATA_DIR / "receipt.xml").read_text()), JSON)

    assert error.status_code == 400
    assert error.message.startswith("body is not valid JSON: ")


# --- legacy XML form -----------------------------------------------------------------------


def test_xml_ignores_unknown_elements_and_keeps_the_last_duplicate() -> None:
    xml = (
        "<deliveryreceipt><status>ACCEPTED</status><status> delivered </status>"
        "<hlr>ignored</hlr><extra><a>1</a></extra><statusCode>1</statusCode></deliveryreceipt>"
    )

    [event] = parse_webhook(RECEIPT, form(xml), FORM)

    assert isinstance(event, ParsedReceipt)
    assert (event.status, event.status_code, event.hlr) == ("DELIVERED", 1, None)


def test_xml_empty_elements_count_as_absent() -> None:
    xml = "<deliverymessage><id/><body></body><inReplyTo>  </inReplyTo></deliverymessage>"

    [event] = parse_webhook(INCOMING, form(xml), FORM)

    assert event == ParsedIncoming(*[None] * 12)


def test_xml_declaration_and_nul_characters_are_tolerated() -> None:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<deliverymessage><body>h\x00é</body></deliverymessage>"
    )

    [event] = parse_webhook(INCOMING, form(xml), FORM)

    assert isinstance(event, ParsedIncoming)
    assert event.body == "hé"


@pytest.mark.parametrize(
    ("kind", "body", "status_code", "message"),
    [
        (RECEIPT, b"", 422, "form field 'xml' is missing"),
        (RECEIPT, b"XML=%3Cdeliveryreceipt%2F%3E", 422, "form field 'xml' is missing"),
        (
            RECEIPT,
            form("<deliverymessage/>"),
            422,
            "form field 'xml' must have root element <deliveryreceipt> for receipt "
            "notifications, got <deliverymessage>",
        ),
        (
            INCOMING,
            form("<deliveryreceipt/>"),
            422,
            "form field 'xml' must have root element <deliverymessage> for incoming "
            "notifications, got <deliveryreceipt>",
        ),
        (
            RECEIPT,
            form("<deliveryreceipt><status><code>1</code></status></deliveryreceipt>"),
            422,
            "form field 'xml': <status> must contain text only",
        ),
        (
            RECEIPT,
            form("<deliveryreceipt><parts>one</parts></deliveryreceipt>"),
            422,
            "form field 'xml': 'parts' must be an integer, got string 'one'",
        ),
        (RECEIPT, form(""), 400, "form field 'xml' is not well-formed XML: no element found"),
        (
            RECEIPT,
            form("<deliveryreceipt>"),
            400,
            "form field 'xml' is not well-formed XML: no element found",
        ),
        (RECEIPT, b"xml=%FF", 400, "form body is not valid UTF-8"),
        (RECEIPT, b"xml=\xff", 400, "form body is not valid UTF-8"),
    ],
)
def test_unacceptable_form_bodies_are_rejected(
    kind: WebhookKind, body: bytes, status_code: int, message: str
) -> None:
    error = rejection(kind, body, FORM)

    assert error.status_code == status_code
    assert error.message.startswith(message)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<deliveryreceipt><status>&lol3;</status></deliveryreceipt>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<deliveryreceipt><status>&xxe;</status></deliveryreceipt>"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE deliveryreceipt SYSTEM "http://127.0.0.1:1/evil.dtd">
<deliveryreceipt/>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_xml_with_dtds_or_entities_is_refused(xml: str) -> None:
    error = rejection(RECEIPT, form(xml), FORM)

    assert error.status_code == 400
    assert error.message == (
        "form field 'xml' contains a DTD or entity declarations, which are not accepted"
    )


# --- hostile JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"{", "unexpected end of data"),
        (b"{'status': 'DELIVERED'}", "expected a string key"),
        (b'{"status": "\xff"}', "UTF-8"),
        (b'{"status": "\\ud800"}', "surrogate"),
        (b'{"statusCode": 1e400}', "infinity"),
        (b'{"statusCode": NaN}', "expected a JSON value"),
        (b"[" * 5000 + b"]" * 5000, "depth limit"),
        (b'{"a":' * 2000 + b"1" + b"}" * 2000, "depth limit"),
    ],
)
def test_malformed_json_is_rejected_with_the_reason(body: bytes, reason: str) -> None:
    error = rejection(RECEIPT, body)

    assert error.status_code == 400
    assert error.message.startswith("body is not valid JSON: ")
    assert reason.lower() in error.message.lower()


def test_deeply_nested_unknown_fields_within_the_json_limit_are_ignored() -> None:
    body = b'{"status": "OK", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"

    [event] = parse_webhook(RECEIPT, body, JSON)

    assert isinstance(event, ParsedReceipt)
    assert event.status == "OK"


def nested(depth: int) -> Any:
    """A JSON object ``depth`` containers deep, alternating objects and arrays."""
    value: Any = "leaf"
    for level in reversed(range(depth)):
        value = {"n": value} if level % 2 == 0 else [value]
    return value


def test_hlr_nesting_is_bounded() -> None:
    assert parse_one(RECEIPT, {"hlr": nested(32)}).hlr == nested(32)

    error = json_rejection(RECEIPT, {"hlr": nested(33)})
    assert error.status_code == 422
    assert error.message == "'hlr' is nested more than 32 levels deep"


def test_huge_values_are_rejected_not_crashed_on() -> None:
    assert rejection(RECEIPT, b'{"statusCode": 1e300}').message == (
        "'statusCode' must fit a signed 32-bit integer, got number 1e+300"
    )
    assert rejection(RECEIPT, b'{"parts": 18446744073709551615}').message == (
        "'parts' must fit a signed 32-bit integer, got number 18446744073709551615"
    )
    assert json_rejection(RECEIPT, {"batchId": "A" * 1_000_000}).message == (
        "'batchId' is too long: 1000000 characters, at most 128 allowed"
    )
    assert parse_one(RECEIPT, {"created": 10**18}).event_at is None


# --- properties ----------------------------------------------------------------------------

FIELD_NAMES = sorted(
    {"deliveryMessageId", "batchId", "clientReference", "created", "status", "statusCode"}
    | {"parts", "hlr", "id", "originator", "recipient", "body", "inReplyTo"}
    | {"logicalMessageId", "ownerUserId", "messageId", "mobile", "clientRef", "browser"}
    | {"country", "ipAddress", "iso2l", "os", "url", "part"}
)
CONTENT_TYPES = [JSON, FORM, None, "text/plain", "text/html", "application/problem+json"]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.from_regex(r"[0-9]{1,25}", fullmatch=True)
    | st.sampled_from(["2023-07-28T03:23:22.000+00:00", "DELIVERED", "\x00", " "])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=10)
kinds = st.sampled_from(list(WebhookKind))


def assert_events_or_payload_error(
    kind: WebhookKind, body: bytes, content_type: str | None
) -> None:
    outcome = parse_or_error(kind, body, content_type)
    if isinstance(outcome, PayloadError):
        assert outcome.status_code in {400, 415, 422}
        assert outcome.message
        return
    assert outcome
    for event in outcome:
        assert_clean_event(kind, event)


def parse_or_error(
    kind: WebhookKind, body: bytes, content_type: str | None
) -> list[ParsedEvent] | PayloadError:
    try:
        return parse_webhook(kind, body, content_type)
    except PayloadError as exc:
        return exc


def assert_clean_event(kind: WebhookKind, event: ParsedEvent) -> None:
    assert isinstance(event, EVENT_TYPE[kind])
    for name in event.__slots__:
        value = getattr(event, name)
        assert value is None or isinstance(value, str | int | datetime | dict)
        if isinstance(value, str):
            assert "\x00" not in value
        if isinstance(value, datetime):
            assert value.tzinfo is UTC


@settings(max_examples=300)
@given(kind=kinds, body=st.binary(), content_type=st.sampled_from(CONTENT_TYPES))
def test_arbitrary_bytes_give_events_or_a_payload_error(
    kind: WebhookKind, body: bytes, content_type: str | None
) -> None:
    assert_events_or_payload_error(kind, body, content_type)


@settings(max_examples=300)
@given(kind=kinds, value=json_values | json_objects | st.lists(json_objects, max_size=3))
def test_arbitrary_json_values_give_events_or_a_payload_error(
    kind: WebhookKind, value: Any
) -> None:
    assert_events_or_payload_error(kind, orjson.dumps(value), JSON)


@settings(max_examples=200)
@given(kind=st.sampled_from([RECEIPT, INCOMING]), xml=st.text())
def test_arbitrary_xml_text_gives_events_or_a_payload_error(kind: WebhookKind, xml: str) -> None:
    assert_events_or_payload_error(kind, urlencode({"xml": xml}).encode(), FORM)


@settings(max_examples=200)
@given(
    kind=st.sampled_from([RECEIPT, INCOMING]),
    children=st.dictionaries(st.sampled_from(FIELD_NAMES), st.text(), max_size=8),
)
def test_arbitrary_xml_fields_give_events_or_a_payload_error(
    kind: WebhookKind, children: dict[str, str]
) -> None:
    root = "deliveryreceipt" if kind == RECEIPT else "deliverymessage"
    inner = "".join(f"<{name}>{escape(text)}</{name}>" for name, text in children.items())
    assert_events_or_payload_error(kind, form(f"<{root}>{inner}</{root}>"), FORM)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@given(raw=st.text() | st.integers() | st.floats())
def test_parse_timestamp_never_raises_and_returns_aware_utc(raw: object) -> None:
    parsed = parse_timestamp(raw)

    assert parsed is None or (parsed.tzinfo is UTC and parsed.utcoffset() == timedelta(0))


offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    moment=st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9000, 1, 1), timezones=offsets
    ),
    separator=st.sampled_from(["T", " "]),
)
def test_parse_timestamp_reads_back_iso_formatted_datetimes(
    moment: datetime, separator: str
) -> None:
    assert parse_timestamp(moment.isoformat(sep=separator)) == moment


@given(raw=st.none() | st.text())
def test_normalise_id_is_idempotent(raw: str | None) -> None:
    once = normalise_id(raw)

    assert normalise_id(once) == once
    assert once is None or (once and "-" not in once and once == once.strip())
