"""Every path a webhook takes to the database runs the same after-store steps: a STOP replayed by
`reprocess` or drained from the outage spool opts the number out and is pushed to Mobivate,
exactly as a live one, also when it shares a JSON array with a malformed item; an opt-out
imported from Mobivate's list protects the number as well."""

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.optouts import sync_optouts
from app.cli.webhooks import reprocess
from app.config import Settings
from app.core.phone import resolve_msisdn
from app.core.tables import Optout, WebhookRequest
from app.fake_mobivate import FakeMobivate
from app.mobivate.vocabulary import WebhookKind
from app.webhooks.ingest import RawWebhook
from app.webhooks.spool import open_own_spool
from tests.support.app import start_app
from tests.support.bodies import incoming
from tests.support.fake import fake_mobivate, optout_calls
from tests.support.harness import sending_settings
from tests.support.optouts import all_settled, optout_settings
from tests.support.waiting import eventually
from tests.support.webhooks import post_accepted

NUMBER = "447700900461"
MALFORMED = {"originator": "447700900999", "body": "STOP", "created": {"not": "a time"}}


def stop_among_malformed_items() -> list[object]:
    """A JSON array in which the STOP's neighbours cannot be parsed."""
    return ["not an event", incoming(NUMBER, "STOP"), MALFORMED, None]


async def rejected_kept(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(WebhookRequest).where(WebhookRequest.outcome == "unparsed")
        )
        return list(rows.all())


async def opted_out(engine: AsyncEngine, msisdn: str) -> bool:
    async with engine.connect() as conn:
        state = await conn.scalar(
            select(Optout.opted_out).where(Optout.msisdn == resolve_msisdn(msisdn))
        )
    return bool(state)


def stop_request(body: bytes) -> RawWebhook:
    return RawWebhook(
        kind=WebhookKind.INCOMING,
        received_at=datetime.now(UTC),
        body=body,
        content_type="application/json",
        client_addr="203.0.113.7",
        body_size=len(body),
    )


async def test_a_live_stop_opts_out_and_is_pushed(database_url: str, engine: AsyncEngine) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        await post_accepted(running.client, "incoming", incoming(NUMBER, "STOP"))
        await eventually(lambda: all_settled(engine), what="the push was delivered")
    assert await opted_out(engine, NUMBER)
    assert optout_calls(fake) == [("POST", NUMBER)]


async def test_a_stop_replayed_by_reprocess_opts_out_and_is_pushed(
    database_url: str, engine: AsyncEngine
) -> None:
    """The body was kept as unparsed (an older parser refused it); `reprocess` stores it now."""
    body = orjson.dumps(incoming(NUMBER, "STOP"))
    async with engine.begin() as conn:
        await conn.execute(
            insert(WebhookRequest).values(
                id=uuid.uuid4(),
                kind="incoming",
                received_at=datetime.now(UTC),
                content_type="application/json",
                client_addr="203.0.113.7",
                body=body,
                body_size=len(body),
                truncated=False,
                outcome="unparsed",
                error="refused by an older parser",
                event_count=0,
            )
        )
    settings = optout_settings(database_url)
    out, err = io.StringIO(), io.StringIO()
    async with fake_mobivate() as fake:
        code = await reprocess(settings, transport=fake.transport(), out=out, err=err)
    assert code == 0, err.getvalue()
    assert "1 events stored" in out.getvalue()
    assert await opted_out(engine, NUMBER)
    assert await all_settled(engine)
    assert optout_calls(fake) == [("POST", NUMBER)]


async def test_a_stop_drained_from_the_outage_spool_opts_out_and_is_pushed(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A STOP acknowledged from the spool before a restart is drained when the service starts."""
    spool = await open_own_spool(tmp_path, max_bytes=1 << 20)
    await spool.put(stop_request(orjson.dumps(incoming(NUMBER, "STOP"))))
    await spool.close()

    settings: Settings = optout_settings(database_url, spool_dir=tmp_path)
    fake: FakeMobivate
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        await eventually(lambda: opted_out(engine, NUMBER), what="the STOP was applied")
        await eventually(lambda: all_settled(engine), what="the push was delivered")
        ready = (await running.client.get("/readyz")).json()
    assert ready["spool"]["entries"] == 0
    assert optout_calls(fake) == [("POST", NUMBER)]


async def test_a_stop_beside_malformed_items_in_an_array_opts_out_and_is_pushed(
    database_url: str, engine: AsyncEngine
) -> None:
    async with (
        fake_mobivate() as fake,
        start_app(optout_settings(database_url), mobivate_transport=fake.transport()) as running,
    ):
        response = await post_accepted(running.client, "incoming", stop_among_malformed_items())
        await eventually(lambda: all_settled(engine), what="the push was delivered")
    assert [item["index"] for item in response.json()["rejected"]] == [0, 2, 3]
    assert await opted_out(engine, NUMBER)
    assert not await opted_out(engine, "447700900999")
    assert optout_calls(fake) == [("POST", NUMBER)]
    [kept] = await rejected_kept(engine)
    assert orjson.loads(kept.body) == ["not an event", MALFORMED, None]


async def test_a_stop_beside_malformed_items_drained_from_the_spool_opts_out_and_is_pushed(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = await open_own_spool(tmp_path, max_bytes=1 << 20)
    await spool.put(stop_request(orjson.dumps(stop_among_malformed_items())))
    await spool.close()

    settings = optout_settings(database_url, spool_dir=tmp_path)
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()),
    ):
        await eventually(lambda: opted_out(engine, NUMBER), what="the STOP was applied")
        await eventually(lambda: all_settled(engine), what="the push was delivered")
    assert optout_calls(fake) == [("POST", NUMBER)]
    [kept] = await rejected_kept(engine)
    assert "item 2: 'created' must be a timestamp string or epoch number" in kept.error


async def test_reprocess_stores_the_stop_of_an_array_and_keeps_its_malformed_items(
    database_url: str, engine: AsyncEngine
) -> None:
    """A whole array refused by an older parser: `reprocess` now stores its STOP, keeps the bad
    items apart, and a second run changes nothing."""
    body = orjson.dumps(stop_among_malformed_items())
    original = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(WebhookRequest).values(
                id=original,
                kind="incoming",
                received_at=datetime.now(UTC),
                content_type="application/json",
                client_addr="203.0.113.7",
                body=body,
                body_size=len(body),
                truncated=False,
                outcome="unparsed",
                error="refused by an older parser",
                event_count=0,
            )
        )
    settings = optout_settings(database_url)
    async with fake_mobivate() as fake:
        for _ in range(2):
            out, err = io.StringIO(), io.StringIO()
            code = await reprocess(settings, transport=fake.transport(), out=out, err=err)
            assert code == 0, err.getvalue()
    assert await opted_out(engine, NUMBER)
    assert optout_calls(fake) == [("POST", NUMBER)]
    [kept] = await rejected_kept(engine)
    assert kept.error.startswith(f"3 item(s) of request {original}: item 0: ")
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(WebhookRequest.outcome).where(WebhookRequest.id == original)
        )
    assert stored == "stored"


async def test_an_opt_out_imported_from_mobivate_refuses_the_next_send(
    database_url: str, engine: AsyncEngine
) -> None:
    async with fake_mobivate() as fake:
        fake.add_optout(NUMBER, note="MO", created=datetime.now(UTC) - timedelta(minutes=5))
        settings = sending_settings(database_url)
        out, err = io.StringIO(), io.StringIO()
        code = await sync_optouts(
            settings,
            since=datetime.now(UTC).date() - timedelta(days=1),
            transport=fake.transport(),
            out=out,
            err=err,
        )
        assert code == 0, err.getvalue()
        async with start_app(settings, mobivate_transport=fake.transport()) as running:
            response = await running.client.post(
                "/api/v1/messages", json={"to": f"+{NUMBER}", "text": "Hello"}
            )
    assert response.status_code == 409, response.text
    assert await opted_out(engine, NUMBER)
    assert not [r for r in fake.requests if r.path == "/send/single"]
