"""One malformed item in a JSON array costs only itself, on both backends: the good items are
stored, the bad ones are kept raw as an unparsed request with their reasons, and the answer is a
2xx that lists them."""

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import IncomingMessage, Receipt, WebhookRequest
from app.webhooks.ingest import rejected_request_id
from tests.support.bodies import incoming, receipt
from tests.support.rows import all_rows, count_rows
from tests.support.webhooks import post_webhook

GOOD = receipt("9A85B95E0A000A9D2FBD46710388AD54", "ACCEPTED", 2)
OTHER = receipt("9A85B95E0A000A9D2FBD46710388AD55", "DELIVERED", 1)


def deeply_nested(depth: int) -> Any:
    value: Any = {"status": "DELIVERED"}
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_ITEMS: list[tuple[str, Any, str]] = [
    ("a string", "STOP", "must be a JSON object, got string 'STOP'"),
    ("null", None, "must be a JSON object, got null"),
    ("a number", 1e308, "must be a JSON object, got number 1e+308"),
    ("an empty array", [], "must be a JSON object, got array"),
    ("an array nested 200 deep", deeply_nested(200), "must be a JSON object, got array"),
    ("an hlr nested 40 deep", {"hlr": deeply_nested(40)}, "'hlr' must be an object or null"),
    ("a huge id", {"deliveryMessageId": "A" * 200_000}, "'deliveryMessageId' is too long"),
    ("wrong field types", {"statusCode": {"a": 1}}, "'statusCode' must be an integer, got object"),
]


async def all_rows_of_requests(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(WebhookRequest))).all())


@pytest.mark.parametrize(
    ("name", "item", "reason"), HOSTILE_ITEMS, ids=[c[0] for c in HOSTILE_ITEMS]
)
async def test_a_hostile_item_is_rejected_alone_and_kept_raw(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, item: Any, reason: str
) -> None:
    response = await post_webhook(client, "receipt", [GOOD, item, OTHER])

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["stored"], answer["duplicates"]) == ("stored", 2, 0)
    assert answer["rejected_count"] == 1
    [rejected] = answer["rejected"]
    assert rejected["index"] == 1
    assert rejected["detail"].startswith(reason), rejected["detail"]
    assert await count_rows(engine, Receipt) == 2
    requests = await all_rows_of_requests(engine)
    [original] = [row for row in requests if row.outcome == "stored"]
    [kept] = [row for row in requests if row.outcome == "unparsed"]
    assert orjson.loads(original.body) == orjson.loads(orjson.dumps([GOOD, item, OTHER]))
    assert original.event_count == 2
    assert f"kept as request {kept.id}" in original.error
    assert kept.id == rejected_request_id(original.id)
    assert (kept.kind, kept.event_count, kept.truncated) == ("receipt", 0, False)
    assert kept.error.startswith(f"1 item(s) of request {original.id}: item 1: {reason}")
    if name != "an array nested 200 deep":
        assert orjson.loads(kept.body) == [item]
    assert kept.body_size == len(kept.body)


async def test_the_answer_lists_the_first_hundred_rejected_items_and_counts_them_all(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    items: list[Any] = [GOOD, *range(150)]

    response = await post_webhook(client, "receipt", items)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["stored"] == 1
    assert answer["rejected_count"] == 150
    assert [item["index"] for item in answer["rejected"]] == list(range(1, 101))
    [kept] = [row for row in await all_rows_of_requests(engine) if row.outcome == "unparsed"]
    assert orjson.loads(kept.body) == list(range(150))
    assert kept.error.endswith("; and 130 more")


async def test_an_array_without_a_good_item_is_refused_whole_and_kept(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await post_webhook(client, "receipt", ["a", None, {"statusCode": "x"}])

    assert response.status_code == 422
    assert response.json()["detail"] == "item 0: must be a JSON object, got string 'a'"
    [kept] = await all_rows_of_requests(engine)
    assert kept.outcome == "unparsed"
    assert await count_rows(engine, Receipt) == 0


async def test_a_single_good_item_with_a_bad_one_gets_the_full_answer(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    stop = incoming("447700900461", "STOP", message_id="1C9A658F0A931B317B6A53BB42EC3571")

    response = await post_webhook(client, "incoming", ["junk", stop])

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "stored",
        "stored": 1,
        "duplicates": 0,
        "rejected": [{"index": 0, "detail": "must be a JSON object, got string 'junk'"}],
        "rejected_count": 1,
    }
    [message] = await all_rows(engine, IncomingMessage)
    assert message.body == "STOP"


async def test_a_redelivered_array_with_a_bad_item_is_a_duplicate_and_keeps_it_again(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = [GOOD, "bad"]
    first = await post_webhook(client, "receipt", body)
    second = await post_webhook(client, "receipt", body)

    assert (first.json()["status"], second.json()["status"]) == ("stored", "duplicate")
    assert second.json()["rejected_count"] == 1
    assert await count_rows(engine, Receipt) == 1
    outcomes = sorted(row.outcome for row in await all_rows_of_requests(engine))
    assert outcomes == ["duplicate", "stored", "unparsed", "unparsed"]
