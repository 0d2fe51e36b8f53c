"""Items of the REST API lists that have no detailed counterpart elsewhere."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BatchItem(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "name": "November sale",
                    "state": "submitted",
                    "route_id": "mglobal",
                    "schedule_at": None,
                    "requested": 5000,
                    "mobivate_batch_ids": ["9A85B9110A000A9D2FBD4671D691C328"],
                    "error": None,
                    "created_at": "2026-11-22T08:00:00Z",
                }
            ]
        }
    )

    id: int
    name: str | None
    state: str = Field(description="submitting, submitted, partially_submitted or failed")
    route_id: str
    schedule_at: datetime | None
    requested: int = Field(description="Recipients asked for")
    mobivate_batch_ids: list[str] = Field(description="Mobivate's ids of its chunks")
    error: dict[str, Any] | None
    created_at: datetime
