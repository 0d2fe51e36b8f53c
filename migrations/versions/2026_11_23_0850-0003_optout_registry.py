"""Opt-out registry, its history and the outbox of pushes to Mobivate

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:50:32.575449
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "optouts",
        sa.Column("msisdn", sa.String(length=32), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("changed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("keyword", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_optouts")),
    )
    with op.batch_alter_table("optouts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_optouts_opted_out_changed_at", ["opted_out", "changed_at", "msisdn"], unique=False
        )

    op.create_table(
        "optout_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("msisdn", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("keyword", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "incoming_message_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("dedupe_key", sa.String(length=128), nullable=True),
        sa.Column("event_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incoming_message_id"],
            ["incoming_messages.id"],
            name=op.f("fk_optout_events_incoming_message_id_incoming_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optout_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_optout_events_dedupe_key")),
    )
    with op.batch_alter_table("optout_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_optout_events_incoming_message_id"),
            ["incoming_message_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_optout_events_msisdn"), ["msisdn"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("msisdn", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("mobivate_status", sa.Integer(), nullable=True),
        sa.Column("mobivate_message", sa.Text(), nullable=True),
        sa.Column("mobivate_created", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["optout_events.id"],
            name=op.f("fk_outbox_event_id_optout_events"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_outbox_msisdn_state_id", ["msisdn", "state", "id"], unique=False)
        batch_op.create_index("ix_outbox_state_id", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_id")
        batch_op.drop_index("ix_outbox_msisdn_state_id")
        batch_op.drop_index(batch_op.f("ix_outbox_event_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("optout_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_optout_events_msisdn"))
        batch_op.drop_index(batch_op.f("ix_optout_events_incoming_message_id"))

    op.drop_table("optout_events")
    with op.batch_alter_table("optouts", schema=None) as batch_op:
        batch_op.drop_index("ix_optouts_opted_out_changed_at")

    op.drop_table("optouts")
