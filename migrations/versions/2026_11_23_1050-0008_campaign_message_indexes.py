"""Newest-first messages of one campaign: (batch_id / mobivate_batch_id_norm, created_at, id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 10:50:00

A campaign's messages are created within the hour, so walking created_at backwards for them
skips most of the table; the composite indexes replace the single-column ones with the same
leading column (the batch's ON DELETE CASCADE and every lookup by batch keep an index).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "batch_id": (
        "ix_outbound_messages_batch_id",
        "ix_outbound_messages_batch_id_created_at_id",
    ),
    "mobivate_batch_id_norm": (
        "ix_outbound_messages_mobivate_batch_id_norm",
        "ix_outbound_messages_mobivate_batch_id_norm_created_at_id",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        for column, (old, new) in _INDEXES.items():
            batch_op.drop_index(old)
            batch_op.create_index(new, [column, "created_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        for column, (old, new) in _INDEXES.items():
            batch_op.drop_index(new)
            batch_op.create_index(old, [column])
