"""Bodies of `POST /api/v1/lookups` and `GET /api/v1/lookups/{number}`."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LookupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"numbers": ["+447700900123", "+44 7700 900124"]}]},
    )

    numbers: list[str] = Field(
        description="Any spelling of each number (resolved to E.164 as every number is, with "
        "DEFAULT_REGION for national forms); a number given twice is looked up once"
    )


_LOOKUP_EXAMPLE: dict[str, Any] = {
    "number": "+447700900123",
    "reachable": True,
    "network": "MNO - Virgin Media O2 (Telefonica UK Ltd)",
    "country": "United Kingdom",
    "ported": True,
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
    "looked_up_at": "2026-12-02T09:30:00Z",
    "cached": False,
}


class LookupItem(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_LOOKUP_EXAMPLE]})

    number: str = Field(description="E.164, e.g. +447700900123")
    reachable: bool | None = Field(
        description="true: live; false: unreachable or no such number; null: Mobivate could not "
        "tell (pending, expired, or no result for the number)"
    )
    network: str | None = Field(description="The network the number is on now (after porting)")
    country: str | None
    ported: bool | None
    status: dict[str, Any] | None = Field(description="Mobivate's status object, as it sent it")
    error: dict[str, Any] | None = Field(description="Mobivate's error object, as it sent it")
    looked_up_at: datetime | None = Field(description="When Mobivate answered; null: no answer")
    cached: bool = Field(description="Served from the cache (HLR_CACHE_HOURS), not asked again")


class LookupsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_LOOKUP_EXAMPLE]}]})

    items: list[LookupItem]
