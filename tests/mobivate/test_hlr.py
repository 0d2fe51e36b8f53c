"""Number verification: the client's `GET /hlr` call, reading Mobivate's answer, and the fake's
side of it."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from app.fake_mobivate import FakeMobivate
from app.fake_mobivate.hlr import HlrState
from app.mobivate.client import MobivateClient
from app.mobivate.errors import MobivateRefused, MobivateUnavailable
from app.mobivate.hlr import HlrLookup, is_reachable, match_results
from tests.support.fake import fake_mobivate

BASE_URL = "https://api.mobivatebulksms.com"
API_KEY = "hlr-test-key"

# Mobivate's documented example (API reference §9.3), verbatim values.
DOCUMENTED = {
    "success": True,
    "batchID": "0c040d34-e2a-460a-97dd-66ffc235a7",
    "results": [
        {
            "to": "4400000000000",
            "mccMnc": "23410",
            "imsi": "234100000000000",
            "originalNetwork": {
                "networkName": "MNO - BT - Everything Everywhere Limited",
                "networkPrefix": "79324",
                "countryName": "United Kingdom",
                "countryPrefix": "44",
                "networkId": 791,
            },
            "ported": True,
            "portedNetwork": {
                "networkName": "MNO - Virgin Media O2 (Telefonica UK Ltd)",
                "networkPrefix": "76020",
                "countryName": "United Kingdom",
                "countryPrefix": "44",
                "networkId": 785,
            },
            "status": {
                "groupId": 3,
                "groupName": "DELIVERED",
                "id": 5,
                "name": "DELIVERED_TO_HANDSET",
                "description": "Message delivered to handset",
            },
            "error": {
                "groupId": 0,
                "groupName": "OK",
                "id": 0,
                "name": "NO_ERROR",
                "description": "No Error",
                "permanent": False,
            },
        }
    ],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeMobivate]:
    async with fake_mobivate(api_key=API_KEY) as fake:
        yield fake


def client_over(transport: httpx.AsyncBaseTransport) -> tuple[httpx.AsyncClient, MobivateClient]:
    http = httpx.AsyncClient(transport=transport)
    return http, MobivateClient(
        http, base_url=BASE_URL, api_key=SecretStr(API_KEY), retry_wait_seconds=0
    )


def test_the_documented_example_reads_as_a_reachable_ported_number() -> None:
    lookup = HlrLookup.model_validate(DOCUMENTED)
    assert lookup.batch_id == "0c040d34-e2a-460a-97dd-66ffc235a7"
    [result] = lookup.results
    assert is_reachable(result) is True
    assert result.ported is True
    assert result.network is not None
    assert result.network.network_name == "MNO - Virgin Media O2 (Telefonica UK Ltd)"
    assert result.network.country_name == "United Kingdom"


@pytest.mark.parametrize(
    ("status", "error", "reachable"),
    [
        ({"groupName": "DELIVERED"}, {"permanent": False}, True),
        ({"groupName": "delivered"}, None, True),
        ({"groupName": "DELIVERED"}, {"permanent": True}, False),
        ({"groupName": "UNDELIVERABLE"}, {"permanent": False}, False),
        ({"groupName": "REJECTED"}, None, False),
        ({"groupName": "PENDING"}, {"permanent": False}, None),
        ({"groupName": "EXPIRED"}, None, None),
        ({"groupName": "SOMETHING_NEW"}, None, None),
        (None, None, None),
        (None, {"permanent": True}, False),
    ],
    ids=lambda value: json.dumps(value),
)
def test_reachable_reads_status_group_and_permanent_errors(
    status: dict[str, object] | None, error: dict[str, object] | None, reachable: bool | None
) -> None:
    lookup = HlrLookup.model_validate(
        {"results": [{"to": "447700900001", "status": status, "error": error}]}
    )
    assert is_reachable(lookup.results[0]) is reachable


def test_results_match_by_number_and_by_position_when_masked() -> None:
    by_number = HlrLookup.model_validate(
        {"results": [{"to": "447700900002", "ported": True}, {"to": "+447700900001"}]}
    )
    matched = match_results(["447700900001", "447700900002"], by_number)
    assert matched["447700900002"].ported is True
    assert matched["447700900001"].to == "+447700900001"

    masked = HlrLookup.model_validate({"results": [{"to": "4477*******"}, {"to": "4477*******"}]})
    assert list(match_results(["447700900001", "447700900002"], masked)) == [
        "447700900001",
        "447700900002",
    ]
    one_short = HlrLookup.model_validate({"results": [{"to": "4477*******"}]})
    assert match_results(["447700900001", "447700900002"], one_short) == {}


@pytest.mark.parametrize(
    ("state", "reachable"),
    [("live", True), ("unreachable", False), ("invalid", False), ("pending", None)],
)
async def test_client_looks_numbers_up_at_the_fake(
    fake: FakeMobivate, state: HlrState, reachable: bool | None
) -> None:
    fake.set_hlr("447700900002", state, ported=True)
    http, client = client_over(fake.transport())
    async with http:
        lookup = await client.hlr_lookup(["447700900001", "447700900002"])
    [request] = fake.requests
    assert (request.method, request.path) == ("GET", "/hlr")
    assert request.query == {"lookup": "447700900001,447700900002"}
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    first, second = lookup.results
    assert (first.to, is_reachable(first), first.ported) == ("447700900001", True, False)
    assert (second.to, is_reachable(second), second.ported) == ("447700900002", reachable, True)
    assert second.error is not None
    assert second.error.permanent is (state == "invalid")
    assert fake.hlr_lookups == [["447700900001", "447700900002"]]


@pytest.mark.parametrize("query", ["", "?lookup=", "?lookup=447700900001,abc", "?lookup=0123"])
async def test_fake_refuses_a_missing_or_bad_lookup(fake: FakeMobivate, query: str) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as http:
        response = await http.get(f"/hlr{query}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 400
    assert response.json()["code"] == 400
    assert fake.hlr_lookups == []


@pytest.mark.parametrize(
    "numbers", [[], ["+447700900001"], ["4477 00900001"], ["\uff14\uff14\uff17\uff17"]]
)
async def test_client_refuses_numbers_that_are_not_digits(
    fake: FakeMobivate, numbers: list[str]
) -> None:
    http, client = client_over(fake.transport())
    async with http:
        with pytest.raises(ValueError, match=r"at least one number|digits only"):
            await client.hlr_lookup(numbers)
    assert fake.requests == []


async def test_a_failed_lookup_is_not_retried(fake: FakeMobivate) -> None:
    fake.fail_next(1, 503)
    http, client = client_over(fake.transport())
    async with http:
        with pytest.raises(MobivateUnavailable):
            await client.hlr_lookup(["447700900001"])
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", b'{"results": "none"}', b'{"results": [{"status": 5}]}'],
)
async def test_an_unreadable_answer_is_unavailable_not_a_crash(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    http, client = client_over(transport)
    async with http:
        with pytest.raises(MobivateUnavailable) as caught:
            await client.hlr_lookup(["447700900001"])
    assert caught.value.reason == "bad_response"


async def test_a_refused_lookup_says_what_mobivate_said() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(400, json={"code": 400, "message": "Invalid lookup"})
    )
    http, client = client_over(transport)
    async with http:
        with pytest.raises(MobivateRefused, match="Invalid lookup"):
            await client.hlr_lookup(["447700900001"])


async def test_a_person_marks_numbers_through_the_control_endpoint(fake: FakeMobivate) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as http:
        marked = await http.post(
            "/_fake/hlr", json={"number": "+447700900001", "state": "invalid", "ported": True}
        )
        assert marked.status_code == 200, marked.text
        refused = await http.post("/_fake/hlr", json={"number": "447700900001", "state": "gone"})
        assert refused.status_code == 400
        assert "live, unreachable, invalid, pending" in refused.json()["message"]
        answer = await http.get(
            "/hlr?lookup=447700900001", headers={"Authorization": f"Bearer {API_KEY}"}
        )
    [result] = answer.json()["results"]
    assert result["error"]["name"] == "EC_UNKNOWN_SUBSCRIBER"
    assert result["portedNetwork"]["networkId"] == 785
