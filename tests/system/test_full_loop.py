"""The whole flow locally: the app registers its URLs with the fake Mobivate at startup, then the
fake posts a receipt, an incoming message and a click to those URLs and the app stores them."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.tables import Click, IncomingMessage, Receipt
from app.fake_mobivate import FakeMobivate
from app.mobivate.models import SingleMessage
from app.mobivate.vocabulary import normalise_id
from tests.support.app import RunningApp, start_app
from tests.support.asgi import ReverseProxy
from tests.support.fake import fake_mobivate
from tests.support.registration import (
    API_KEY,
    KINDS,
    expected_url,
    registration_settings,
    wait_until_done,
)
from tests.support.rows import all_rows


@pytest.fixture
async def proxy() -> ReverseProxy:
    return ReverseProxy()


@pytest.fixture
async def fake(proxy: ReverseProxy) -> AsyncIterator[FakeMobivate]:
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy)) as callbacks,
        fake_mobivate(
            api_key=API_KEY, callback_client=callbacks, auto_receipts=True, receipt_delay=0
        ) as fake,
    ):
        yield fake


@pytest.fixture
async def app_with_fake(
    database_url: str, fake: FakeMobivate, proxy: ReverseProxy
) -> AsyncIterator[RunningApp]:
    settings = registration_settings(database_url)
    async with start_app(settings, mobivate_transport=fake.transport()) as running:
        proxy.target = running.app
        await wait_until_done(running)
        yield running


async def test_fake_mobivate_delivers_to_the_registered_urls_and_the_app_stores_it(
    app_with_fake: RunningApp, fake: FakeMobivate, engine: AsyncEngine
) -> None:
    assert fake.webhooks == {kind: expected_url(kind) for kind in KINDS}
    mobivate = app_with_fake.runtime.mobivate
    assert mobivate is not None
    sent = await mobivate.send_single(
        SingleMessage(originator="Shop", recipient="447700900123", body="Hi, see example.com")
    )
    await fake.wait_for_callbacks()  # ACCEPTED then DELIVERED, posted to the receipt URL
    message = fake.find_message(sent.id)

    incoming = await fake.send_incoming("447700900123", "Thanks!", in_reply_to=message)
    click = await fake.send_click(message)
    assert incoming.status_code == 200, incoming.text
    assert click.status_code == 200, click.text
    assert incoming.json() == click.json() == {"status": "stored"}

    receipts = await all_rows(engine, Receipt)
    assert [(r.message_id_norm, r.status) for r in receipts] == [
        (normalise_id(sent.id), "ACCEPTED"),
        (normalise_id(sent.id), "DELIVERED"),
    ]
    [mo] = await all_rows(engine, IncomingMessage)
    assert (mo.msisdn, mo.body, mo.in_reply_to_norm) == ("+447700900123", "Thanks!", message.id)
    [clicked] = await all_rows(engine, Click)
    assert (clicked.message_id_norm, clicked.msisdn) == (message.id, "+447700900123")
