"""Every filter of the sent-message and batch lists, paging and CSV, on both backends."""

import csv
import io
from typing import Any

import pytest

from tests.support.bodies import at
from tests.support.harness import Harness, send_message
from tests.support.lists import ids
from tests.support.webhooks import post_receipt

A, B, C = "447700900111", "447700900222", "447700900333"


@pytest.fixture
async def sent(harness: Harness) -> dict[str, Any]:
    """Three single messages (delivered, failed, pending) and a batch of two (pending)."""
    client = harness.client
    delivered = await send_message(harness, "+" + A, "ref-a")
    failed = await send_message(harness, "+" + B, "ref-b")
    pending = await send_message(harness, "+" + C, "ref-c")
    await post_receipt(client, delivered["mobivate_id"], "DELIVERED", 1, at(1))
    await post_receipt(client, failed["mobivate_id"], "UNDELIVERABLE", 5, at(2))
    await post_receipt(client, pending["mobivate_id"], "ACCEPTED", 2, at(3))
    batch = await harness.send_batch(
        [{"to": "+" + A, "text": "Sale"}, {"to": "+" + C, "text": "Sale"}], name="sale"
    )
    return {"delivered": delivered, "failed": failed, "pending": pending, "batch": batch}


async def message_ids(harness: Harness, **params: Any) -> set[int]:
    return set(await ids(harness.client, "/api/v1/messages", **params))


async def test_every_message_filter(harness: Harness, sent: dict[str, Any]) -> None:
    d, f, p = (sent[k]["id"] for k in ("delivered", "failed", "pending"))
    batch = sent["batch"]
    everything = await ids(harness.client, "/api/v1/messages")
    assert len(everything) == 5
    assert everything == sorted(everything, reverse=True)
    in_batch = set(everything) - {d, f, p}
    to_a = await message_ids(harness, msisdn="+44 7700 900111")
    assert d in to_a
    assert to_a == await message_ids(harness, msisdn=A)
    assert len(await message_ids(harness, msisdn=A)) == 2
    assert await message_ids(harness, status="delivered") == {d}
    assert await message_ids(harness, status="UNDELIVERABLE") == {f}
    assert await message_ids(harness, status_group="delivered") == {d}
    assert await message_ids(harness, status_group="failed") == {f}
    assert await message_ids(harness, status_group="pending") == {p} | in_batch
    assert await message_ids(harness, final="true") == {d, f}
    assert await message_ids(harness, final="false") == {p} | in_batch
    assert await message_ids(harness, reference="ref-b") == {f}
    assert await message_ids(harness, mobivate_id=sent["failed"]["mobivate_id"].lower()) == {f}
    assert await message_ids(harness, batch_id=batch["id"]) == in_batch
    [chunk] = batch["mobivate_batch_ids"]
    assert await message_ids(harness, mobivate_batch_id=chunk) == in_batch
    assert await message_ids(harness, since="2999-01-01T00:00:00Z") == set()
    assert len(await message_ids(harness, until="2999-01-01T00:00:00Z")) == 5
    item = (await harness.client.get("/api/v1/messages", params={"reference": "ref-a"})).json()
    assert item["items"][0]["to"] == "+" + A
    assert item["items"][0]["status"] == "DELIVERED"


async def test_messages_page_and_export(harness: Harness, sent: dict[str, Any]) -> None:
    first = (await harness.client.get("/api/v1/messages", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    exported = await harness.client.get(
        "/api/v1/messages", params={"format": "csv", "status_group": "pending", "limit": 1}
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 3
    assert {row["status"] for row in rows} == {"ACCEPTED", "submitted"}
    assert rows[0]["error"] == ""


async def test_batch_list(harness: Harness, sent: dict[str, Any]) -> None:
    page = (await harness.client.get("/api/v1/batches")).json()
    assert [item["id"] for item in page["items"]] == [sent["batch"]["id"]]
    assert page["items"][0]["name"] == "sale"
    assert page["items"][0]["requested"] == 2
    assert (await harness.client.get("/api/v1/batches", params={"state": "failed"})).json()[
        "items"
    ] == []
    exported = await harness.client.get("/api/v1/batches", headers={"Accept": "text/csv"})
    assert exported.text.splitlines()[0].startswith("id,name,state,")


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/messages", {"status_group": "lost"}, "status_group"),
        ("/api/v1/messages", {"final": "maybe"}, "final"),
        ("/api/v1/messages", {"msisdn": "12"}, "msisdn"),
        ("/api/v1/batches", {"state": "done"}, "state"),
        ("/api/v1/batches", {"cursor": "x"}, "cursor"),
    ],
)
async def test_invalid_filters_get_422(
    harness: Harness, path: str, params: dict[str, str], name: str
) -> None:
    response = await harness.client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert [error["loc"][-1] for error in response.json()["detail"]] == [name]
