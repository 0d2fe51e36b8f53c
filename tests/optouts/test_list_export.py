"""The opt-out list's time window and CSV export, shared with the other lists."""

import csv
import io

from tests.support.bodies import at
from tests.support.harness import Harness
from tests.support.webhooks import post_incoming


async def test_window_and_csv(harness: Harness) -> None:
    client = harness.client
    for minute, number in enumerate(("447700900001", "447700900002", "447700900003")):
        await post_incoming(client, f"IN-{minute}", number, "STOP", at(minute))
    window = {"since": at(1).isoformat(), "until": at(2).isoformat()}
    page = (await client.get("/api/v1/optouts", params=window)).json()
    assert [item["msisdn"] for item in page["items"]] == ["+447700900002"]
    since = (await client.get("/api/v1/optouts", params={"since": at(1).isoformat()})).json()
    assert [item["msisdn"] for item in since["items"]] == ["+447700900003", "+447700900002"]

    exported = await client.get(
        "/api/v1/optouts", params={"limit": 1}, headers={"Accept": "text/csv"}
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["msisdn"] for row in rows] == ["+447700900003", "+447700900002", "+447700900001"]
    assert rows[0]["opted_out"] == "true"
    assert rows[0]["source"] == "incoming_sms"
    naive = await client.get("/api/v1/optouts", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
