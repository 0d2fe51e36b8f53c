"""What the subscription routes take and answer."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.subscriptions.events import EventType

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
    secret: str = Field(description="The signing secret (whsec_...): shown only now")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: float = Field(
        default=24.0, ge=0, le=720, description="How long the old secret keeps signing too"
    )


class SecretOut(BaseModel):
    secret: str
    previous_secret_until: datetime | None


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime = Field(description="Send again every delivery queued at or after this time")


class ReplayOut(BaseModel):
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
    items: list[DeliveryOut]


class AttemptPage(BaseModel):
    items: list[AttemptOut]
