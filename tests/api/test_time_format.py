"""One time format wherever the service answers: ISO 8601 in UTC ending in `Z`, in JSON bodies
(sent messages and their timelines included), CSV exports and the live feed."""

import re

from tests.support.bodies import at
from tests.support.harness import Harness, send_message
from tests.support.sse import open_stream
from tests.support.webhooks import post_receipt

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?([^\d\",\r\n]*)")


def offsets(text: str) -> set[str]:
    """What follows each time in `text`: `Z` only, if the format holds."""
    return set(_TIME.findall(text))


async def test_json_csv_and_the_feed_write_times_with_z(harness: Harness) -> None:
    async with open_stream(harness.running.app, params={"last_event_id": 0}) as stream:
        sent = await send_message(harness, "+447700900123", "t-1")
        await post_receipt(harness.client, sent["mobivate_id"], "DELIVERED", 1, at(1))
        events = await stream.events(3)
    client = harness.client
    bodies = [
        (await client.get(f"/api/v1/messages/{sent['id']}")).text,
        (await client.get("/api/v1/messages")).text,
        (await client.get("/api/v1/messages", params={"format": "csv"})).text,
        (await client.get("/api/v1/receipts", params={"format": "csv"})).text,
        (await client.get("/api/v1/stats/funnel", params={"window": "24h"})).text,
        stream.body,
    ]
    assert events
    for body in bodies:
        assert offsets(body) == {"Z"}, body[:500]
