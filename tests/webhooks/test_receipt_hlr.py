"""The `hlr` object of a receipt, read into columns where it says something, and the receipts
list filtered on them. Mobivate does not document its structure: whatever does not read is left
out, never the receipt."""

from typing import Any

import httpx
import pytest

from tests.support.app import RunningApp
from tests.support.bodies import receipt
from tests.support.harness import Harness, send_message
from tests.support.webhooks import post_stored

LOOKUP_RESULT = {
    "to": "447700900123",
    "mccMnc": "23410",
    "originalNetwork": {"networkName": "MNO - BT", "countryName": "United Kingdom"},
    "ported": True,
    "portedNetwork": {"networkName": "MNO - O2", "countryName": "United Kingdom"},
    "status": {"groupId": 3, "groupName": "DELIVERED", "name": "DELIVERED_TO_HANDSET"},
    "error": {"groupId": 0, "groupName": "OK", "name": "NO_ERROR", "permanent": False},
}


async def receipts(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/receipts", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_hlr_object_is_read_into_columns_and_filtered_on(
    client: httpx.AsyncClient,
) -> None:
    await post_stored(client, "receipt", receipt("A" * 32, hlr=LOOKUP_RESULT))
    unreachable = {"originalNetwork": {"networkName": "MNO - Three"}, "ported": False,
                   "error": {"name": "EC_UNKNOWN_SUBSCRIBER", "permanent": True}}  # fmt: skip
    await post_stored(client, "receipt", receipt("B" * 32, hlr=unreachable))
    await post_stored(client, "receipt", receipt("C" * 32, hlr=None))

    [ported] = await receipts(client, hlr_ported="true")
    assert ported["mobivate_id"] == "A" * 32
    assert (ported["hlr_network"], ported["hlr_country"]) == ("MNO - O2", "United Kingdom")
    assert (ported["hlr_reachable"], ported["hlr_mcc_mnc"]) == (True, "23410")
    [dead] = await receipts(client, hlr_reachable="false")
    assert (dead["mobivate_id"], dead["hlr_network"], dead["hlr_ported"]) == (
        "B" * 32,
        "MNO - Three",
        False,
    )
    assert [r["mobivate_id"] for r in await receipts(client, hlr_network="MNO - O2")] == ["A" * 32]
    assert [r["mobivate_id"] for r in await receipts(client, hlr_country="United Kingdom")] == [
        "A" * 32
    ]
    [plain] = await receipts(client, mobivate_id="C" * 32)
    assert {k: v for k, v in plain.items() if k.startswith("hlr_")} == dict.fromkeys(
        ("hlr_reachable", "hlr_network", "hlr_country", "hlr_ported", "hlr_mcc_mnc")
    )
    csv = (await client.get("/api/v1/receipts", params={"format": "csv"})).text
    assert "hlr_network" in csv.splitlines()[0]
    assert "MNO - O2" in csv


@pytest.mark.parametrize(
    "hlr",
    [
        {"ported": "perhaps", "originalNetwork": 5, "status": [], "mccMnc": {"a": 1}},
        {"results": []},
        {"results": ["x"]},
        {"something": "else"},
        {"originalNetwork": {"networkName": ["not", "text"], "countryName": "Chad"}},
    ],
)
async def test_an_unreadable_hlr_object_costs_nothing_but_its_columns(
    running: RunningApp, hlr: dict[str, Any]
) -> None:
    await post_stored(running.client, "receipt", receipt("D" * 32, hlr=hlr))
    [item] = await receipts(running.client)
    assert item["hlr_network"] is None
    assert item["hlr_ported"] is None
    assert item["hlr_reachable"] is None


async def test_long_names_are_cut_and_a_results_list_is_read(client: httpx.AsyncClient) -> None:
    hlr = {"results": [{"originalNetwork": {"networkName": "N" * 400}, "mccMnc": "9" * 40}]}
    await post_stored(client, "receipt", receipt("E" * 32, hlr=hlr))
    [item] = await receipts(client)
    assert item["hlr_network"] == "N" * 255
    assert item["hlr_mcc_mnc"] == "9" * 16


@pytest.mark.parametrize("params", [{"hlr_ported": "sometimes"}, {"hlr_network": "x" * 256}])
async def test_bad_hlr_filters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("/api/v1/receipts", params=params)
    assert response.status_code == 422
    assert next(iter(params)) in response.text


async def test_receipts_from_the_fake_carry_the_hlr_of_marked_numbers(harness: Harness) -> None:
    harness.fake.set_hlr("447700900123", "live", ported=True)
    sent = await send_message(harness, "+447700900123", "hlr-1")
    await harness.fake.send_receipt(sent["mobivate_id"], "DELIVERED")
    [item] = await receipts(harness.client, hlr_ported="true")
    assert item["message_id"] == sent["id"]
    assert item["hlr_network"] == "MNO - Virgin Media O2 (Telefonica UK Ltd)"
    assert item["hlr_reachable"] is True
