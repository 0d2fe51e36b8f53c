"""Bodies of the send endpoints: `POST /api/v1/messages` and `POST /api/v1/batches`.

Fields are only typed here; what makes a value acceptable (a reachable number, a valid sender id,
a future schedule) is checked in `app.sending.validation`, which says what is wrong.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.text_rules import refuse_forbidden
from app.core.times import StorableDatetime
from app.stats.schemas import Figures


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendMessageRequest(_Request):
    to: str = Field(description="International number, e.g. +447700900123 or 447700900123")
    text: str = Field(description="Message text; GSM-7 if it fits, otherwise UCS-2")
    originator: str | None = Field(
        default=None, description="Sender id: ≤ 11 letters/digits or ≤ 15 digits"
    )
    reference: str | None = Field(
        default=None, description="Your reference, echoed in receipts; one is assigned if absent"
    )
    route_id: str | None = Field(default=None, description="Mobivate route (DEFAULT_ROUTE_ID)")
    shorten_urls: bool = False
    schedule_at: StorableDatetime | None = Field(
        default=None, description="Future send time with a timezone"
    )


class BatchMessageRequest(_Request):
    to: str
    text: str
    originator: str | None = None
    reference: str | None = Field(
        default=None, description="Unique within the batch; one is assigned if absent"
    )


class SendBatchRequest(_Request):
    name: str | None = Field(default=None, max_length=255)

    _name = field_validator("name", "route_id")(refuse_forbidden)
    originator: str | None = Field(default=None, description="Default for every message")
    route_id: str | None = None
    schedule_at: StorableDatetime | None = None
    spread_hours: int | None = Field(default=None, ge=0, le=720)
    shorten_urls: bool = False
    exclude_duplicates: bool = Field(
        default=True, description="Send one message per number, skipping later duplicates"
    )
    verify_numbers: bool = Field(
        default=False,
        description="Look the numbers up first (HLR) and skip those unreachable or invalid "
        "(reason hlr_unreachable); lookups count against HLR_DAILY_LIMIT",
    )
    messages: list[BatchMessageRequest]


class TimelineEntry(BaseModel):
    at: datetime
    event: str = Field(description="created, submission, receipt, reply or click")
    details: dict[str, Any] = Field(default_factory=dict)


class MessageOut(BaseModel):
    id: int
    batch_id: int | None
    to: str
    originator: str
    text: str
    reference: str
    route_id: str
    encoding: str = Field(description="GSM-7 or UCS-2")
    parts: int
    shorten_urls: bool
    schedule_at: datetime | None
    mobivate_id: str | None
    mobivate_batch_id: str | None
    submission: str = Field(
        description="submitting, submitted, refused, submit_failed or submit_unknown"
    )
    status: str = Field(description="Current status: a submission state or Mobivate's status")
    status_code: int | None
    status_at: datetime
    final: bool
    delivered_at: datetime | None
    error: dict[str, Any] | None
    created_at: datetime
    submitted_at: datetime | None


class MessageWithTimelineOut(MessageOut):
    timeline: list[TimelineEntry]


class SkippedOut(BaseModel):
    index: int
    to: str
    reason: str = Field(description="opted_out, invalid, duplicate or hlr_unreachable")
    detail: str


class ProgressOut(BaseModel):
    checked: int = Field(description="Messages of the request checked so far")
    total: int | None = Field(description="Messages to send once all are checked (null until then)")
    submitted: int = Field(description="Messages Mobivate accepted")
    not_submitted: int = Field(
        description="Messages not sent: refused, failed, outcome unknown, or opted out while "
        "the batch was being sent"
    )


class BatchOut(BaseModel):
    id: int
    name: str | None
    state: str = Field(
        description="queued, submitting, then submitted, partially_submitted or failed"
    )
    route_id: str
    schedule_at: datetime | None
    spread_hours: int | None
    shorten_urls: bool
    exclude_duplicates: bool
    verify_numbers: bool
    requested: int
    accepted: int = Field(description="Messages stored (sent, being sent or failed)")
    progress: ProgressOut
    skipped: list[SkippedOut]
    mobivate_batch_ids: list[str]
    counts: dict[str, int] = Field(description="Messages per current status")
    final: int = Field(description="Messages with a final status")
    error: dict[str, Any] | None
    created_at: datetime


class BatchDetailOut(BatchOut):
    stats: Figures = Field(
        description="Delivery figures of the batch's messages (as in GET /api/v1/stats), "
        "with the clicks and replies linked to them; opt_outs and opt_ins count the numbers "
        "that opted out or in by a reply to one of its messages"
    )


class BatchQueuedOut(BatchOut):
    """The answer to `POST /api/v1/batches`: the batch as stored, state `queued`."""


class DryRunMessageOut(BaseModel):
    index: int
    to: str
    reference: str | None = Field(description="Yours; one is assigned when the batch is sent")
    encoding: str
    parts: int


class BatchDryRunOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "requested": 3,
                    "would_send": 1,
                    "parts": 1,
                    "skipped_by_reason": {"opted_out": 1, "hlr_unreachable": 1},
                    "skipped": [
                        {
                            "index": 1,
                            "to": "+447700900124",
                            "reason": "opted_out",
                            "detail": "+447700900124 has opted out (STOP, 2026-11-20T18:02:11Z)",
                        },
                        {
                            "index": 2,
                            "to": "+447700900125",
                            "reason": "hlr_unreachable",
                            "detail": "Mobivate's number lookup says +447700900125 cannot be "
                            "reached (ABSENT_SUBSCRIBER)",
                        },
                    ],
                    "messages": [
                        {
                            "index": 0,
                            "to": "+447700900123",
                            "reference": "order-1042",
                            "encoding": "GSM-7",
                            "parts": 1,
                        }
                    ],
                }
            ]
        }
    )

    dry_run: bool = Field(description="Always true: nothing was stored or sent")
    requested: int
    would_send: int = Field(description="Messages that would be sent")
    parts: int = Field(description="SMS parts they would take together")
    skipped_by_reason: dict[str, int] = Field(description="How many would be left out, per reason")
    skipped: list[SkippedOut]
    messages: list[DryRunMessageOut]


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
    state: str = Field(description="queued, submitting, submitted, partially_submitted or failed")
    route_id: str
    schedule_at: datetime | None
    requested: int = Field(description="Recipients asked for")
    mobivate_batch_ids: list[str] = Field(description="Mobivate's ids of its chunks")
    error: dict[str, Any] | None
    created_at: datetime
