"""Query parameters shared by the REST API lists and the live feed.

Each list takes one Pydantic model of query parameters, so every filter is validated and
documented in one place and a wrong one gets a 422 whose `loc` names it (unknown parameters are
refused too, so a misspelt filter never silently returns everything). Phone numbers are compared
in E.164 (`app.core.phone.resolve_msisdn`, international spellings: a filter has no
DEFAULT_REGION), Mobivate ids in normalised form (dashes removed, upper case), so
`447700900123`, `+44 7700 900123` and `+44 (0)7700 900123` all find the same rows.
"""

import re
from typing import ClassVar, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, TimeCursor
from app.core.phone import resolve_msisdn
from app.core.text_rules import refuse_forbidden
from app.core.times import StorableAwareDatetime
from app.mobivate.vocabulary import normalise_id

StatusGroup = Literal["delivered", "failed", "pending"]
# Ids are 64-bit and status codes 32-bit in the database: larger values cannot match anything.
MAX_ID = 2**63 - 1
MAX_CODE = 2**31 - 1
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


class ListQuery(BaseModel):
    """Paging, the time window and the output format, common to every list."""

    model_config = ConfigDict(extra="forbid")
    # The type of the key after the time in this list's order (and cursor).
    cursor_key: ClassVar[type[int] | type[str]] = int

    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page (1 to {MAX_LIMIT})"
    )
    cursor: str | None = Field(
        None, description="`next_cursor` of the previous page; omit for the newest items"
    )
    since: StorableAwareDatetime | None = Field(
        None,
        description="Only items whose event time is at or after this (ISO 8601 with zone)",
        examples=["2026-11-22T00:00:00Z"],
    )
    until: StorableAwareDatetime | None = Field(
        None, description="Only items whose event time is before this (ISO 8601 with zone)"
    )
    format: Literal["json", "csv"] | None = Field(
        None,
        description="`csv` streams every matching row from `cursor` on as CSV, read `limit` "
        "rows at a time (as does `Accept: text/csv`)",
    )
    csv_cells: Literal["safe", "raw"] = Field(
        "safe",
        description="In CSV, `safe` escapes a cell a spreadsheet would run as a formula (one "
        "starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`); `raw` "
        "writes values as stored",
    )

    _text = field_validator("*")(refuse_forbidden)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _date_time_text(cls, value: object) -> object:
        """Pydantic reads a number as seconds since 1970; the documented format is ISO 8601."""
        if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise ValueError("must be an ISO 8601 date-time with a zone, e.g. 2026-11-22T00:00:00Z")
        return value

    @field_validator("cursor")
    @classmethod
    def _valid_cursor(cls, value: str | None) -> str | None:
        TimeCursor.parse(value, cls.cursor_key)
        return value

    @model_validator(mode="after")
    def _ordered_window(self) -> "ListQuery":
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self

    @property
    def after(self) -> TimeCursor | None:
        return TimeCursor.parse(self.cursor, self.cursor_key)


def _msisdn(value: str | None) -> str | None:
    return None if value is None else resolve_msisdn(value)


def _mobivate_id(value: str | None) -> str | None:
    if value is None:
        return None
    normalised = normalise_id(value)
    if normalised is None:
        raise ValueError("must not be empty")
    return normalised


MSISDN_FIELD = Field(
    None,
    description="Phone number, any international spelling",
    examples=["+447700900123"],
)


class WebhookListQuery(ListQuery):
    """Filters that receipts, incoming messages and clicks share."""

    msisdn: str | None = MSISDN_FIELD
    mobivate_id: str | None = Field(None, description="Mobivate message id (any spelling)")
    mobivate_batch_id: str | None = Field(None, description="Mobivate batch id (any spelling)")
    message_id: int | None = Field(None, ge=1, le=MAX_ID, description="Our id of the message")
    batch_id: int | None = Field(None, ge=1, le=MAX_ID, description="Our id of the batch")

    _norm_msisdn = field_validator("msisdn")(_msisdn)
    _norm_ids = field_validator("mobivate_id", "mobivate_batch_id")(_mobivate_id)


class ReceiptQuery(WebhookListQuery):
    status: str | None = Field(
        None, max_length=64, description="Status name, e.g. DELIVERED", examples=["DELIVERED"]
    )
    status_code: int | None = Field(
        None, ge=-MAX_CODE, le=MAX_CODE, description="Mobivate status code, e.g. 1"
    )
    reference: str | None = Field(None, max_length=255, description="clientReference")
    hlr_network: str | None = Field(
        None,
        max_length=255,
        description="Network named by the receipt's hlr object (the ported one when ported)",
    )
    hlr_country: str | None = Field(
        None, max_length=255, description="Country named by the receipt's hlr object"
    )
    hlr_ported: bool | None = Field(None, description="Whether the hlr object says ported")
    hlr_reachable: bool | None = Field(
        None, description="What the hlr object says of the number (see Number lookups)"
    )

    @field_validator("status")
    @classmethod
    def _upper_status(cls, value: str | None) -> str | None:
        return None if value is None else value.strip().upper()


class IncomingQuery(WebhookListQuery):
    pass


class ClickQuery(WebhookListQuery):
    reference: str | None = Field(None, max_length=255, description="clientRef")


def wants_csv(request: Request, format: str | None) -> bool:
    """CSV when `format=csv`, or when the client accepts text/csv rather than JSON."""
    if format is not None:
        return format == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


class FeedQuery(BaseModel):
    """Filters of the live feed; an event is sent when it matches all of them."""

    model_config = ConfigDict(extra="forbid")

    kind: list[Literal["receipt", "incoming", "click", "status", "optout", "batch"]] | None = Field(
        None, description="Only these kinds (repeat the parameter for several)"
    )
    msisdn: str | None = MSISDN_FIELD
    status: str | None = Field(None, max_length=64, description="Status name, e.g. DELIVERED")
    mobivate_id: str | None = Field(None, description="Mobivate message id (any spelling)")
    mobivate_batch_id: str | None = Field(None, description="Mobivate batch id (any spelling)")
    message_id: int | None = Field(None, ge=1, le=MAX_ID, description="Our id of the message")
    batch_id: int | None = Field(None, ge=1, le=MAX_ID, description="Our id of the batch")
    reference: str | None = Field(None, max_length=255, description="Client reference")
    last_event_id: int | None = Field(
        None, ge=0, le=MAX_ID, description="Resume after this id, like `Last-Event-ID`"
    )
    ticket: str | None = Field(
        None,
        max_length=200,
        description="A stream ticket (POST /api/v1/events/stream-ticket), for browsers, "
        "instead of the Authorization header",
    )

    _text = field_validator("*")(refuse_forbidden)
    _norm_msisdn = field_validator("msisdn")(_msisdn)
    _norm_ids = field_validator("mobivate_id", "mobivate_batch_id")(_mobivate_id)

    @field_validator("status")
    @classmethod
    def _upper_status(cls, value: str | None) -> str | None:
        return None if value is None else value.strip().upper()


class MessageQuery(ListQuery):
    """Filters of the sent-message list; `since`/`until` apply to when it was created."""

    msisdn: str | None = MSISDN_FIELD
    status: str | None = Field(
        None, max_length=64, description="Current status, e.g. DELIVERED or submitted"
    )
    status_group: StatusGroup | None = Field(
        None, description="delivered, failed (another final status) or pending (not final)"
    )
    final: bool | None = Field(None, description="Whether the status is final")
    mobivate_id: str | None = Field(None, description="Mobivate message id (any spelling)")
    mobivate_batch_id: str | None = Field(None, description="Mobivate batch id (any spelling)")
    batch_id: int | None = Field(None, ge=1, le=MAX_ID, description="Our id of the batch")
    reference: str | None = Field(None, max_length=255, description="The message's reference")

    _norm_msisdn = field_validator("msisdn")(_msisdn)
    _norm_ids = field_validator("mobivate_id", "mobivate_batch_id")(_mobivate_id)


class BatchQuery(ListQuery):
    """Filters of the batch list; `since`/`until` apply to when it was created."""

    state: Literal["queued", "submitting", "submitted", "partially_submitted", "failed"] | None = (
        Field(None, description="Only batches in this state")
    )
