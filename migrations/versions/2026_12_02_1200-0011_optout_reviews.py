"""Replies waiting for a person to decide whether they opt out: the review queue

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 12:00:00

A reply that holds an opt-out keyword but is not confidently an opt-out ("stop the deals") is kept
in `optout_reviews` until an operator opts the number out or dismisses it. Listed newest first on
(created_at, id), optionally for one state, like every other list.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "optout_reviews",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("msisdn", sa.String(length=32), nullable=False),
        sa.Column(
            "incoming_message_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", app.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incoming_message_id"],
            ["incoming_messages.id"],
            name=op.f("fk_optout_reviews_incoming_message_id_incoming_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optout_reviews")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_optout_reviews_dedupe_key")),
    )
    with op.batch_alter_table("optout_reviews") as batch_op:
        batch_op.create_index(batch_op.f("ix_optout_reviews_msisdn"), ["msisdn"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_optout_reviews_incoming_message_id"),
            ["incoming_message_id"],
            unique=False,
        )
        batch_op.create_index("ix_optout_reviews_created_at_id", ["created_at", "id"])
        batch_op.create_index(
            "ix_optout_reviews_state_created_at_id", ["state", "created_at", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("optout_reviews") as batch_op:
        batch_op.drop_index("ix_optout_reviews_state_created_at_id")
        batch_op.drop_index("ix_optout_reviews_created_at_id")
        batch_op.drop_index(batch_op.f("ix_optout_reviews_incoming_message_id"))
        batch_op.drop_index(batch_op.f("ix_optout_reviews_msisdn"))
    op.drop_table("optout_reviews")
