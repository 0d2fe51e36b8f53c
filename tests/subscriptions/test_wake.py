"""Stored webhooks wake the deliveries worker only while a subscription is enabled: without one
the trigger writes no delivery, so the worker waits for its poll instead of looking after every
ingest transaction; with one, a delivery goes out without waiting for the (here hour-long) poll."""

import asyncio

from tests.support.app import RunningApp, make_settings, start_app
from tests.support.bodies import incoming
from tests.support.receiver import receiving
from tests.support.waiting import eventually
from tests.support.webhooks import post_stored

AN_HOUR = 3600.0


async def first_run_done(running: RunningApp) -> bool:
    return running.runtime.subscriptions.runs >= 1


async def test_webhooks_stored_without_a_subscription_do_not_wake_the_worker(
    database_url: str,
) -> None:
    settings = make_settings(database_url, subscription_poll_interval_seconds=AN_HOUR)
    async with start_app(settings) as running:
        await eventually(lambda: first_run_done(running), what="the worker's first look")
        worker = running.runtime.subscriptions
        assert not worker.subscribed
        for n in range(3):
            await post_stored(running.client, "incoming", incoming(f"4477009004{n:02d}", "Hi"))
        await asyncio.sleep(0.05)  # a wake would have started a run by now
        assert worker.runs == 1


async def test_with_an_enabled_subscription_a_stored_webhook_is_delivered_before_the_poll(
    database_url: str,
) -> None:
    settings = make_settings(
        database_url,
        subscription_poll_interval_seconds=AN_HOUR,
        subscription_allow_private=True,
    )
    async with receiving() as receiver:
        async with start_app(settings) as running:
            created = await running.client.post(
                "/api/v1/subscriptions", json={"url": receiver.url, "event_types": ["incoming"]}
            )
            assert created.status_code == 201, created.text
        # A process started now finds the subscription on its first look.
        async with start_app(settings) as running:
            await eventually(lambda: first_run_done(running), what="the worker's first look")
            assert running.runtime.subscriptions.subscribed
            await post_stored(running.client, "incoming", incoming("447700900410", "Hi"))

            async def delivered() -> bool:
                return len(receiver.received) == 1

            await eventually(delivered, what="the delivery")
