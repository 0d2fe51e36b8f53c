"""ORM tables. The schema itself is made only by the Alembic migrations under `migrations/`."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntPK, JSONType, UTCDateTime


def _occurred_at(context: Any) -> datetime:
    params = context.get_current_parameters()
    value: datetime = params.get("event_at") or params["received_at"]
    return value


class ServiceSetting(Base):
    """Values every replica must agree on (e.g. the generated webhook secret)."""

    __tablename__ = "service_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookRequest(Base):
    """Every authenticated webhook request body, byte for byte, with what became of it."""

    __tablename__ = "webhook_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    content_type: Mapped[str | None] = mapped_column(String(255))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_size: Mapped[int] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    # stored | duplicate | unparsed | too_large
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    event_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_webhook_requests_outcome_kind", "outcome", "kind"),)


class Receipt(Base):
    """A delivery receipt (DLR) as Mobivate posted it; one row per distinct status report."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_requests.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_at_raw: Mapped[str | None] = mapped_column(String(64))
    # event_at, or received_at when Mobivate gave no parseable time: the REST API's time axis.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_occurred_at)
    delivery_message_id: Mapped[str | None] = mapped_column(String(128))
    message_id_norm: Mapped[str | None] = mapped_column(String(128), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(128))
    batch_id_norm: Mapped[str | None] = mapped_column(String(128))
    client_reference: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str | None] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    parts: Mapped[int | None] = mapped_column(Integer)
    part: Mapped[int | None] = mapped_column(Integer)
    hlr: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # What `hlr` says, where it says it (see app/mobivate/hlr.py `receipt_hlr`).
    hlr_reachable: Mapped[bool | None] = mapped_column(Boolean)
    hlr_network: Mapped[str | None] = mapped_column(String(255))
    hlr_country: Mapped[str | None] = mapped_column(String(255))
    hlr_ported: Mapped[bool | None] = mapped_column(Boolean)
    hlr_mcc_mnc: Mapped[str | None] = mapped_column(String(16))
    # The sent message this receipt reports on, once known (see app/delivery/linking.py).
    outbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="SET NULL"), index=True
    )

    # Newest-first lists: the time axis alone, and behind each filter that can match many rows.
    __table_args__ = (
        Index("ix_receipts_occurred_at_id", "occurred_at", "id"),
        Index("ix_receipts_status_occurred_at_id", "status", "occurred_at", "id"),
        Index("ix_receipts_status_code_occurred_at_id", "status_code", "occurred_at", "id"),
        Index("ix_receipts_batch_id_norm_occurred_at_id", "batch_id_norm", "occurred_at", "id"),
    )


class IncomingMessage(Base):
    """A mobile-originated (MO) message; `originator` is the customer's number."""

    __tablename__ = "incoming_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_requests.id", ondelete="SET NULL"), index=True
    )
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_at_raw: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_occurred_at)
    mobivate_id: Mapped[str | None] = mapped_column(String(128))
    mobivate_id_norm: Mapped[str | None] = mapped_column(String(128), index=True)
    originator: Mapped[str | None] = mapped_column(String(64))
    msisdn: Mapped[str | None] = mapped_column(String(32), index=True)
    recipient: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(String(128))
    in_reply_to_norm: Mapped[str | None] = mapped_column(String(128), index=True)
    logical_message_id: Mapped[str | None] = mapped_column(String(128))
    batch_id_norm: Mapped[str | None] = mapped_column(String(128))
    owner_user_id: Mapped[str | None] = mapped_column(String(128))
    # The sent message this is a reply to (`inReplyTo`), once known.
    outbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        Index("ix_incoming_messages_occurred_at_id", "occurred_at", "id"),
        Index(
            "ix_incoming_messages_batch_id_norm_occurred_at_id",
            "batch_id_norm",
            "occurred_at",
            "id",
        ),
    )


class Click(Base):
    """A short-URL click notification."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_requests.id", ondelete="SET NULL"), index=True
    )
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(128))
    message_id_norm: Mapped[str | None] = mapped_column(String(128), index=True)
    mobile: Mapped[str | None] = mapped_column(String(64))
    msisdn: Mapped[str | None] = mapped_column(String(32), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(128))
    batch_id_norm: Mapped[str | None] = mapped_column(String(128))
    client_ref: Mapped[str | None] = mapped_column(String(255), index=True)
    browser: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str | None] = mapped_column(String(255))
    iso2l: Mapped[str | None] = mapped_column(String(255))
    os: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    # The sent message whose link was clicked (`messageId`, else `clientRef`), once known.
    outbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        Index("ix_clicks_received_at_id", "received_at", "id", postgresql_include=["msisdn"]),
        # A campaign's events are bunched in time: walking the time index would skip the rest.
        Index("ix_clicks_batch_id_norm_received_at_id", "batch_id_norm", "received_at", "id"),
    )


class WebhookRegistration(Base):
    """Where Mobivate has been asked to send one kind of webhook, and how that went.

    `url` holds the webhook secret: never show it unmasked. `claimed_until` marks an attempt in
    flight and `next_attempt_at` a backoff wait; no instance attempts before either (see
    app/registration/registrar.py for the exact rule).
    """

    __tablename__ = "webhook_registrations"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # pending | registered | failed | unauthorized
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    mobivate_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Which Mobivate account `url` was registered with: a fingerprint of MOBIVATE_BASE_URL and
    # MOBIVATE_API_KEY (see app/registration/status.py), never the key itself.
    account: Mapped[str | None] = mapped_column(String(32))


class Optout(Base):
    """The current opt-out state of one number: the newest event in `optout_events` wins."""

    __tablename__ = "optouts"

    # E.164; for an unresolved number, the sender as Mobivate wrote it.
    msisdn: Mapped[str] = mapped_column(String(64), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    # True when `msisdn` is a sender that could not be resolved to E.164 (see app/core/phone.py).
    unresolved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The event time of the change that set the current state.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_optouts_opted_out_changed_at", "opted_out", "changed_at", "msisdn"),
    )


class OptoutEvent(Base):
    """Append-only history of opt-outs, opt-ins and help requests, as they were recorded."""

    __tablename__ = "optout_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    msisdn: Mapped[str] = mapped_column(String(64), index=True)
    unresolved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The number as it was written, when that differs from `msisdn`.
    written_as: Mapped[str | None] = mapped_column(String(64))
    # opt_out | opt_in | help
    action: Mapped[str] = mapped_column(String(16))
    # incoming_sms | api | operator | imported | mobivate
    source: Mapped[str] = mapped_column(String(16))
    keyword: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    incoming_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("incoming_messages.id", ondelete="SET NULL"), index=True
    )
    # Set when a repetition of the same event must not make a second entry.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OptoutReview(Base):
    """A reply that holds an opt-out keyword but is not confidently an opt-out, waiting for a
    person to decide (`app.optouts.review`)."""

    __tablename__ = "optout_reviews"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    msisdn: Mapped[str] = mapped_column(String(32), index=True)
    incoming_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("incoming_messages.id", ondelete="SET NULL"), index=True
    )
    # A copy of the reply, so the review outlives the retention of incoming messages.
    body: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str] = mapped_column(String(64))
    # When the reply was sent (Mobivate's time, else when it reached us).
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending | opted_out | dismissed
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_optout_reviews_created_at_id", "created_at", "id"),
        Index("ix_optout_reviews_state_created_at_id", "state", "created_at", "id"),
    )


class OutboxMessage(Base):
    """A change to push to Mobivate, written in the transaction that made the change."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # optout_add | optout_delete
    operation: Mapped[str] = mapped_column(String(16))
    msisdn: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("optout_events.id", ondelete="SET NULL"), index=True
    )
    # pending | delivered | failed
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    mobivate_status: Mapped[int | None] = mapped_column(Integer)
    mobivate_message: Mapped[str | None] = mapped_column(Text)
    # `created` of Mobivate's opt-out record, to recognise our own push when importing.
    mobivate_created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_outbox_state_id", "state", "id"),
        Index("ix_outbox_msisdn_state_id", "msisdn", "state", "id"),
        Index("ix_outbox_created_at_id", "created_at", "id"),
        Index("ix_outbox_state_created_at_id", "state", "created_at", "id"),
    )


class Batch(Base):
    """A campaign posted to `POST /api/v1/batches`; Mobivate got it in chunks of at most 1,000."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(255))
    route_id: Mapped[str] = mapped_column(String(64))
    schedule_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spread_hours: Mapped[int | None] = mapped_column(Integer)
    shorten_urls: Mapped[bool] = mapped_column(Boolean, default=False)
    exclude_duplicates: Mapped[bool] = mapped_column(Boolean, default=True)
    # queued | submitting | submitted | partially_submitted | failed
    state: Mapped[str] = mapped_column(String(24))
    requested: Mapped[int] = mapped_column(Integer)
    # Recipients left out before sending: [{"index", "to", "reason", "detail"}, ...]
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    mobivate_batch_ids: Mapped[list[str]] = mapped_column(JSONType)
    error_status: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The default originator of its messages, and how it is sent (see app/sending/queue.py).
    originator: Mapped[str | None] = mapped_column(String(16))
    verify_numbers: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    chunk_size: Mapped[int | None] = mapped_column(Integer)
    # Progress: messages to send once checked (null until then), those Mobivate accepted, and
    # those it did not (refused, failed, outcome unknown, opted out while the batch was sent).
    total: Mapped[int | None] = mapped_column(Integer)
    submitted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_submitted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Messages of the request checked and planned so far (in request order), and whether all
    # of them are.
    checked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    prepared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The process checking the request, until when.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_batches_state_id", "state", "id"),)


class BatchInput(Base):
    """A batch's messages as posted, kept until they are checked and planned into chunks."""

    __tablename__ = "batch_inputs"

    batch_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    # orjson of [[to, text, originator, reference], ...] in request order.
    items: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BatchChunk(Base):
    """One call to Mobivate's batch endpoint, planned when the batch was checked.

    pending -> calling (its messages stored as `submitting`, the call under way: a lease)
    -> done (Mobivate answered, or the call was not made); a `calling` chunk whose lease ran
    out becomes `unknown`: the call may have reached Mobivate, so it is never made again.
    """

    __tablename__ = "batch_chunks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("batches.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    # [[index, msisdn, originator, text, reference, encoding, parts], ...]
    items: Mapped[list[Any]] = mapped_column(JSONType)
    # Recipients left out, checked with this chunk: [{"index", "to", "reason", "detail"}, ...]
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    call_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mobivate_batch_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("batch_id", "number"),
        Index("ix_batch_chunks_state_batch_id_number", "state", "batch_id", "number"),
    )


class OutboundMessage(Base):
    """One SMS we asked Mobivate to send, with its current delivery status.

    The status fields follow the rule in app/delivery/status_rules.py; `status_rank`,
    `status_at` and `status_receipt_id` are the key of the current status, so an update can
    refuse to go back.
    """

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    msisdn: Mapped[str] = mapped_column(String(32), index=True)
    originator: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    route_id: Mapped[str] = mapped_column(String(64))
    # Sent to Mobivate with every message and echoed as `clientReference`: ours unless the
    # caller chose one.
    reference: Mapped[str] = mapped_column(String(255), index=True)
    encoding: Mapped[str] = mapped_column(String(8))
    parts: Mapped[int] = mapped_column(Integer)
    shorten_urls: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mobivate_id: Mapped[str | None] = mapped_column(String(128))
    mobivate_id_norm: Mapped[str | None] = mapped_column(String(128), index=True)
    mobivate_batch_id: Mapped[str | None] = mapped_column(String(128))
    mobivate_batch_id_norm: Mapped[str | None] = mapped_column(String(128))
    # submitting | submitted | refused | submit_failed: how the send itself went.
    submission: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    status_receipt_id: Mapped[int | None] = mapped_column(BigInteger)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_status: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_outbound_messages_final_submitted_at", "final", "submitted_at"),)


class IdempotencyKey(Base):
    """An `Idempotency-Key` claimed by a send request, and the response it got."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    endpoint: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    # pending | done
    state: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("key", "endpoint"),)


class FeedEvent(Base):
    """One entry of the live feed (`GET /api/v1/events/stream`), written in the transaction that
    stored what it describes. Append-only; pruned after EVENT_FEED_RETENTION_HOURS."""

    __tablename__ = "event_feed"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # receipt | incoming | click | status | optout
    kind: Mapped[str] = mapped_column(String(16))
    # The id of the row in its own table (receipts, incoming_messages, clicks,
    # outbound_messages, optout_events).
    ref_id: Mapped[int] = mapped_column(BigInteger)
    msisdn: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    mobivate_id: Mapped[str | None] = mapped_column(String(128))
    mobivate_batch_id: Mapped[str | None] = mapped_column(String(128))
    reference: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)


# Newest-first lists of sent messages and the statistics window (both on created_at).
Index("ix_outbound_messages_created_at_id", OutboundMessage.created_at, OutboundMessage.id)
# A campaign's messages are bunched in time: its filters need (column, created_at, id).
Index(
    "ix_outbound_messages_batch_id_created_at_id",
    OutboundMessage.batch_id,
    OutboundMessage.created_at,
    OutboundMessage.id,
)
Index(
    "ix_outbound_messages_mobivate_batch_id_norm_created_at_id",
    OutboundMessage.mobivate_batch_id_norm,
    OutboundMessage.created_at,
    OutboundMessage.id,
)


class Subscription(Base):
    """A system that wants events pushed to it (`app.subscriptions`)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The event types, comma-separated with a comma at each end: ",receipt,message.status,".
    event_types: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    originator: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation, deliveries are signed with both until previous_secret_until.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubscriptionDelivery(Base):
    """One event owed to one subscription, written by a trigger on `event_feed` in the
    transaction that stores the event (migration 0013)."""

    __tablename__ = "subscription_deliveries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(BigInteger)
    feed_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(32))
    # pending | delivered | failed
    state: Mapped[str] = mapped_column(String(16))
    # Every attempt ever made (a claim is matched on it); `tries` counts those since it was
    # last queued (created or replayed), for the backoff and the retry period.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("subscription_id", "feed_id"),
        Index("ix_subscription_deliveries_due", "state", "next_attempt_at", "id"),
        Index("ix_subscription_deliveries_subscription_created", "subscription_id", "created_at"),
    )


class SubscriptionAttempt(Base):
    """One try at sending a delivery: what the receiver answered and how long it took."""

    __tablename__ = "subscription_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(BigInteger)
    delivery_id: Mapped[int] = mapped_column(BigInteger, index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # delivered | retry | failed
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_subscription_attempts_subscription_id", "subscription_id", "id"),)


# Kept delivery times: float8[] and int[] on PostgreSQL, where statistics read them in SQL.
FloatArray = JSON().with_variant(postgresql.ARRAY(postgresql.DOUBLE_PRECISION()), "postgresql")
IntArray = JSON().with_variant(postgresql.ARRAY(Integer()), "postgresql")


class _KeptFigures:
    """What became of the messages created in one UTC hour or day (see app/stats/rollup.py)."""

    sent: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    pending: Mapped[int] = mapped_column(Integer)
    # Seconds from submission to delivery of each delivered message, ascending.
    seconds: Mapped[list[float]] = mapped_column(FloatArray)
    # How many of `seconds` are at most each of app.stats.percentiles.EDGES.
    at_edges: Mapped[list[int]] = mapped_column(IntArray)
    p50: Mapped[float | None] = mapped_column(Float(53))
    p90: Mapped[float | None] = mapped_column(Float(53))
    p95: Mapped[float | None] = mapped_column(Float(53))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatsHour(_KeptFigures, Base):
    """The figures of one UTC hour, kept so that statistics need not read every message again;
    only hours with no pending change are used."""

    __tablename__ = "stats_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class StatsDay(_KeptFigures, Base):
    """The figures of one whole past UTC day, used while none of its hours has a pending change."""

    __tablename__ = "stats_days"

    day: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class StatsDirtyHour(Base):
    """An hour whose messages changed since its `stats_hours` row was computed; written by a
    database trigger on `outbound_messages` (PostgreSQL), append-only so writers never wait."""

    __tablename__ = "stats_dirty_hours"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime)


class NumberLookup(Base):
    """The latest definite HLR answer for a number (reachable or not), served from here until it
    is older than HLR_CACHE_HOURS (see app/lookups/)."""

    __tablename__ = "number_lookups"

    msisdn: Mapped[str] = mapped_column(String(32), primary_key=True)
    reachable: Mapped[bool | None] = mapped_column(Boolean)
    network: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(255))
    ported: Mapped[bool | None] = mapped_column(Boolean)
    # Mobivate's `status` and `error` objects, as it wrote them.
    status: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    mobivate_batch_id: Mapped[str | None] = mapped_column(String(128))
    looked_up_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LookupUsage(Base):
    """Numbers sent to Mobivate's HLR per UTC day, held against HLR_DAILY_LIMIT."""

    __tablename__ = "lookup_usage"

    # YYYY-MM-DD, UTC.
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)


def _table_of(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Core `Table` handles for the statements that bypass the ORM (bulk inserts, upserts, joins).
SERVICE_SETTINGS = _table_of(ServiceSetting)
WEBHOOK_REQUESTS = _table_of(WebhookRequest)
RECEIPTS = _table_of(Receipt)
INCOMING_MESSAGES = _table_of(IncomingMessage)
CLICKS = _table_of(Click)
OPTOUTS = _table_of(Optout)
OPTOUT_EVENTS = _table_of(OptoutEvent)
OPTOUT_REVIEWS = _table_of(OptoutReview)
OUTBOX_MESSAGES = _table_of(OutboxMessage)
BATCHES = _table_of(Batch)
BATCH_INPUTS = _table_of(BatchInput)
BATCH_CHUNKS = _table_of(BatchChunk)
OUTBOUND_MESSAGES = _table_of(OutboundMessage)
IDEMPOTENCY_KEYS = _table_of(IdempotencyKey)
FEED_EVENTS = _table_of(FeedEvent)
STATS_HOURS = _table_of(StatsHour)
STATS_DAYS = _table_of(StatsDay)
STATS_DIRTY_HOURS = _table_of(StatsDirtyHour)
NUMBER_LOOKUPS = _table_of(NumberLookup)
LOOKUP_USAGE = _table_of(LookupUsage)
SUBSCRIPTIONS = _table_of(Subscription)
SUBSCRIPTION_DELIVERIES = _table_of(SubscriptionDelivery)
SUBSCRIPTION_ATTEMPTS = _table_of(SubscriptionAttempt)
