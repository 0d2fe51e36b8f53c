"""Receipts: what their `hlr` object says, in columns the receipts list filters on

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:00:00

Receipts stored before keep their `hlr` object; the new columns are filled from it here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.webhooks.rows import hlr_columns

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("hlr_reachable", "hlr_network", "hlr_country", "hlr_ported", "hlr_mcc_mnc")
_PAGE = 1000


def upgrade() -> None:
    with op.batch_alter_table("receipts") as batch_op:
        batch_op.add_column(sa.Column("hlr_reachable", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("hlr_network", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("hlr_country", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("hlr_ported", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("hlr_mcc_mnc", sa.String(length=16), nullable=True))
    _fill_from_hlr_objects()


def _fill_from_hlr_objects() -> None:
    receipts = sa.table(
        "receipts",
        sa.column("id", sa.BigInteger()),
        sa.column("hlr", sa.JSON()),
        *(sa.column(name) for name in _COLUMNS),
    )
    connection = op.get_bind()
    # JSON null is stored as 'null', not SQL NULL: ask for objects.
    json_type = (
        sa.func.jsonb_typeof if connection.dialect.name == "postgresql" else sa.func.json_type
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(receipts.c.id, receipts.c.hlr)
            .where(json_type(receipts.c.hlr) == "object", receipts.c.id > after)
            .order_by(receipts.c.id)
            .limit(_PAGE)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        for row in rows:
            values = hlr_columns(row.hlr if isinstance(row.hlr, dict) else None)
            if any(value is not None for value in values.values()):
                connection.execute(
                    sa.update(receipts).where(receipts.c.id == row.id).values(**values)
                )


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
