"""Faults at the service's edges that involve sending: Mobivate refusing connections (sends
answer 503, opt-out pushes and registration complete once it returns), and sends refused while
the database is down. Each test is bounded in time and prints its figures."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.app import API_TOKEN, make_settings, start_app
from tests.support.bodies import incoming
from tests.support.fake import FAKE_API_KEY, fake_mobivate, fake_mobivate_server, optout_calls
from tests.support.figures import record
from tests.support.postgres import PgCluster
from tests.support.service import mobivate_env, service
from tests.support.waiting import eventually
from tests.support.webhooks import post_webhook

pytestmark = pytest.mark.fault

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def test_mobivate_refusing_connections_delays_pushes_and_registration_only(
    cluster: PgCluster, tmp_path: Path
) -> None:
    number = "447700900555"
    async with asyncio.timeout(120), fake_mobivate_server() as fake:
        await fake.stop()  # connections refused from the start
        env = mobivate_env(
            fake,
            cluster.url,
            REGISTER_WEBHOOKS="true",
            PUBLIC_BASE_URL="http://127.0.0.1:9",
            REGISTRATION_BACKOFF_INITIAL_SECONDS="0.2",
            REGISTRATION_BACKOFF_MAX_SECONDS="1",
        )
        async with service(tmp_path, env) as process, process.client(**AUTH) as client:
            send = {"to": "447700900123", "text": "hello", "originator": "Acme"}
            refused = [(await client.post("/api/v1/messages", json=send)) for _ in range(5)]
            stop = incoming(number, "STOP", created=datetime.now(UTC))
            stored = await post_webhook(client, "incoming", stop)
            assert stored.status_code == 200
            await asyncio.sleep(2)  # pushes and registrations fail meanwhile
            assert optout_calls(fake.fake) == []
            await fake.start()

            async def registered() -> bool:
                states = (await client.get("/api/v1/registrations")).json()["registrations"]
                return {item["state"] for item in states} == {"registered"}

            async def pushed() -> bool:
                return bool(optout_calls(fake.fake))

            await eventually(pushed, within=30, what="the opt-out push", interval=0.1)
            await eventually(registered, within=30, what="registration", interval=0.1)
            sent_after = await client.post("/api/v1/messages", json=send)
    record(
        "Mobivate refusing connections",
        sends_during_outage=len(refused),
        answered_503=sum(r.status_code == 503 for r in refused),
        optout_pushes_after_return=len(optout_calls(fake.fake)),
        send_after_return=sent_after.status_code,
    )
    assert [r.status_code for r in refused] == [503] * 5, refused[0].text
    assert optout_calls(fake.fake) == [("POST", number)]
    assert sent_after.status_code == 201, sent_after.text


async def test_sends_during_a_database_outage_are_refused_with_503(
    cluster: PgCluster, tmp_path: Path
) -> None:
    """Without the database the opt-out list cannot be checked, so nothing may be sent."""
    settings = make_settings(
        cluster.url, mobivate_api_key=FAKE_API_KEY, register_webhooks=False, spool_dir=tmp_path
    )
    message = {"to": "447700900123", "text": "hello", "originator": "Acme"}
    batch = {"originator": "Acme", "messages": [{"to": "447700900124", "text": "hi"}]}
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await cluster.stop()
        answers = [
            await running.client.post("/api/v1/messages", json=message),
            await running.client.post("/api/v1/batches", json=batch),
        ]
        await cluster.start()
    record(
        "sends during a database outage",
        tried=len(answers),
        answered_503=sum(a.status_code == 503 for a in answers),
        reached_mobivate=len([r for r in fake.requests if r.path.startswith("/send")]),
    )
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert "opt-outs cannot be checked" in answer.json()["detail"]
    assert fake.requests == []
