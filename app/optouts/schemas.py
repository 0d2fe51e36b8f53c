"""Bodies and query parameters of the opt-out API."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.filters import ListQuery

PushState = Literal["pending", "delivered", "failed"]
ReviewState = Literal["pending", "opted_out", "dismissed"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OptoutStateOut(_Out):
    msisdn: str
    opted_out: bool
    changed_at: datetime = Field(description="When the change that set this state happened")
    source: str = Field(description="incoming_sms, api, operator, imported or mobivate")
    keyword: str | None
    reason: str | None
    updated_at: datetime


class HistoryEntryOut(_Out):
    id: int
    action: str = Field(description="opt_out, opt_in or help")
    source: str
    keyword: str | None
    reason: str | None
    incoming_message_id: int | None
    event_at: datetime
    recorded_at: datetime


class PushOut(_Out):
    id: int
    operation: str = Field(
        description="optout_add or optout_delete (Mobivate's opt-out list), contacts_create or "
        "contacts_delete (its contacts proxy, with OPTOUT_CONTACTS_PROXY)"
    )
    msisdn: str
    event_id: int | None
    state: str = Field(description="pending, delivered or failed (refused by Mobivate)")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    mobivate_status: int | None
    mobivate_message: str | None
    created_at: datetime
    delivered_at: datetime | None


class OptoutDetailOut(_Out):
    msisdn: str
    opted_out: bool
    state: OptoutStateOut | None = Field(description="None when the number only asked for help")
    history: list[HistoryEntryOut] = Field(description="Every recorded event, oldest first")
    pushes: list[PushOut] = Field(description="Changes pushed to Mobivate, oldest first")


class OptoutRequest(BaseModel):
    msisdn: str = Field(min_length=1, max_length=64, examples=["447700900123"])
    reason: str | None = Field(default=None, max_length=1000)
    source: Literal["api", "operator"] = Field(
        default="api", description="operator for a person acting by hand"
    )


class OptoutQuery(ListQuery):
    """`since`/`until` bound when each number's state last changed."""

    cursor_key: ClassVar[type[int] | type[str]] = str


class PushQuery(ListQuery):
    """`since`/`until` bound when each push was made."""

    state: PushState | None = Field(None, description="Only pushes in this state")


class ReviewOut(_Out):
    id: int
    msisdn: str
    body: str = Field(description="The reply as it was received")
    keyword: str = Field(description="The opt-out keyword the reply holds")
    occurred_at: datetime = Field(description="When the reply was sent")
    state: str = Field(description="pending, opted_out or dismissed")
    reason: str | None = Field(description="The reason given with the decision")
    incoming_message_id: int | None
    created_at: datetime = Field(description="When the reply was queued")
    decided_at: datetime | None


class ReviewQuery(ListQuery):
    """`since`/`until` bound when each reply was queued."""

    state: ReviewState | Literal["all"] = Field(
        "pending", description="Only replies in this state (default pending; `all` for every one)"
    )


class ReviewDecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["opt_out", "dismiss"] = Field(
        description="opt_out: the reply was an opt-out, record it and push it to Mobivate; "
        "dismiss: it was not"
    )
    reason: str | None = Field(default=None, max_length=1000)


class ReviewDecisionOut(BaseModel):
    review: ReviewOut
    opted_out: bool = Field(description="Whether the number is opted out now, after the decision")
