"""Number lookups (HLR): the latest answer per number, and the numbers looked up per day

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "number_lookups",
        sa.Column("msisdn", sa.String(length=32), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=True),
        sa.Column("network", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=255), nullable=True),
        sa.Column("ported", sa.Boolean(), nullable=True),
        sa.Column(
            "status",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("mobivate_batch_id", sa.String(length=128), nullable=True),
        sa.Column("looked_up_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msisdn", name=op.f("pk_number_lookups")),
    )
    op.create_table(
        "lookup_usage",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_lookup_usage")),
    )


def downgrade() -> None:
    op.drop_table("lookup_usage")
    op.drop_table("number_lookups")
