"""Keyset pagination and CSV export of the lists: every row once, in order, while rows arrive."""

import csv
import io
from typing import Any

import httpx
import pytest

from tests.support.app import RunningApp
from tests.support.bodies import T0, at, receipt
from tests.support.lists import get_page, ids
from tests.support.webhooks import post_accepted, post_stored


async def post_receipts(client: httpx.AsyncClient, start: int, count: int, **fields: Any) -> None:
    """`count` receipts in one request; five share each event time, so ties are common."""
    body = [
        {
            **receipt(
                f"MSG-{n}",
                "DELIVERED" if n % 3 else "ACCEPTED",
                1 if n % 3 else 2,
                created=at(n // 5),
                reference=f"ref-{n}",
            ),
            **fields,
        }
        for n in range(start, start + count)
    ]
    await post_accepted(client, "receipt", body)


async def test_paging_returns_every_row_once_in_order_while_new_rows_arrive(
    running: RunningApp,
) -> None:
    client = running.client
    await post_receipts(client, 0, 250)
    before = set(await ids(client, "/api/v1/receipts", limit=1000))
    assert len(before) == 250

    seen: list[int] = []
    keys: list[tuple[str, int]] = []
    cursor = None
    arrived = 0
    while True:
        page = await get_page(
            client, "/api/v1/receipts", limit=40, **({"cursor": cursor} if cursor else {})
        )
        seen.extend(item["id"] for item in page["items"])
        keys.extend((item["occurred_at"], item["id"]) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Newer receipts, and late ones about the past, stored between two pages.
        await post_receipts(client, 1000 + arrived, 3)
        await post_receipt_late(client, 2000 + arrived)
        arrived += 3
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert before <= set(seen), "a row was missed"
    assert keys == sorted(keys, reverse=True)


async def post_receipt_late(client: httpx.AsyncClient, n: int) -> None:
    await post_stored(client, "receipt", receipt(f"LATE-{n}", created=T0))


async def test_limit_and_last_page(running: RunningApp) -> None:
    await post_receipts(running.client, 0, 12)
    page = await get_page(running.client, "/api/v1/receipts", limit=5)
    assert len(page["items"]) == 5
    assert page["next_cursor"]
    default = await get_page(running.client, "/api/v1/receipts")
    assert len(default["items"]) == 12
    assert default["next_cursor"] is None
    exact = await get_page(running.client, "/api/v1/receipts", limit=12)
    assert exact["next_cursor"] is None


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("params", "headers"),
    [({}, {"Accept": "text/csv"}), ({"format": "csv"}, {})],
)
async def test_csv_streams_the_same_rows_as_the_pages(
    running: RunningApp, params: dict[str, str], headers: dict[str, str]
) -> None:
    client = running.client
    await post_receipts(client, 0, 23)
    pages = await ids(client, "/api/v1/receipts", status="DELIVERED", limit=4)
    response = await client.get(
        "/api/v1/receipts", params={"status": "DELIVERED", "limit": 4, **params}, headers=headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="receipts.csv"' in response.headers["content-disposition"]
    rows = parse_csv(response.text)
    assert [int(row["id"]) for row in rows] == pages
    json_items = (await get_page(client, "/api/v1/receipts", limit=1))["items"]
    first = rows[0]
    assert list(first) == list(json_items[0])
    assert first["status"] == "DELIVERED"
    assert first["occurred_at"] == "2026-11-20T12:04:00Z"  # as in the JSON pages
    assert first["msisdn"] == ""


async def test_csv_of_each_list_and_after_a_cursor(running: RunningApp) -> None:
    client = running.client
    await post_receipts(client, 0, 6)
    page = await get_page(client, "/api/v1/receipts", limit=2)
    rest = await client.get(
        "/api/v1/receipts", params={"cursor": page["next_cursor"], "format": "csv"}
    )
    assert len(parse_csv(rest.text)) == 4
    for path in ("/api/v1/incoming", "/api/v1/clicks"):
        empty = await client.get(path, headers={"Accept": "text/csv"})
        assert empty.status_code == 200
        assert empty.text.startswith("id,occurred_at,")
        assert parse_csv(empty.text) == []
