"""Bodies and query parameters of the opt-out API."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.filters import ListQuery
from app.core.text_rules import refuse_forbidden

PushState = Literal["pending", "delivered", "failed"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class OptoutStateOut(_Out):
    msisdn: str
    opted_out: bool
    changed_at: datetime = Field(description="When the change that set this state happened")
    source: str = Field(description="incoming_sms, api, operator or imported")
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
    operation: str = Field(description="optout_add or optout_delete")
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

    _text = field_validator("msisdn", "reason")(refuse_forbidden)


class OptoutQuery(ListQuery):
    """`since`/`until` bound when each number's state last changed."""

    cursor_key: ClassVar[type[int] | type[str]] = str


class PushQuery(ListQuery):
    """`since`/`until` bound when each push was made."""

    state: PushState | None = Field(None, description="Only pushes in this state")
