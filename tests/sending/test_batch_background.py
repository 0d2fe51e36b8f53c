"""The background submission of batches: it survives a restart, replicas share it without
sending anything twice, a call whose outcome is unknown is never repeated, and the progress
shows in `GET /api/v1/batches/{id}` and on the live feed."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.config import Settings
from app.fake_mobivate import FakeMobivate
from tests.support.app import RunningApp, start_app
from tests.support.fake import fake_mobivate
from tests.support.harness import sending_settings
from tests.support.sse import open_stream
from tests.support.waiting import eventually


def number(i: int) -> str:
    return f"4477009{i:05d}"


MESSAGES = [{"to": "+" + number(i), "text": f"Offer {i}"} for i in range(10)]


class Gate(httpx.AsyncBaseTransport):
    """Batch calls reach the fake only as the test lets them, one `release()` a call; `hang`
    makes the calls after `answered` of them reach the fake and never get an answer (the process
    making them dies)."""

    def __init__(self, fake: FakeMobivate, *, hang_after: int | None = None) -> None:
        self._inner = fake.transport()
        self._open = asyncio.Semaphore(0)
        self._hang_after = hang_after
        self.calls = 0
        self.answered = 0

    def release(self, calls: int = 1) -> None:
        for _ in range(calls):
            self._open.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/send/batch":
            return await self._inner.handle_async_request(request)
        self.calls += 1
        await self._open.acquire()
        response = await self._inner.handle_async_request(request)
        if self._hang_after is not None and self.answered >= self._hang_after:
            await asyncio.Event().wait()
        self.answered += 1
        return response


class Slow(httpx.AsyncBaseTransport):
    """Every batch call takes a moment, so that another process can take the next chunk."""

    def __init__(self, fake: FakeMobivate) -> None:
        self._inner = fake.transport()
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/send/batch":
            self.calls += 1
            await asyncio.sleep(0.1)
        return await self._inner.handle_async_request(request)


@asynccontextmanager
async def replica(
    settings: Settings, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[RunningApp]:
    async with start_app(settings, mobivate_transport=transport) as running:
        yield running


async def queue(running: RunningApp, messages: list[dict[str, Any]]) -> int:
    response = await running.client.post("/api/v1/batches", json={"messages": messages})
    assert response.status_code == 202, response.text
    batch_id: int = response.json()["id"]
    return batch_id


async def batch(running: RunningApp, batch_id: int) -> dict[str, Any]:
    response = await running.client.get(f"/api/v1/batches/{batch_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(running: RunningApp, batch_id: int) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        body = await batch(running, batch_id)
        return {} if body["state"] in ("queued", "submitting") else body

    return await eventually(check, what="the batch settling", within=60)


def sends(fake: FakeMobivate) -> Counter[str]:
    return Counter(message.recipient for message in fake.sent)


async def test_a_batch_stopped_midway_is_finished_by_the_next_process_sending_nothing_twice(
    database_url: str,
) -> None:
    settings = sending_settings(database_url, batch_chunk_size=2)
    async with fake_mobivate() as fake:
        gate = Gate(fake)
        async with replica(settings, gate) as first:
            batch_id = await queue(first, MESSAGES)
            gate.release(2)
            await eventually(lambda: _submitted(first, batch_id, 4), what="two calls recorded")
            await eventually(lambda: _calling(gate, 3), what="the third call")
            # The process stops while its third call is under way: it finishes that call.
            submitter = first.runtime.batches
            assert submitter is not None
            stopping = asyncio.create_task(submitter.stop())
            await asyncio.sleep(0.2)
            gate.release(1)
            await stopping
            midway = await batch(first, batch_id)
        assert midway["state"] == "submitting"
        assert midway["progress"]["submitted"] == 6
        assert sum(sends(fake).values()) == 6

        async with replica(settings, fake.transport()) as second:
            body = await settled(second, batch_id)

    assert body["state"] == "submitted"
    assert body["progress"] == {"checked": 10, "total": 10, "submitted": 10, "not_submitted": 0}
    assert sends(fake) == Counter(number(i) for i in range(10))
    assert body["counts"] == {"submitted": 10}


async def _submitted(running: RunningApp, batch_id: int, count: int) -> bool:
    return bool((await batch(running, batch_id))["progress"]["submitted"] >= count)


async def test_a_call_whose_process_died_is_not_repeated_and_its_messages_are_unknown(
    database_url: str,
) -> None:
    settings = sending_settings(
        database_url, batch_chunk_size=2, batch_lease_seconds=0.5, mobivate_timeout_seconds=0.2
    )
    async with fake_mobivate() as fake:
        gate = Gate(fake, hang_after=1)
        async with replica(settings, gate) as first:
            batch_id = await queue(first, MESSAGES)
            gate.release(2)
            await eventually(lambda: _reached(fake, 4), what="the second call reaching Mobivate")
        # The first process stopped during its second call, which Mobivate had received.
        async with replica(settings, fake.transport()) as second:
            body = await settled(second, batch_id)
            unknown = await second.client.get(
                "/api/v1/messages", params={"batch_id": batch_id, "status": "submit_unknown"}
            )

    assert sends(fake) == Counter(number(i) for i in range(10))
    assert body["state"] == "partially_submitted"
    assert body["counts"] == {"submit_unknown": 2, "submitted": 8}
    assert body["progress"] == {"checked": 10, "total": 10, "submitted": 8, "not_submitted": 2}
    assert "may or may not have been made" in body["error"]["message"]
    assert unknown.status_code == 200, unknown.text
    assert sorted(m["to"] for m in unknown.json()["items"]) == ["+" + number(2), "+" + number(3)]
    assert all(not m["final"] for m in unknown.json()["items"])


async def test_an_outcome_arriving_after_its_lease_ran_out_settles_the_batch_again(
    database_url: str,
) -> None:
    settings = sending_settings(database_url, batch_chunk_size=2, batch_lease_seconds=0.5)
    async with fake_mobivate() as fake:
        gate = Gate(fake)
        async with replica(settings, gate) as running:
            batch_id = await queue(running, MESSAGES[:2])
            await eventually(lambda: _calling(gate, 1), what="the call")
            # The call is held past its lease: another process counts the chunk as unknown and
            # settles the batch.
            async with replica(settings, fake.transport()) as other:
                given_up = await settled(other, batch_id)
            gate.release(1)

            async def answered() -> dict[str, Any]:
                body = await batch(running, batch_id)
                return body if body["state"] == "submitted" else {}

            body = await eventually(answered, what="the late answer settling the batch again")

    assert given_up["state"] == "failed"
    assert "may or may not have been made" in given_up["error"]["message"]
    assert body["progress"] == {"checked": 2, "total": 2, "submitted": 2, "not_submitted": 0}
    assert body["error"] is None
    assert len(body["mobivate_batch_ids"]) == 1
    assert sends(fake) == Counter(number(i) for i in range(2))


async def _reached(fake: FakeMobivate, count: int) -> bool:
    return len(fake.sent) >= count


async def test_two_replicas_share_a_batch_and_send_every_recipient_once(
    database_url: str,
) -> None:
    settings = sending_settings(database_url, batch_chunk_size=2)
    messages = [{"to": "+" + number(i), "text": f"Offer {i}"} for i in range(40)]
    async with fake_mobivate() as fake:
        one, two = Slow(fake), Slow(fake)
        async with replica(settings, one) as first, replica(settings, two) as second:
            batch_id = await queue(first, messages)
            body = await settled(second, batch_id)

    assert body["state"] == "submitted"
    assert sends(fake) == Counter(number(i) for i in range(40))
    assert one.calls + two.calls == 20
    assert one.calls > 0
    assert two.calls > 0


async def test_progress_moves_in_the_batch_and_on_the_live_feed(database_url: str) -> None:
    settings = sending_settings(database_url, batch_chunk_size=4)
    async with fake_mobivate() as fake:
        gate = Gate(fake)
        async with (
            replica(settings, gate) as running,
            open_stream(running.app, params={"kind": "batch"}) as stream,
        ):
            batch_id = await queue(running, MESSAGES)
            await eventually(lambda: _calling(gate, 1), what="the first call")
            before = await batch(running, batch_id)
            gate.release(1)
            await eventually(lambda: _submitted(running, batch_id, 4), what="one call")
            between = await batch(running, batch_id)
            gate.release(2)
            body = await settled(running, batch_id)
            events = await stream.events(4, within=10)

    assert before["state"] == "submitting"
    assert before["progress"]["submitted"] == 0
    assert between["progress"]["submitted"] == 4
    assert body["progress"] == {"checked": 10, "total": 10, "submitted": 10, "not_submitted": 0}
    assert {event.event for event in events} == {"batch"}
    assert all(event.data["data"]["batch_id"] == batch_id for event in events)
    submitted = [event.data["data"]["submitted"] for event in events]
    assert submitted == sorted(submitted)
    assert submitted[-1] == 10
    assert events[-1].data["data"]["state"] == "submitted"
    assert events[-1].data["data"]["total"] == 10


async def _calling(gate: Gate, count: int) -> bool:
    return gate.calls >= count
