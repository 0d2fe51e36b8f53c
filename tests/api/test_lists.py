"""Every filter of the receipt, incoming-message and click lists, on both backends."""

from typing import Any

import pytest

from tests.support.bodies import at
from tests.support.harness import Harness, send_message
from tests.support.lists import ids
from tests.support.webhooks import post_click, post_incoming, post_receipt

A = "447700900111"
B = "447700900222"


@pytest.fixture
async def world(harness: Harness) -> dict[str, Any]:
    """Two sent messages (to A and B) with receipts and replies at known times, plus a receipt
    and a reply that belong to no message of ours."""
    client = harness.client
    to_a = await send_message(harness, "+" + A, "ref-a")
    to_b = await send_message(harness, "+" + B, "ref-b")
    ma, mb = to_a["mobivate_id"], to_b["mobivate_id"]
    await post_receipt(client, ma, "ACCEPTED", 2, at(1), reference="ref-a")
    await post_receipt(client, ma, "DELIVERED", 1, at(3), reference="ref-a")
    await post_receipt(client, mb, "ACCEPTED", 2, at(2), reference="ref-b")
    await post_receipt(client, mb, "UNDELIVERABLE", 5, at(4), reference="ref-b")
    other = "ab12-cd34-ef56-0000"
    await post_receipt(client, other, "DELIVERED", 1, "not a time", batch="ffff-0001")
    await post_incoming(client, "IN-1", A, "Thanks", at(5), in_reply_to=ma)
    await post_incoming(client, "IN-2", "+44 7700 900333", "Hi", at(6))
    return {"a": to_a, "b": to_b, "other": other}


@pytest.fixture
async def clicks(harness: Harness, world: dict[str, Any]) -> None:
    client, ma = harness.client, world["a"]["mobivate_id"]
    await post_click(client, A, ma, reference="ref-a")
    await post_click(client, A, ma, reference="ref-a", url="https://example.com/other")
    await post_click(client, "447700900444", None, batch="FFFF0002")


async def statuses(harness: Harness, **params: Any) -> list[str]:
    response = await harness.client.get("/api/v1/receipts", params=params)
    assert response.status_code == 200, response.text
    return [item["status"] for item in response.json()["items"]]


async def test_receipts_newest_first_with_event_time_or_arrival_time(
    harness: Harness, world: dict[str, Any]
) -> None:
    response = await harness.client.get("/api/v1/receipts")
    body = response.json()
    assert body["next_cursor"] is None
    # The receipt without a parseable time happened, for the API, when it reached us (now).
    assert [i["status"] for i in body["items"]] == [
        "DELIVERED",
        "UNDELIVERABLE",
        "DELIVERED",
        "ACCEPTED",
        "ACCEPTED",
    ]
    first = body["items"][0]
    assert first["event_at"] is None
    assert first["occurred_at"] == first["received_at"]
    linked = body["items"][1]
    assert linked["msisdn"] == "+" + B
    assert linked["message_id"] == world["b"]["id"]
    assert linked["reference"] == "ref-b"
    assert linked["mobivate_id"] == world["b"]["mobivate_id"].replace("-", "").upper()


async def test_every_receipt_filter(harness: Harness, world: dict[str, Any]) -> None:
    assert await statuses(harness, msisdn="+44 7700 900111") == ["DELIVERED", "ACCEPTED"]
    assert await statuses(harness, status="delivered") == ["DELIVERED", "DELIVERED"]
    assert await statuses(harness, status_code=5) == ["UNDELIVERABLE"]
    assert await statuses(harness, reference="ref-b") == ["UNDELIVERABLE", "ACCEPTED"]
    assert await statuses(harness, mobivate_id=world["other"].upper()) == ["DELIVERED"]
    assert await statuses(harness, mobivate_batch_id="FFFF0001") == ["DELIVERED"]
    assert await statuses(harness, message_id=world["a"]["id"]) == ["DELIVERED", "ACCEPTED"]
    since, until = at(2).isoformat(), at(4).isoformat()
    assert await statuses(harness, since=since, until=until) == ["DELIVERED", "ACCEPTED"]
    assert await statuses(harness, until=at(1.5).isoformat()) == ["ACCEPTED"]


async def test_receipts_of_a_batch(harness: Harness) -> None:
    response = await harness.client.post(
        "/api/v1/batches",
        json={"messages": [{"to": "+" + A, "text": "Sale"}, {"to": "+" + B, "text": "Sale"}]},
    )
    assert response.status_code == 202, response.text
    batch = await harness.settled_batch(response.json()["id"])
    messages = harness.fake.sent
    for index, message in enumerate(messages):
        await post_receipt(
            harness.client,
            message.id,
            "DELIVERED",
            1,
            at(index),
            batch=message.batch_id,
            reference=message.reference,
        )
    await post_receipt(harness.client, "unrelated", "DELIVERED", 1, at(9))
    found = await ids(harness.client, "/api/v1/receipts", batch_id=batch["id"])
    assert len(found) == 2


async def test_every_incoming_filter(harness: Harness, world: dict[str, Any]) -> None:
    path = "/api/v1/incoming"
    assert len(await ids(harness.client, path)) == 2
    [reply] = (await harness.client.get(path, params={"msisdn": A})).json()["items"]
    assert reply["body"] == "Thanks"
    assert reply["message_id"] == world["a"]["id"]
    assert reply["in_reply_to"] == world["a"]["mobivate_id"].replace("-", "").upper()
    assert await ids(harness.client, path, msisdn="447700900333") != []
    assert await ids(harness.client, path, mobivate_id="in-1") == [reply["id"]]
    assert await ids(harness.client, path, message_id=world["a"]["id"]) == [reply["id"]]
    assert await ids(harness.client, path, since=at(5.5).isoformat()) != [reply["id"]]
    assert len(await ids(harness.client, path, until=at(5.5).isoformat())) == 1


@pytest.mark.usefixtures("clicks")
async def test_every_click_filter(harness: Harness, world: dict[str, Any]) -> None:
    path = "/api/v1/clicks"
    everything = await ids(harness.client, path)
    assert len(everything) == 3
    assert everything == sorted(everything, reverse=True)
    assert len(await ids(harness.client, path, msisdn=A)) == 2
    assert len(await ids(harness.client, path, reference="ref-a")) == 2
    assert len(await ids(harness.client, path, mobivate_id=world["a"]["mobivate_id"])) == 2
    assert len(await ids(harness.client, path, message_id=world["a"]["id"])) == 2
    assert len(await ids(harness.client, path, mobivate_batch_id="ffff0002")) == 1
    future = "2999-01-01T00:00:00Z"
    assert await ids(harness.client, path, since=future) == []
    assert len(await ids(harness.client, path, until=future)) == 3


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/receipts", {"msisdn": "not-a-number"}, "msisdn"),
        ("/api/v1/receipts", {"since": "2026-11-20T12:00:00"}, "since"),
        ("/api/v1/receipts", {"until": "yesterday"}, "until"),
        ("/api/v1/receipts", {"limit": "0"}, "limit"),
        ("/api/v1/receipts", {"limit": "1001"}, "limit"),
        ("/api/v1/receipts", {"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ("/api/v1/receipts", {"status_code": "x"}, "status_code"),
        ("/api/v1/incoming", {"mobivate_id": ""}, "mobivate_id"),
        ("/api/v1/clicks", {"batch_id": "-1"}, "batch_id"),
        ("/api/v1/clicks", {"colour": "red"}, "colour"),
    ],
)
async def test_invalid_filters_get_422_naming_the_parameter(
    harness: Harness, path: str, params: dict[str, str], name: str
) -> None:
    response = await harness.client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert [error["loc"][-1] for error in response.json()["detail"]] == [name]


async def test_since_must_be_before_until(harness: Harness) -> None:
    response = await harness.client.get(
        "/api/v1/receipts", params={"since": at(2).isoformat(), "until": at(1).isoformat()}
    )
    assert response.status_code == 422
    assert "since" in response.text
