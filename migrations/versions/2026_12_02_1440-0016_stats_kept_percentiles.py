"""Kept statistics read in SQL: delivery times as arrays with their percentiles, and whole days

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 14:40:00

`stats_hours` keeps each hour's delivery times as float8[] (was JSON), how many fall below each
fixed edge, and the hour's 50th/90th/95th percentiles; `stats_days` keeps the same for whole
past days. Kept figures are only a cache of what the messages say (statistics compute whatever
is not kept from the messages), so the rows of the old shape are dropped rather than converted:
the rollup task keeps them again in the new shape within a few of its runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLOATS = sa.JSON().with_variant(postgresql.ARRAY(postgresql.DOUBLE_PRECISION()), "postgresql")
_INTS = sa.JSON().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql")


def _kept_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("seconds", _FLOATS, nullable=False),
        sa.Column("at_edges", _INTS, nullable=False),
        sa.Column("p50", sa.Float(53), nullable=True),
        sa.Column("p90", sa.Float(53), nullable=True),
        sa.Column("p95", sa.Float(53), nullable=True),
    ]


def upgrade() -> None:
    op.execute("DELETE FROM stats_hours")
    with op.batch_alter_table("stats_hours") as batch_op:
        batch_op.drop_column("delivery_seconds")
        for column in _kept_columns():
            batch_op.add_column(column)
    op.create_table(
        "stats_days",
        sa.Column("day", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        *_kept_columns(),
        sa.Column("computed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_stats_days")),
    )


def downgrade() -> None:
    op.drop_table("stats_days")
    op.execute("DELETE FROM stats_hours")
    with op.batch_alter_table("stats_hours") as batch_op:
        for name in ("p95", "p90", "p50", "at_edges", "seconds"):
            batch_op.drop_column(name)
        batch_op.add_column(
            sa.Column(
                "delivery_seconds",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
            )
        )
