"""What the subscription routes take and answer."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from app.subscriptions.events import EventType

SUBSCRIPTION_EXAMPLE: JsonDict = {
    "id": 3,
    "url": "https://crm.example.com/hooks/sms",
    "event_types": ["incoming", "optout.changed"],
    "batch_id": None,
    "originator": None,
    "description": "CRM: replies and opt-outs",
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "previous_secret_until": None,
    "created_at": "2026-11-30T09:00:00Z",
    "updated_at": "2026-11-30T09:00:00Z",
}
SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 (an example, not a secret)


def _examples(*examples: JsonDict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=5,
        description="receipt, incoming, click, message.status, optout.changed",
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("event_types", check_fields=False)
    @classmethod
    def _distinct(cls, value: list[EventType] | None) -> list[EventType] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("list each event type once")
        return value


class SubscriptionCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.com/hooks/sms",
                    "event_types": ["incoming", "optout.changed"],
                    "description": "CRM: replies and opt-outs",
                }
            ]
        },
    )

    url: str = Field(max_length=2048, description="https URL the events are POSTed to")
    event_types: EventTypes
    batch_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Only events of this batch"
    )
    originator: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Only events of messages from this sender id",
    )
    description: str | None = Field(default=None, max_length=500)


class SubscriptionChange(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": True}, {"event_types": ["receipt"]}]},
    )

    url: str | None = Field(default=None, max_length=2048)
    event_types: EventTypes | None = None
    batch_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    originator: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None,
        description="true enables a disabled subscription again (its pending deliveries resume)",
    )


class SubscriptionOut(BaseModel):
    model_config = _examples(SUBSCRIPTION_EXAMPLE)

    id: int
    url: str
    event_types: list[EventType]
    batch_id: int | None
    originator: str | None
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why the service disabled it")
    disabled_at: datetime | None
    previous_secret_until: datetime | None = Field(
        description="Until then deliveries are signed with the previous secret too"
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    model_config = _examples({**SUBSCRIPTION_EXAMPLE, "secret": SECRET_EXAMPLE})

    secret: str = Field(description="The signing secret (whsec_...): shown only now")


class SecretRotation(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_hours": 24}]}
    )

    overlap_hours: float = Field(
        default=24.0, ge=0, le=720, description="How long the old secret keeps signing too"
    )


class SecretOut(BaseModel):
    model_config = _examples(
        {"secret": SECRET_EXAMPLE, "previous_secret_until": "2026-12-03T09:00:00Z"}
    )

    secret: str
    previous_secret_until: datetime | None


class ReplayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"since": "2026-12-01T00:00:00Z"}]}
    )

    since: datetime = Field(description="Send again every delivery queued at or after this time")


class ReplayOut(BaseModel):
    model_config = _examples({"queued": 42})

    queued: int


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str = Field(description="The webhook-id header it is sent with")
    feed_id: int
    event_type: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime


class AttemptOut(BaseModel):
    id: int
    delivery_id: int
    attempted_at: datetime
    outcome: str = Field(description="delivered, retry or failed")
    status_code: int | None
    latency_ms: float
    response_excerpt: str | None = Field(description="The first 500 characters of the answer")
    error: str | None


class DeliveryPage(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 118,
                    "webhook_id": "msg_2f8c1e0b9a7d4c3e",
                    "feed_id": 5521,
                    "event_type": "incoming",
                    "state": "delivered",
                    "attempts": 1,
                    "next_attempt_at": None,
                    "delivered_at": "2026-12-02T09:20:01.120000Z",
                    "last_error": None,
                    "created_at": "2026-12-02T09:20:00.980000Z",
                }
            ]
        }
    )

    items: list[DeliveryOut]


class AttemptPage(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 301,
                    "delivery_id": 118,
                    "attempted_at": "2026-12-02T09:20:01.100000Z",
                    "outcome": "delivered",
                    "status_code": 204,
                    "latency_ms": 18.4,
                    "response_excerpt": "",
                    "error": None,
                }
            ]
        }
    )

    items: list[AttemptOut]
