"""Batches submitted in the background: the request kept until it is checked, the calls to
Mobivate as chunks shared by replicas, and each batch's progress

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 14:30:00

A batch posted to `POST /api/v1/batches` is stored with its request (`batch_inputs`) and
answered at once; a background worker checks the request and plans its calls (`batch_chunks`,
each one call of at most BATCH_CHUNK_SIZE messages), and every process takes pending chunks
under a lease. Batches stored before this revision were sent whole: their progress is filled in
from their messages.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = app.core.db.UTCDateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

_PROGRESS_OF_SENT_BATCHES = """
UPDATE batches SET
    total = (SELECT count(*) FROM outbound_messages m WHERE m.batch_id = batches.id),
    submitted = (SELECT count(*) FROM outbound_messages m
                 WHERE m.batch_id = batches.id AND m.submission = 'submitted'),
    not_submitted = (SELECT count(*) FROM outbound_messages m
                     WHERE m.batch_id = batches.id AND m.submission <> 'submitted'),
    checked = requested,
    prepared = true
"""


def upgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("originator", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("verify_numbers", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("chunk_size", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("total", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("submitted", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("not_submitted", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("checked", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("prepared", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", _TIME, nullable=True))
        batch_op.create_index("ix_batches_state_id", ["state", "id"], unique=False)
    op.execute(_PROGRESS_OF_SENT_BATCHES)

    op.create_table(
        "batch_inputs",
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_table(
        "batch_chunks",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("items", _JSON, nullable=False),
        sa.Column("skipped", _JSON, nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("call_started_at", _TIME, nullable=True),
        sa.Column("mobivate_batch_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "number"),
    )
    op.create_index(
        "ix_batch_chunks_state_batch_id_number", "batch_chunks", ["state", "batch_id", "number"]
    )


def downgrade() -> None:
    op.drop_index("ix_batch_chunks_state_batch_id_number", table_name="batch_chunks")
    op.drop_table("batch_chunks")
    op.drop_table("batch_inputs")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index("ix_batches_state_id")
        for column in (
            "lease_until",
            "lease_owner",
            "prepared",
            "checked",
            "not_submitted",
            "submitted",
            "total",
            "chunk_size",
            "verify_numbers",
            "originator",
        ):
            batch_op.drop_column(column)
