"""Newest-first pushes to Mobivate on the shared list order: (created_at, id), and by state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00

The opt-out pushes list (`GET /api/v1/optout-pushes`) is read newest first on (created_at, id),
like every other list, optionally for one state. (state, id) stays: the outbox worker claims
pending pushes in id order with it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index("ix_outbox_created_at_id", ["created_at", "id"])
        batch_op.create_index("ix_outbox_state_created_at_id", ["state", "created_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_state_created_at_id")
        batch_op.drop_index("ix_outbox_created_at_id")
