"""One identity per person: a STOP from any common spelling of a number refuses every send, single
and batch, to every other spelling of it, for libphonenumber's example mobile numbers of 30
countries; nothing reaches Mobivate's send endpoints."""

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.optouts.registry import raw_key
from tests.support.bodies import incoming
from tests.support.databases import empty_all_tables
from tests.support.harness import Harness, sending_settings, start_harness
from tests.support.metrics import metric_value
from tests.support.phones import REGIONS, e164_of, spellings
from tests.support.webhooks import post_stored

SEND_PATHS = ("/send/single", "/send/batch")
# The harness fixture lives across examples: each example empties the tables it used.
EXAMPLES = settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def sends(harness: Harness) -> int:
    return sum(len(harness.calls(path)) for path in SEND_PATHS)


async def assert_stop_refuses_every_spelling(
    harness: Harness, region: str, stop: str, targets: dict[str, str]
) -> None:
    before = sends(harness)
    await post_stored(harness.client, "incoming", incoming(stop, "STOP"))
    for name, to in targets.items():
        single = await harness.send(to=to)
        assert single.status_code in (409, 422), (region, stop, name, to, single.text)
    messages: list[dict[str, Any]] = [{"to": to, "text": "Offer"} for to in targets.values()]
    batch = await harness.send_batch(messages, exclude_duplicates=False)
    assert batch["state"] == "failed", (region, stop, batch)
    skipped = batch["skipped"]
    assert len(skipped) == len(targets)
    assert {entry["reason"] for entry in skipped} <= {"opted_out", "invalid"}
    assert sends(harness) == before, (region, stop)
    listed = await harness.client.get(f"/api/v1/optouts/{e164_of(region)}")
    assert listed.json()["opted_out"] is True, (region, stop, listed.text)


stop_spellings = st.fixed_dictionaries(
    {region: st.sampled_from(sorted(spellings(region, national=False))) for region in REGIONS}
)


@EXAMPLES
@given(stop_names=stop_spellings)
async def test_a_stop_from_any_international_spelling_refuses_sends_to_every_other(
    harness: Harness, database_url: str, stop_names: dict[str, str]
) -> None:
    for region, name in stop_names.items():
        written = spellings(region, national=False)
        await assert_stop_refuses_every_spelling(harness, region, written[name], written)
    await empty_all_tables(database_url)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(region=st.sampled_from(REGIONS), data=st.data())
# National form that also reads as a valid number elsewhere (+20 Egypt, +1 Chicago).
@example(region="US", data=None).via("ambiguous national form")
@example(region="CN", data=None).via("ambiguous national form")
async def test_with_a_default_region_a_stop_in_national_form_refuses_every_other_spelling(
    database_url: str, region: str, data: st.DataObject | None
) -> None:
    written = spellings(region, national=True)
    stop = "national" if data is None else data.draw(st.sampled_from(sorted(written)))
    settings = sending_settings(database_url, default_region=region)
    try:
        async with start_harness(settings) as harness:
            await assert_stop_refuses_every_spelling(harness, region, written[stop], written)
    finally:
        await empty_all_tables(database_url)


async def test_a_send_to_the_trunk_digit_spelling_reaches_mobivate_as_international_digits(
    harness: Harness,
) -> None:
    response = await harness.send(to="+44 (0)7700 900123")
    assert response.status_code == 201, response.text
    assert response.json()["to"] == "+447700900123"
    [call] = harness.calls("/send/single")
    assert call.json["recipient"] == "447700900123"
    await harness.send_batch([{"to": "tel:+44-7700-900124", "text": "Hi"}])
    [batch_call] = harness.calls("/send/batch")
    assert batch_call.json["recipients"][0]["recipient"] == "447700900124"


async def test_an_unresolvable_recipient_is_422_saying_why_and_a_batch_skips_it(
    harness: Harness,
) -> None:
    single = await harness.send(to="07700 900123")
    assert single.status_code == 422
    assert "national form" in single.json()["detail"]
    assert "DEFAULT_REGION" in single.json()["detail"]
    batch = await harness.send_batch(
        [
            {"to": "+44 7700 900123", "text": "Hi"},
            {"to": "+44 12345", "text": "Hi"},
            {"to": "tel:+44-7700-900123;ext=1", "text": "Hi"},
        ]
    )
    skipped = batch["skipped"]
    assert [(entry["index"], entry["reason"]) for entry in skipped] == [
        (1, "invalid"),
        (2, "invalid"),
    ]
    assert "local dialling" in skipped[0]["detail"]
    assert "RFC 3966 parameters" in skipped[1]["detail"]


async def test_a_stop_from_an_unresolvable_sender_is_kept_flagged_listed_and_counted(
    harness: Harness,
) -> None:
    client = harness.client
    await post_stored(client, "incoming", incoming("07700 900123", "STOP"))
    await post_stored(client, "incoming", incoming("Acme", "STOP"))
    # Hostile senders: as long as the column allows, and with a NUL (which the parser drops).
    await post_stored(client, "incoming", incoming("0" * 64, "STOP"))
    await post_stored(client, "incoming", incoming("Ac\x00me", "STOP"))
    listed = (await client.get("/api/v1/optouts", params={"unresolved": "true"})).json()
    assert sorted((item["msisdn"], item["unresolved"]) for item in listed["items"]) == [
        ("0" * 64, True),
        ("07700 900123", True),
        ("Acme", True),
    ]
    detail = (await client.get("/api/v1/optouts/07700 900123")).json()
    assert (detail["unresolved"], detail["opted_out"]) == (True, True)
    assert detail["history"][0]["keyword"] == "STOP"
    assert detail["pushes"] == []  # Mobivate would not take it
    metrics = (await client.get("/metrics")).text
    assert metric_value(metrics, "optouts_unresolved") == 3
    assert metric_value(metrics, "optouts_opted_out") == 3
    # No send can match an unresolved sender: the number itself is refused.
    assert (await harness.send(to="07700 900123")).status_code == 422
    assert (await client.get("/api/v1/optouts/07700 900124")).status_code == 422


async def test_an_ambiguous_sender_stop_opts_out_both_readings_but_a_start_opts_in_neither(
    database_url: str,
) -> None:
    async with start_harness(sending_settings(database_url, default_region="US")) as harness:
        client = harness.client
        await post_stored(client, "incoming", incoming("(201) 555-0123", "STOP"))
        for number in ("+12015550123", "+2015550123"):
            state = (await client.get(f"/api/v1/optouts/{number}")).json()
            assert state["opted_out"] is True, state
            assert state["history"][0]["written_as"] == "(201) 555-0123"
        await post_stored(client, "incoming", incoming("(201) 555-0123", "START"))
        for number in ("+12015550123", "+2015550123"):
            assert (await client.get(f"/api/v1/optouts/{number}")).json()["opted_out"] is True
        raw = (await client.get("/api/v1/optouts/(201) 555-0123")).json()
        assert (raw["msisdn"], raw["unresolved"], raw["history"][0]["action"]) == (
            "(201) 555-0123",
            True,
            "opt_in",
        )
        # The operator names one person: the ambiguous spelling is refused, saying why.
        refused = await client.post("/api/v1/optouts", json={"msisdn": "(201) 555-0123"})
        assert refused.status_code == 422
        assert "ambiguous" in refused.json()["detail"]


async def test_an_operator_opt_out_in_any_spelling_is_one_entry_that_remembers_the_spelling(
    harness: Harness,
) -> None:
    client = harness.client
    first = await client.post("/api/v1/optouts", json={"msisdn": "+44 (0)7700 900123"})
    again = await client.post("/api/v1/optouts", json={"msisdn": "0044-7700-900-123"})
    assert first.status_code == again.status_code == 201
    assert first.json()["msisdn"] == again.json()["msisdn"] == "+447700900123"
    history = again.json()["history"]
    assert [entry["written_as"] for entry in history] == ["+44 (0)7700 900123", "0044-7700-900-123"]
    assert (await client.get("/api/v1/optouts/447700900123")).json()["opted_out"] is True


def test_an_unresolved_sender_is_kept_as_written_without_control_characters() -> None:
    assert raw_key("  Ac\x00me\n ") == "Ac\ufffdme"
    assert raw_key("7" * 100) == "7" * 64
