"""Initial schema: raw webhook requests and typed events

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:32:45.641396
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_settings")),
    )
    op.create_table(
        "webhook_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("received_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_size", sa.BigInteger(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_requests")),
    )
    with op.batch_alter_table("webhook_requests", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_requests_outcome_kind", ["outcome", "kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_webhook_requests_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "clicks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=True),
        sa.Column("message_id_norm", sa.String(length=128), nullable=True),
        sa.Column("mobile", sa.String(length=64), nullable=True),
        sa.Column("msisdn", sa.String(length=32), nullable=True),
        sa.Column("batch_id", sa.String(length=128), nullable=True),
        sa.Column("batch_id_norm", sa.String(length=128), nullable=True),
        sa.Column("client_ref", sa.String(length=255), nullable=True),
        sa.Column("browser", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=255), nullable=True),
        sa.Column("ip_address", sa.String(length=255), nullable=True),
        sa.Column("iso2l", sa.String(length=255), nullable=True),
        sa.Column("os", sa.String(length=255), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["webhook_requests.id"],
            name=op.f("fk_clicks_request_id_webhook_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_clicks_dedupe_key")),
    )
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clicks_batch_id_norm"), ["batch_id_norm"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_clicks_client_ref"), ["client_ref"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_clicks_message_id_norm"), ["message_id_norm"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_clicks_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(batch_op.f("ix_clicks_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_clicks_request_id"), ["request_id"], unique=False)

    op.create_table(
        "incoming_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("event_at_raw", sa.String(length=64), nullable=True),
        sa.Column("mobivate_id", sa.String(length=128), nullable=True),
        sa.Column("mobivate_id_norm", sa.String(length=128), nullable=True),
        sa.Column("originator", sa.String(length=64), nullable=True),
        sa.Column("msisdn", sa.String(length=32), nullable=True),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("in_reply_to", sa.String(length=128), nullable=True),
        sa.Column("in_reply_to_norm", sa.String(length=128), nullable=True),
        sa.Column("logical_message_id", sa.String(length=128), nullable=True),
        sa.Column("batch_id_norm", sa.String(length=128), nullable=True),
        sa.Column("owner_user_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["webhook_requests.id"],
            name=op.f("fk_incoming_messages_request_id_webhook_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incoming_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_incoming_messages_dedupe_key")),
    )
    with op.batch_alter_table("incoming_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_batch_id_norm"), ["batch_id_norm"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_event_at"), ["event_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_in_reply_to_norm"), ["in_reply_to_norm"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_mobivate_id_norm"), ["mobivate_id_norm"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_incoming_messages_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incoming_messages_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("event_at_raw", sa.String(length=64), nullable=True),
        sa.Column("delivery_message_id", sa.String(length=128), nullable=True),
        sa.Column("message_id_norm", sa.String(length=128), nullable=True),
        sa.Column("batch_id", sa.String(length=128), nullable=True),
        sa.Column("batch_id_norm", sa.String(length=128), nullable=True),
        sa.Column("client_reference", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("parts", sa.Integer(), nullable=True),
        sa.Column("part", sa.Integer(), nullable=True),
        sa.Column(
            "hlr",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["webhook_requests.id"],
            name=op.f("fk_receipts_request_id_webhook_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_receipts_dedupe_key")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receipts_batch_id_norm"), ["batch_id_norm"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_receipts_client_reference"), ["client_reference"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_receipts_event_at"), ["event_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_receipts_message_id_norm"), ["message_id_norm"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_receipts_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_status_code"), ["status_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_status_code"))
        batch_op.drop_index(batch_op.f("ix_receipts_status"))
        batch_op.drop_index(batch_op.f("ix_receipts_request_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_received_at"))
        batch_op.drop_index(batch_op.f("ix_receipts_message_id_norm"))
        batch_op.drop_index(batch_op.f("ix_receipts_event_at"))
        batch_op.drop_index(batch_op.f("ix_receipts_client_reference"))
        batch_op.drop_index(batch_op.f("ix_receipts_batch_id_norm"))

    op.drop_table("receipts")
    with op.batch_alter_table("incoming_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incoming_messages_request_id"))
        batch_op.drop_index(batch_op.f("ix_incoming_messages_received_at"))
        batch_op.drop_index(batch_op.f("ix_incoming_messages_msisdn"))
        batch_op.drop_index(batch_op.f("ix_incoming_messages_mobivate_id_norm"))
        batch_op.drop_index(batch_op.f("ix_incoming_messages_in_reply_to_norm"))
        batch_op.drop_index(batch_op.f("ix_incoming_messages_event_at"))
        batch_op.drop_index(batch_op.f("ix_incoming_messages_batch_id_norm"))

    op.drop_table("incoming_messages")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clicks_request_id"))
        batch_op.drop_index(batch_op.f("ix_clicks_received_at"))
        batch_op.drop_index(batch_op.f("ix_clicks_msisdn"))
        batch_op.drop_index(batch_op.f("ix_clicks_message_id_norm"))
        batch_op.drop_index(batch_op.f("ix_clicks_client_ref"))
        batch_op.drop_index(batch_op.f("ix_clicks_batch_id_norm"))

    op.drop_table("clicks")
    with op.batch_alter_table("webhook_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_requests_received_at"))
        batch_op.drop_index("ix_webhook_requests_outcome_kind")

    op.drop_table("webhook_requests")
    op.drop_table("service_settings")
