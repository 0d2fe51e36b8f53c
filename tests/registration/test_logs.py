"""The Mobivate API key never reaches the service's own log output, whatever the outcome."""

import io
import logging
from collections.abc import Iterator

import pytest

from app.core.logs import configure_logging
from app.fake_mobivate import FakeMobivate
from tests.conftest import start_app
from tests.registration_helpers import API_KEY, all_in, eventually, registration_settings


@pytest.fixture
def app_logs() -> Iterator[io.StringIO]:
    """What the service's own log handler (JSON, DEBUG) writes, every logger included."""
    root = logging.getLogger()
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    configure_logging("DEBUG", "json")
    written = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    yield written
    logging.setLogRecordFactory(factory)
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_api_key_never_reaches_the_logs(database_url: str, app_logs: io.StringIO) -> None:
    accepted = FakeMobivate(api_key=API_KEY)
    refused = FakeMobivate(api_key="another-key-entirely")
    for fake, state in ((accepted, "registered"), (refused, "unauthorized")):
        settings = registration_settings(database_url, registration_fresh_seconds=0)
        async for running in start_app(settings, mobivate_transport=fake.transport()):
            await eventually(all_in(state, running.client))
            # Even a careless log line of our own would not show it.
            logging.getLogger("app.test").warning("Mobivate key in use: %s", API_KEY)
    logs = app_logs.getvalue()
    assert "registered the receipt webhook with Mobivate" in logs
    assert "Mobivate refused the API key (HTTP 401: Unauthorized)" in logs
    assert "Mobivate key in use: ***" in logs
    assert API_KEY not in logs
