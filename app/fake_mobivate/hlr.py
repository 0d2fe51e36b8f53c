"""`GET /hlr?lookup=`: the fake's number verification, in the shape of Mobivate's example.

Every number is live on a network of its country unless a test says otherwise with
`FakeMobivate.set_hlr(number, state)`: `unreachable` (switched off: UNDELIVERABLE, temporary
error), `invalid` (no such subscriber: UNDELIVERABLE, permanent error), `pending` (no answer from
the network yet). The status and error objects outside Mobivate's one documented pair follow the
CPaaS model Mobivate's objects are copied from.
"""

import uuid
from dataclasses import dataclass
from typing import Any, Literal, get_args

HlrState = Literal["live", "unreachable", "invalid", "pending"]
HLR_STATES: tuple[str, ...] = get_args(HlrState)

_STATUS: dict[HlrState, dict[str, Any]] = {
    "live": {
        "groupId": 3,
        "groupName": "DELIVERED",
        "id": 5,
        "name": "DELIVERED_TO_HANDSET",
        "description": "Message delivered to handset",
    },
    "unreachable": {
        "groupId": 2,
        "groupName": "UNDELIVERABLE",
        "id": 9,
        "name": "UNDELIVERABLE_NOT_DELIVERED",
        "description": "Message sent not delivered",
    },
    "invalid": {
        "groupId": 2,
        "groupName": "UNDELIVERABLE",
        "id": 9,
        "name": "UNDELIVERABLE_NOT_DELIVERED",
        "description": "Message sent not delivered",
    },
    "pending": {
        "groupId": 1,
        "groupName": "PENDING",
        "id": 7,
        "name": "PENDING_ENROUTE",
        "description": "Message sent to next instance",
    },
}
_ERROR: dict[HlrState, dict[str, Any]] = {
    "live": {
        "groupId": 0,
        "groupName": "OK",
        "id": 0,
        "name": "NO_ERROR",
        "description": "No Error",
        "permanent": False,
    },
    "unreachable": {
        "groupId": 1,
        "groupName": "HANDSET_ERRORS",
        "id": 27,
        "name": "EC_ABSENT_SUBSCRIBER",
        "description": "Absent Subscriber",
        "permanent": False,
    },
    "invalid": {
        "groupId": 1,
        "groupName": "HANDSET_ERRORS",
        "id": 1,
        "name": "EC_UNKNOWN_SUBSCRIBER",
        "description": "Unknown Subscriber",
        "permanent": True,
    },
}
_ERROR["pending"] = _ERROR["live"]

_COUNTRIES = {"44": "United Kingdom", "61": "Australia", "64": "New Zealand", "1": "United States"}


@dataclass(frozen=True, slots=True)
class HlrEntry:
    state: HlrState = "live"
    ported: bool = False


def _country_prefix(number: str) -> str:
    for length in (3, 2, 1):
        if number[:length] in _COUNTRIES:
            return number[:length]
    return number[:2]


def _network(number: str, name: str, network_id: int) -> dict[str, Any]:
    prefix = _country_prefix(number)
    return {
        "networkName": name,
        "networkPrefix": number[len(prefix) : len(prefix) + 5],
        "countryName": _COUNTRIES.get(prefix, "Unknown"),
        "countryPrefix": prefix,
        "networkId": network_id,
    }


def hlr_result(number: str, entry: HlrEntry) -> dict[str, Any]:
    result: dict[str, Any] = {
        "to": number,
        "mccMnc": "23410",
        "imsi": "23410" + number[-10:],
        "originalNetwork": _network(number, "MNO - BT - Everything Everywhere Limited", 791),
        "ported": entry.ported,
    }
    if entry.ported:
        result["portedNetwork"] = _network(number, "MNO - Virgin Media O2 (Telefonica UK Ltd)", 785)
    result["status"] = _STATUS[entry.state]
    result["error"] = _ERROR[entry.state]
    return result


def hlr_answer(numbers: list[str], entries: dict[str, HlrEntry]) -> dict[str, Any]:
    return {
        "success": True,
        "batchID": str(uuid.uuid4()),
        "results": [hlr_result(number, entries.get(number, HlrEntry())) for number in numbers],
    }
