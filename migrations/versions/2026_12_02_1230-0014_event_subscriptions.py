"""Event subscriptions: subscribers, the deliveries owed to them and every attempt

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 12:00:00

A delivery is written for every subscription that wants an event by a trigger on `event_feed`,
in the transaction that writes the feed entry: every receipt, incoming message, click, status
change and opt-out change gets its feed entry in the transaction that stores it, whichever code
path makes it (the status changes themselves come from triggers), so a committed event always
has its deliveries. A disabled subscription's deliveries are recorded too and wait for it to be
enabled again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = app.core.db.UTCDateTime(timezone=True)

_EVENT_TYPE = """CASE {0}.kind WHEN 'status' THEN 'message.status'
    WHEN 'optout' THEN 'optout.changed' ELSE {0}.kind END"""
_DELIVERY_COLUMNS = (
    "subscription_id, feed_id, event_type, state, attempts, tries, queued_at, next_attempt_at, "
    "created_at"
)
_PG_FUNCTION = f"""
CREATE FUNCTION subscription_deliveries_from_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO subscription_deliveries ({_DELIVERY_COLUMNS})
    SELECT s.id, f.id, {_EVENT_TYPE.format("f")}, 'pending', 0, 0, f.created_at, f.created_at,
        f.created_at
    FROM new_rows f JOIN subscriptions s
        ON strpos(s.event_types, ',' || {_EVENT_TYPE.format("f")} || ',') > 0
    ORDER BY f.id, s.id;
    RETURN NULL;
END
$$
"""  # noqa: S608
_PG_TRIGGER = (
    "CREATE TRIGGER subscription_deliveries_from_feed AFTER INSERT ON event_feed "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION subscription_deliveries_from_feed()"
)
_SQLITE_TRIGGER = f"""
CREATE TRIGGER subscription_deliveries_from_feed AFTER INSERT ON event_feed
BEGIN
    INSERT INTO subscription_deliveries ({_DELIVERY_COLUMNS})
    SELECT s.id, NEW.id, {_EVENT_TYPE.format("NEW")}, 'pending', 0, 0, NEW.created_at,
        NEW.created_at, NEW.created_at
    FROM subscriptions s
    WHERE instr(s.event_types, ',' || {_EVENT_TYPE.format("NEW")} || ',') > 0
    ORDER BY s.id;
END
"""  # noqa: S608


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("event_types", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("originator", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_until", _TIME, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("disabled_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "subscription_deliveries",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("feed_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("queued_at", _TIME, nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "feed_id"),
    )
    op.create_index(
        "ix_subscription_deliveries_due",
        "subscription_deliveries",
        ["state", "next_attempt_at", "id"],
    )
    op.create_index(
        "ix_subscription_deliveries_subscription_created",
        "subscription_deliveries",
        ["subscription_id", "created_at"],
    )
    op.create_table(
        "subscription_attempts",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempted_at", _TIME, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscription_attempts_delivery_id", "subscription_attempts", ["delivery_id"]
    )
    op.create_index(
        "ix_subscription_attempts_subscription_id",
        "subscription_attempts",
        ["subscription_id", "id"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER subscription_deliveries_from_feed ON event_feed")
        op.execute("DROP FUNCTION subscription_deliveries_from_feed()")
    else:
        op.execute("DROP TRIGGER subscription_deliveries_from_feed")
    op.drop_table("subscription_attempts")
    op.drop_table("subscription_deliveries")
    op.drop_table("subscriptions")
