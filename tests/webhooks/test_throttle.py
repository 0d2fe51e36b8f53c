"""Guessing the webhook secret is throttled per real client address, without touching Mobivate:
once an address is throttled, even the right secret gets 429 until the budget grows back, and
forwarded addresses that are not IP addresses are not believed."""

import io

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import WebhookRequest
from app.webhooks.throttle import FailureLimiter
from tests.support.app import WEBHOOK_SECRET, client_from, make_settings, start_app
from tests.support.bodies import receipt
from tests.support.rows import count_rows
from tests.support.waiting import eventually

RECEIPT = receipt("9A85B95E")


async def test_wrong_secrets_are_throttled_per_address_but_never_the_right_secret(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = make_settings(database_url, webhook_auth_failures_per_minute=3)
    async with start_app(settings) as running:
        mobivate = running.client
        async with client_from(running.app, "198.51.100.1") as attacker:
            wrong = [
                (await attacker.post(f"/webhooks/guess-{n}/receipt", json=RECEIPT)).status_code
                for n in range(6)
            ]
            assert wrong == [404, 404, 404, 429, 429, 429]
            refused = await attacker.post("/webhooks/guess/receipt", json=RECEIPT)
            assert int(refused.headers["retry-after"]) >= 1
            assert "retry later" in refused.json()["detail"]
            # A throttled guesser cannot tell a right guess from a wrong one.
            right = await attacker.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
            assert right.status_code == 429
        for n in range(10):
            ok = await mobivate.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=receipt(f"M{n}"))
            assert ok.json() == {"status": "stored"}
        assert (await mobivate.post("/webhooks/typo/receipt", json=RECEIPT)).status_code == 404
        metrics = (await mobivate.get("/metrics")).text
        assert 'outcome="throttled"' in metrics
    assert await count_requests(engine) == 10


async def test_addresses_behind_a_trusted_proxy_are_throttled_one_by_one(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url, webhook_auth_failures_per_minute=2, forwarded_allow_ips="10.0.0.5"
    )
    async with start_app(settings) as running, client_from(running.app, "10.0.0.5") as proxy:

        async def guess(address: str) -> int:
            response = await proxy.post(
                "/webhooks/guess/receipt", json=RECEIPT, headers={"X-Forwarded-For": address}
            )
            return response.status_code

        assert [await guess("198.51.100.1") for _ in range(3)] == [404, 404, 429]
        assert [await guess("198.51.100.2") for _ in range(3)] == [404, 404, 429]
        mobivate = await proxy.post(
            f"/webhooks/{WEBHOOK_SECRET}/receipt",
            json=RECEIPT,
            headers={"X-Forwarded-For": "198.51.100.3"},
        )
        assert mobivate.status_code == 200


async def test_a_throttled_address_gets_through_again_once_its_budget_grew_back(
    database_url: str, engine: AsyncEngine
) -> None:
    settings = make_settings(database_url, webhook_auth_failures_per_minute=120)
    async with start_app(settings) as running, client_from(running.app, "198.51.100.9") as peer:
        answers = [
            (await peer.post(f"/webhooks/guess-{n}/receipt", json=RECEIPT)).status_code
            for n in range(121)
        ]
        assert answers == [404] * 120 + [429]
        throttled = await peer.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
        assert throttled.status_code == 429
        assert await count_requests(engine) == 0

        async def let_through() -> bool:
            answer = await peer.post(f"/webhooks/{WEBHOOK_SECRET}/receipt", json=RECEIPT)
            return answer.status_code == 200

        await eventually(let_through, within=5, what="the right secret accepted", interval=0.25)
    assert await count_requests(engine) == 1


async def test_forwarded_addresses_that_are_not_ip_addresses_are_ignored(
    database_url: str, engine: AsyncEngine, app_logs: io.StringIO
) -> None:
    """A local client (trusted as a proxy by default) inventing a new X-Forwarded-For value on
    every guess is still counted as itself, and writes nothing of its own into the logs."""
    settings = make_settings(database_url, webhook_auth_failures_per_minute=3)
    async with start_app(settings) as running, client_from(running.app, "127.0.0.1") as local:
        forged = [f"evil-{n}\n2026-01-01 INFO forged line" for n in range(5)]
        answers = [
            (
                await local.post(
                    "/webhooks/guess/receipt", json=RECEIPT, headers={"X-Forwarded-For": value}
                )
            ).status_code
            for value in forged
        ]
        assert answers == [404, 404, 404, 429, 429]
        stored = await local.post(
            f"/webhooks/{WEBHOOK_SECRET}/receipt",
            json=receipt("X1"),
            headers={"X-Forwarded-For": "not-an-address"},
        )
        assert stored.status_code == 429
        async with client_from(running.app, "10.1.1.1") as other:
            kept = await other.post(
                f"/webhooks/{WEBHOOK_SECRET}/receipt",
                json=receipt("X2"),
                headers={"X-Forwarded-For": "also not an address"},
            )
        assert kept.status_code == 200
    async with engine.connect() as conn:
        assert (await conn.scalars(select(WebhookRequest.client_addr))).all() == ["10.1.1.1"]
    logs = app_logs.getvalue()
    assert "127.0.0.1" in logs
    assert "evil-" not in logs
    assert "forged" not in logs


async def count_requests(engine: AsyncEngine) -> int:
    return await count_rows(engine, WebhookRequest)


def test_failure_budget_refills_over_the_minute_and_the_table_stays_bounded() -> None:
    now = [1000.0]
    limiter = FailureLimiter(6, max_addresses=2, clock=lambda: now[0])
    assert [limiter.fail("a") for _ in range(7)] == [True] * 6 + [False]
    assert limiter.retry_after("a") == 10
    now[0] += 10  # one failure's worth (60 s / 6)
    assert limiter.fail("a") is True
    assert limiter.fail("a") is False
    limiter.fail("b")
    limiter.fail("c")  # "a" is forgotten: the least recently seen of three
    assert [limiter.fail("a") for _ in range(6)] == [True] * 6


def test_zero_failures_per_minute_turns_throttling_off() -> None:
    limiter = FailureLimiter(0)
    assert all(limiter.fail("a") for _ in range(1000))
