"""The outbox: pushes reach Mobivate through outages and restarts, once, in order per number."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import utcnow
from app.core.tables import OutboxMessage
from tests.support.app import start_app
from tests.support.bodies import incoming
from tests.support.fake import fake_mobivate, optout_calls
from tests.support.optouts import all_settled, optout_settings, pushes
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900123"


async def test_push_is_retried_until_mobivate_is_back(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        fake.down = True
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))

        async def failed_twice() -> bool:
            return [p.attempts >= 2 for p in await pushes(engine)] == [True]

        await eventually(failed_twice, what="two failed attempts")
        [waiting] = await pushes(engine)
        fake.down = False
        await eventually(lambda: all_settled(engine), what="delivery")
        [push] = await pushes(engine)
    assert waiting.state == "pending"
    assert "unreachable" in waiting.last_error
    assert push.state == "delivered"
    assert push.attempts > waiting.attempts
    assert push.last_error is None
    assert optout_calls(fake) == [("POST", NUMBER)]


async def test_pending_push_is_delivered_after_a_restart(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with fake_mobivate() as fake:
        fake.down = True
        async with start_app(settings, mobivate_transport=fake.transport()) as first:
            await post_accepted(first.client, "incoming", incoming(NUMBER, "STOP"))

            async def attempted() -> bool:
                return [p.attempts >= 1 for p in await pushes(engine)] == [True]

            await eventually(attempted, what="a failed attempt")
        [stranded] = await pushes(engine)
        fake.down = False
        async with start_app(settings, mobivate_transport=fake.transport()):
            await eventually(lambda: all_settled(engine), what="delivery after the restart")
        [push] = await pushes(engine)
    assert stranded.state == "pending"
    assert push.state == "delivered"
    assert NUMBER in fake.optouts


async def test_refused_push_stops_retrying_and_is_visible(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        fake.fail_next(1, 400)
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
        await eventually(lambda: all_settled(engine), what="the refusal")
        detail = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()
        failed = (await running.client.get("/api/v1/optout-pushes?state=failed")).json()
        # A later change for the same number is not held back by the failed push.
        later = datetime.now(UTC) + timedelta(seconds=1)
        await post_accepted(running.client, "incoming", incoming(NUMBER, "START", created=later))

        async def both_settled() -> bool:
            rows = await pushes(engine)
            return len(rows) == 2 and all(row.state != "pending" for row in rows)

        await eventually(both_settled, what="the next push")
        rows = await pushes(engine)
    [push] = detail["pushes"]
    assert push["state"] == "failed"
    assert push["attempts"] == 1
    assert push["mobivate_status"] == 400
    assert push["mobivate_message"] == "Bad Request"
    assert "HTTP 400" in push["last_error"]
    assert [item["id"] for item in failed["items"]] == [push["id"]]
    assert detail["opted_out"] is True
    assert [row.state for row in rows] == ["failed", "delivered"]


async def test_stop_then_start_reach_mobivate_in_that_order(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        fake.down = True
        sent = datetime.now(UTC).replace(microsecond=0)
        for second, word in enumerate(("STOP", "START", "STOP")):
            created = sent + timedelta(seconds=second)
            await post_accepted(running.client, "incoming", incoming(NUMBER, word, created=created))

        async def retried() -> bool:
            return bool((await pushes(engine))[0].attempts >= 3)

        await eventually(retried, what="retries of the first push")
        # While the first push backs off, the later ones for the number have not been tried.
        assert [p.attempts for p in (await pushes(engine))[1:]] == [0, 0]
        fake.down = False
        await eventually(lambda: all_settled(engine), what="all pushes")
    assert optout_calls(fake) == [("POST", NUMBER), ("DELETE", NUMBER), ("POST", NUMBER)]
    assert NUMBER in fake.optouts


async def test_two_workers_never_send_one_push_twice(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    numbers = [f"4477009{index:05d}" for index in range(60)]
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as first,
        start_app(settings, mobivate_transport=fake.transport()) as second,
    ):
        fake.down = True
        for index, number in enumerate(numbers):
            app = first if index % 2 else second
            response = await app.client.post("/api/v1/optouts", json={"msisdn": number})
            assert response.status_code == 201
        fake.down = False
        first.runtime.outbox.wake()
        second.runtime.outbox.wake()
        await eventually(lambda: all_settled(engine), within=15, what="all pushes")
    sent = Counter(mobile for method, mobile in optout_calls(fake) if method == "POST")
    assert sent == Counter(numbers)
    assert all(row.state == "delivered" for row in await pushes(engine))


async def test_api_key_refusal_keeps_the_push_for_a_fixed_key(
    database_url: str, engine: AsyncEngine
) -> None:
    wrong = optout_settings(database_url, mobivate_api_key="not-the-key")
    async with fake_mobivate() as fake:
        async with start_app(wrong, mobivate_transport=fake.transport()) as running:
            await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))

            async def refused() -> bool:
                return [p.mobivate_status for p in await pushes(engine)] == [401]

            await eventually(refused, what="the key refusal")
        [waiting] = await pushes(engine)
        async with start_app(optout_settings(database_url), mobivate_transport=fake.transport()):
            # The refusal waits the longest backoff (50 ms in these settings).
            await eventually(lambda: all_settled(engine), what="delivery with the right key")
        [push] = await pushes(engine)
    assert waiting.state == "pending"
    assert waiting.mobivate_message == "Unauthorized"
    assert push.state == "delivered"


async def test_a_push_whose_worker_died_is_retried_after_its_lease(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url)
    async with fake_mobivate() as fake:
        fake.down = True
        async with start_app(settings, mobivate_transport=fake.transport()) as running:
            await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
        # As if a worker had claimed it and died: nobody may touch it until the lease ends.
        async with engine.begin() as conn:
            await conn.execute(
                update(OutboxMessage).values(claimed_until=utcnow() + timedelta(seconds=0.5))
            )
        fake.down = False
        async with start_app(settings, mobivate_transport=fake.transport()) as running:
            await running.client.get("/healthz")
            assert [p.state for p in await pushes(engine)] == ["pending"]
            assert optout_calls(fake) == []
            await eventually(lambda: all_settled(engine), what="delivery after the lease")
    assert optout_calls(fake) == [("POST", NUMBER)]


async def test_without_an_api_key_changes_are_recorded_and_pushes_wait(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = optout_settings(database_url, mobivate_api_key=None)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
        body = (await running.client.get(f"/api/v1/optouts/{NUMBER}")).json()
    assert body["opted_out"] is True
    assert [(p["state"], p["attempts"]) for p in body["pushes"]] == [("pending", 0)]
    assert fake.requests == []
