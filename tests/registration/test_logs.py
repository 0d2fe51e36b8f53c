"""The Mobivate API key never reaches the service's own log output, whatever the outcome."""

import io
import logging

from tests.support.app import start_app
from tests.support.fake import fake_mobivate
from tests.support.registration import API_KEY, all_in, registration_settings
from tests.support.waiting import eventually


async def test_api_key_never_reaches_the_logs(database_url: str, app_logs: io.StringIO) -> None:
    for key, state in ((API_KEY, "registered"), ("another-key-entirely", "unauthorized")):
        settings = registration_settings(database_url, registration_fresh_seconds=0)
        async with (
            fake_mobivate(api_key=key) as fake,
            start_app(settings, mobivate_transport=fake.transport()) as running,
        ):
            await eventually(all_in(state, running.client), within=5, what=f"{state} registrations")
            # Even a careless log line of our own would not show it.
            logging.getLogger("app.test").warning("Mobivate key in use: %s", API_KEY)
    logs = app_logs.getvalue()
    assert "registered the receipt webhook with Mobivate" in logs
    assert "Mobivate refused the API key (HTTP 401: Unauthorized)" in logs
    assert "Mobivate key in use: ***" in logs
    assert API_KEY not in logs
