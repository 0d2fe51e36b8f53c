"""Newest-first clicks and replies of one campaign: (batch_id_norm, time, id) indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:45:00

A campaign's clicks and replies all happen within hours of its sending, so walking the time
index backwards for them skips most of the table; these composite indexes replace the
single-column batch_id_norm ones (same leading column: no extra index on the ingest path).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "clicks": ("received_at", "ix_clicks_batch_id_norm", "ix_clicks_batch_id_norm_received_at_id"),
    "incoming_messages": (
        "occurred_at",
        "ix_incoming_messages_batch_id_norm",
        "ix_incoming_messages_batch_id_norm_occurred_at_id",
    ),
}


def upgrade() -> None:
    for table, (time, old, new) in _INDEXES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(old)
            batch_op.create_index(new, ["batch_id_norm", time, "id"])


def downgrade() -> None:
    for table, (_, old, new) in _INDEXES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(new)
            batch_op.create_index(old, ["batch_id_norm"])
