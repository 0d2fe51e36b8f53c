"""Idempotency-Key: a repeated request returns the first response and sends nothing again."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.core.db import utcnow
from app.core.tables import Batch, IdempotencyKey, OutboundMessage
from app.fake_mobivate import FakeMobivate
from app.sending.batch import BATCH_ENDPOINT, send_batch
from app.sending.batch_checks import check_batch, raw_items
from app.sending.idempotency import Attempt, Idempotency, Reply
from app.sending.schemas import SendBatchRequest
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.rows import count_rows

SINGLE = {"to": "+447700900123", "text": "Hello"}
BATCH = {"messages": [{"to": "447700900001", "text": "a"}, {"to": "447700900002", "text": "b"}]}


async def post(harness: Harness, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return await harness.client.post(path, json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize(
    ("path", "body", "mobivate_path", "status"),
    [
        ("/api/v1/messages", SINGLE, "/send/single", 201),
        ("/api/v1/batches", BATCH, "/send/batch", 202),
    ],
)
async def test_retry_with_the_same_key_returns_the_first_response_and_sends_once(
    harness: Harness, path: str, body: dict[str, Any], mobivate_path: str, status: int
) -> None:
    first = await post(harness, path, body, "key-1")
    assert first.status_code == status, first.text
    assert "idempotent-replayed" not in first.headers
    if status == 202:
        await harness.settled_batch(first.json()["id"])
    second = await post(harness, path, body, "key-1")
    assert second.status_code == status
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    if status == 202:
        await harness.settled_batch(first.json()["id"])
    assert len(harness.calls(mobivate_path)) == 1


async def test_same_key_with_another_body_is_422(harness: Harness) -> None:
    assert (await post(harness, "/api/v1/messages", SINGLE, "key-2")).status_code == 201
    other = await post(harness, "/api/v1/messages", {**SINGLE, "text": "Bye"}, "key-2")
    assert other.status_code == 422
    assert "different request body" in other.json()["detail"]
    assert len(harness.calls("/send/single")) == 1


async def test_keys_are_separate_per_endpoint(harness: Harness) -> None:
    assert (await post(harness, "/api/v1/messages", SINGLE, "shared")).status_code == 201
    batch = await post(harness, "/api/v1/batches", BATCH, "shared")
    assert batch.status_code == 202, batch.text
    await harness.settled_batch(batch.json()["id"])


async def test_concurrent_duplicates_send_once(harness: Harness) -> None:
    responses = await asyncio.gather(
        *(post(harness, "/api/v1/messages", SINGLE, "key-3") for _ in range(2))
    )
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert len(harness.calls("/send/single")) == 1
    assert await count_rows(harness.engine, OutboundMessage) == 1


class SlowMobivate(httpx.AsyncBaseTransport):
    """Holds every send until released, so a second request arrives while the first is out."""

    def __init__(self, fake: FakeMobivate) -> None:
        self._inner = fake.transport()
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        await self.release.wait()
        return await self._inner.handle_async_request(request)


async def test_duplicate_while_the_first_is_in_flight_gets_409_after_waiting(
    database_url: str,
) -> None:
    slow: list[SlowMobivate] = []

    def wrap(fake: FakeMobivate) -> httpx.AsyncBaseTransport:
        slow.append(SlowMobivate(fake))
        return slow[0]

    settings = sending_settings(database_url, idempotency_wait_seconds=0.05)
    async with start_harness(settings, wrap=wrap) as harness:
        first = asyncio.create_task(post(harness, "/api/v1/messages", SINGLE, "key-4"))
        await slow[0].arrived.wait()
        second = await post(harness, "/api/v1/messages", SINGLE, "key-4")
        assert second.status_code == 409
        assert "still in progress" in second.json()["detail"]
        slow[0].release.set()
        assert (await first).status_code == 201
        third = await post(harness, "/api/v1/messages", SINGLE, "key-4")
        assert third.json() == (await first).json()
        assert len(harness.calls("/send/single")) == 1


async def test_errors_after_the_claim_are_replayed_too(harness: Harness) -> None:
    harness.fake.down = True
    first = await post(harness, "/api/v1/messages", SINGLE, "key-5")
    assert first.status_code == 503
    harness.fake.down = False
    second = await post(harness, "/api/v1/messages", SINGLE, "key-5")
    assert second.status_code == 503
    assert second.json() == first.json()
    assert harness.calls("/send/single") == []


async def test_invalid_request_does_not_use_up_the_key(harness: Harness) -> None:
    bad = await post(harness, "/api/v1/messages", {**SINGLE, "to": "123"}, "key-6")
    assert bad.status_code == 422
    good = await post(harness, "/api/v1/messages", SINGLE, "key-6")
    assert good.status_code == 201


async def test_key_expires_after_the_ttl(harness: Harness) -> None:
    first = await post(harness, "/api/v1/messages", SINGLE, "key-7")
    async with harness.engine.begin() as conn:
        await conn.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, minutes=1))
        )
    second = await post(harness, "/api/v1/messages", SINGLE, "key-7")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert len(harness.calls("/send/single")) == 2


@pytest.mark.parametrize("key", [b"", b"x" * 256, "naïve".encode()])
async def test_unusable_keys_are_refused(harness: Harness, key: bytes) -> None:
    response = await harness.client.post(
        "/api/v1/messages", json=SINGLE, headers={b"Idempotency-Key": key}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Idempotency-Key")


class BrokenConnection(httpx.AsyncBaseTransport):
    """Fails in a way the Mobivate client does not expect, after the send left the service."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("connection broke in an unexpected way")


async def test_key_of_a_request_that_broke_after_calling_mobivate_is_not_reused(
    database_url: str,
) -> None:
    async with start_harness(
        sending_settings(database_url), wrap=lambda fake: BrokenConnection()
    ) as harness:
        with pytest.raises(RuntimeError):
            await post(harness, "/api/v1/messages", SINGLE, "key-8")
        again = await post(harness, "/api/v1/messages", SINGLE, "key-8")
        assert again.status_code == 500
        assert "may have sent the message" in again.json()["detail"]
        assert await count_rows(harness.engine, OutboundMessage) == 1


async def test_a_queued_batch_cancelled_after_its_commit_keeps_its_key(harness: Harness) -> None:
    settings = harness.running.runtime.settings
    request = SendBatchRequest.model_validate({"messages": [{"to": "+447700900123", "text": "Hi"}]})
    prepared = check_batch(request, settings)
    idempotency = Idempotency(harness.engine, ttl_hours=24, wait_seconds=1, poll_seconds=0.05)
    body = request.model_dump(mode="json")

    async def queued_then_cancelled(attempt: Attempt) -> Reply:
        await send_batch(harness.engine, prepared, raw_items(request), attempt)
        raise asyncio.CancelledError  # as Ctrl-C lands once the batch has committed

    with pytest.raises(asyncio.CancelledError):
        await idempotency.run_once("key-9", BATCH_ENDPOINT, body, queued_then_cancelled)

    async def must_not_run(attempt: Attempt) -> Reply:
        raise AssertionError("the batch was queued a second time")

    again = await idempotency.run_once("key-9", BATCH_ENDPOINT, body, must_not_run)
    assert again.replayed
    assert again.status == 202
    assert await count_rows(harness.engine, Batch) == 1


async def test_a_batch_that_failed_before_its_commit_gives_its_key_up(harness: Harness) -> None:
    idempotency = Idempotency(harness.engine, ttl_hours=24, wait_seconds=1, poll_seconds=0.05)

    async def cancelled(attempt: Attempt) -> Reply:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await idempotency.run_once("key-10", BATCH_ENDPOINT, {"n": 1}, cancelled)
    assert await count_rows(harness.engine, IdempotencyKey) == 0
