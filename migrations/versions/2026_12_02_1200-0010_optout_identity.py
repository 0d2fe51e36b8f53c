"""One identity per person: opt-out keys in E.164, unresolved senders flagged

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00

The registry and its history may now hold a sender that cannot be resolved to E.164, under its
raw form (up to 64 characters, as `incoming_messages.originator`), flagged `unresolved`; a
history entry keeps the spelling it was written in (`written_as`) when that differs from its key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("optouts") as batch_op:
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=32), type_=sa.String(length=64)
        )
        batch_op.add_column(
            sa.Column("unresolved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("optout_events") as batch_op:
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=32), type_=sa.String(length=64)
        )
        batch_op.add_column(
            sa.Column("unresolved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("written_as", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("optout_events") as batch_op:
        batch_op.drop_column("written_as")
        batch_op.drop_column("unresolved")
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=64), type_=sa.String(length=32)
        )
    with op.batch_alter_table("optouts") as batch_op:
        batch_op.drop_column("unresolved")
        batch_op.alter_column(
            "msisdn", existing_type=sa.String(length=64), type_=sa.String(length=32)
        )
