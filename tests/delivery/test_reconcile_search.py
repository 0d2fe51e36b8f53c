"""Batch messages that never got a receipt have no Mobivate id; reconciliation finds them with
Mobivate's message-log search, by batch and date range, and settles them by reference."""

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from app.fake_mobivate.records import FakeMessage
from tests.delivery.test_reconcile import reconcile_cli
from tests.support.harness import Harness


def number(i: int) -> str:
    return f"4477009{i:05d}"


async def send_batch(harness: Harness, count: int, **fields: Any) -> dict[str, Any]:
    messages = [{"to": number(i), "text": f"Offer {i}"} for i in range(count)]
    return await harness.send_batch(messages, **fields)


def searches(harness: Harness) -> list[dict[str, str]]:
    return [r.query for r in harness.fake.requests if r.method == "GET" and r.path == "/message"]


async def test_batch_messages_without_a_receipt_are_settled_by_search(harness: Harness) -> None:
    batch = await send_batch(harness, 3)
    first, second, third = (harness.by_reference(m["reference"]) for m in batch["messages"])
    harness.fake.set_message_status(first, "DELIVERED")
    harness.fake.set_message_status(second, "UNDELIVERABLE")
    assert all(
        m["mobivate_id"] is None
        for m in [await harness.message(i["id"]) for i in batch["messages"]]
    )

    code, out, err = await reconcile_cli(harness, "--older-than", "0s")
    assert code == 0, err
    assert "3 examined: 2 now final (0 by id, 2 by search)" in out
    assert "3 without a Mobivate id, 3 of them found by search in 1 pages" in out
    assert "0 unknown to Mobivate" in out

    [query] = searches(harness)
    assert query["direction"] == "MT"
    assert (query["page"], query["pageSize"]) == ("1", "1000")
    assert query["startDate"].endswith("+0000")
    assert query["endDate"].endswith("+0000")
    assert [r.path for r in harness.fake.requests if r.method == "GET"] == ["/message"]

    delivered, undeliverable, pending = [await harness.message(m["id"]) for m in batch["messages"]]
    assert (delivered["status"], delivered["final"]) == ("DELIVERED", True)
    assert (undeliverable["status"], undeliverable["final"]) == ("UNDELIVERABLE", True)
    assert (pending["status"], pending["final"]) == ("PENDING", False)
    assert delivered["mobivate_id"] == first.id
    assert pending["mobivate_id"] == third.id
    [entry] = [e for e in delivered["timeline"] if e["event"] == "receipt"]
    assert entry["details"]["source"] == "reconciliation"

    # Found once, each message now has its id: the next run asks by id, not by search.
    harness.fake.set_message_status(third, "DELIVERED")
    code, out, _ = await reconcile_cli(harness, "--older-than", "0s")
    assert code == 0
    assert "1 examined: 1 now final (1 by id, 0 by search)" in out
    assert len(searches(harness)) == 1
    assert (await harness.message(batch["messages"][2]["id"]))["status"] == "DELIVERED"


async def test_search_pages_are_bounded_per_run_and_the_next_run_goes_on(
    harness: Harness,
) -> None:
    batch = await send_batch(harness, 1500)
    for message in harness.fake.sent:
        harness.fake.set_message_status(message, "DELIVERED")
    code, out, _ = await reconcile_cli(harness, "--older-than", "0s", "--search-pages", "1")
    assert code == 0
    assert "1000 by search" in out
    assert "0 unknown to Mobivate" in out
    assert len(searches(harness)) == 1

    code, out, _ = await reconcile_cli(harness, "--older-than", "0s", "--search-pages", "5")
    assert code == 0
    assert "500 examined: 500 now final (0 by id, 500 by search)" in out
    assert [q["page"] for q in searches(harness)] == ["1", "1", "2"]
    counts = (await harness.client.get(f"/api/v1/batches/{batch['id']}")).json()["counts"]
    assert counts == {"DELIVERED": 1500}


async def test_the_search_covers_the_batch_window_only(harness: Harness) -> None:
    batch = await send_batch(harness, 2)
    sent_at = utcnow() - timedelta(hours=8)
    for reply in batch["messages"]:
        await harness.age(reply["id"], sent_at)
    for message in harness.fake.sent:
        message.created = sent_at + timedelta(seconds=5)
        harness.fake.set_message_status(message, "DELIVERED")
    # Another system's message with the same reference, long after the batch, is not read.
    harness.fake.sent.append(
        FakeMessage(
            id="F" * 32,
            direction="MT",
            originator="Other",
            recipient=number(0),
            body="x",
            reference=batch["messages"][0]["reference"],
            status="UNDELIVERABLE",
        )
    )
    code, out, _ = await reconcile_cli(harness, "--older-than", "6h")
    assert code == 0
    assert "2 by search" in out
    [query] = searches(harness)
    second = "%Y-%m-%dT%H:%M:%S+0000"
    assert query["startDate"] == (sent_at - timedelta(minutes=15)).strftime(second)
    assert query["endDate"] == (sent_at + timedelta(minutes=15, seconds=1)).strftime(second)
    statuses = {(await harness.message(m["id"]))["status"] for m in batch["messages"]}
    assert statuses == {"DELIVERED"}


async def test_a_batch_message_missing_from_the_log_is_reported_unknown(
    harness: Harness,
) -> None:
    await send_batch(harness, 2)
    lost = harness.fake.sent.pop()
    harness.fake.set_message_status(harness.fake.sent[0], "DELIVERED")
    code, out, _ = await reconcile_cli(harness, "--older-than", "0s")
    assert code == 0
    assert "1 now final (0 by id, 1 by search)" in out
    assert "1 unknown to Mobivate" in out
    assert "1 still in flight" in out
    assert lost.reference is not None


async def test_a_failing_search_is_reported_and_changes_nothing(harness: Harness) -> None:
    batch = await send_batch(harness, 2)
    harness.fake.fail_next(3, 500)
    code, out, err = await reconcile_cli(harness, "--older-than", "0s")
    assert code == 3, out
    assert "1 searches failed" in out
    assert "run again later" in err
    assert "0 unknown to Mobivate" in out
    assert {(await harness.message(m["id"]))["status"] for m in batch["messages"]} == {"submitted"}


async def test_search_can_be_skipped(harness: Harness) -> None:
    await send_batch(harness, 2)
    code, out, _ = await reconcile_cli(harness, "--older-than", "0s", "--search-pages", "0")
    assert code == 0
    assert "2 without a Mobivate id, 0 of them found by search in 0 pages" in out
    assert searches(harness) == []
