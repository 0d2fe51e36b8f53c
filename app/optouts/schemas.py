"""Bodies and query parameters of the opt-out API."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.filters import ListQuery
from app.core.text_rules import refuse_forbidden

PushState = Literal["pending", "delivered", "failed"]
ReviewState = Literal["pending", "opted_out", "dismissed"]
AUDIT_LIMIT = 1000


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OptoutStateOut(_Out):
    msisdn: str = Field(description="E.164; an unresolved sender as Mobivate wrote it")
    unresolved: bool = Field(
        description="True when the sender could not be resolved to E.164: kept and listed, but "
        "no send can match it (see DEFAULT_REGION)"
    )
    opted_out: bool
    changed_at: datetime = Field(description="When the change that set this state happened")
    source: str = Field(description="incoming_sms, api, operator, imported or mobivate")
    keyword: str | None
    reason: str | None
    updated_at: datetime


class HistoryEntryOut(_Out):
    id: int
    written_as: str | None = Field(
        description="The number as it was written, when that differs from its E.164"
    )
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
    unresolved: bool
    opted_out: bool
    state: OptoutStateOut | None = Field(description="None when the number only asked for help")
    history: list[HistoryEntryOut] = Field(description="Every recorded event, oldest first")
    pushes: list[PushOut] = Field(description="Changes pushed to Mobivate, oldest first")


class OptoutRequest(BaseModel):
    msisdn: str = Field(
        min_length=1,
        max_length=64,
        description="Any spelling of the number (see DEFAULT_REGION for national form)",
        examples=["+44 7700 900123"],
    )
    reason: str | None = Field(default=None, max_length=1000)
    source: Literal["api", "operator"] = Field(
        default="api", description="operator for a person acting by hand"
    )

    _text = field_validator("msisdn", "reason")(refuse_forbidden)


class OptoutQuery(ListQuery):
    """`since`/`until` bound when each number's state last changed."""

    cursor_key: ClassVar[type[int] | type[str]] = str

    unresolved: bool | None = Field(
        None, description="true: only senders that could not be resolved to E.164; false: none"
    )


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


class SendAfterOptoutOut(_Out):
    message_id: int
    msisdn: str = Field(description="E.164 of the person")
    batch_id: int | None
    sent_at: datetime = Field(description="When the message was stored, just before the send")
    status: str = Field(description="The message's current status")
    optout_event_id: int = Field(description="The opt-out in force at the time of the send")
    opted_out_at: datetime
    optout_source: str


class SendsAfterOptoutOut(BaseModel):
    since: datetime
    count: int = Field(description="Sends found (expected 0)")
    items: list[SendAfterOptoutOut] = Field(description=f"Oldest first, at most {AUDIT_LIMIT}")
