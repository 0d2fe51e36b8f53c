"""REST API lists, live feed and statistics: occurred_at, newest-first indexes, event_feed, stats_hours

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:58:11.885524

Each list is read newest first on one time column (receipts and incoming messages: occurred_at,
clicks: received_at) with the id as tie-breaker. The composite indexes replace single-column ones
with the same leading column, so the webhook hot path maintains no more indexes than before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECEIPT_INDEXES = {
    "ix_receipts_event_at": ("ix_receipts_occurred_at_id", ["occurred_at", "id"], ["event_at"]),
    "ix_receipts_status": (
        "ix_receipts_status_occurred_at_id",
        ["status", "occurred_at", "id"],
        ["status"],
    ),
    "ix_receipts_status_code": (
        "ix_receipts_status_code_occurred_at_id",
        ["status_code", "occurred_at", "id"],
        ["status_code"],
    ),
    "ix_receipts_batch_id_norm": (
        "ix_receipts_batch_id_norm_occurred_at_id",
        ["batch_id_norm", "occurred_at", "id"],
        ["batch_id_norm"],
    ),
}


# PostgreSQL: wake the live-feed readers of every replica when feed entries commit.
_NOTIFY_FUNCTION = """
CREATE FUNCTION event_feed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('event_feed', '');
    RETURN NULL;
END
$$
"""
_NOTIFY_TRIGGER = """
CREATE TRIGGER event_feed_notify AFTER INSERT ON event_feed
FOR EACH STATEMENT EXECUTE FUNCTION event_feed_notify()
"""


# PostgreSQL: note the creation hours of messages that change, for app/stats/rollup.py.
# Statement-level with transition tables: one insert per statement, whatever the row count.
_DIRTY_FUNCTION = """
CREATE FUNCTION stats_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_dirty_hours (hour)
        SELECT DISTINCT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO stats_dirty_hours (hour)
        SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM new_rows
        UNION
        SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows;
    ELSE
        INSERT INTO stats_dirty_hours (hour)
        SELECT DISTINCT date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        FROM old_rows;
    END IF;
    RETURN NULL;
END
$$
"""
_DIRTY_TRIGGERS = {
    "stats_dirty_on_insert": "AFTER INSERT ON outbound_messages REFERENCING NEW TABLE AS new_rows",
    "stats_dirty_on_update": "AFTER UPDATE ON outbound_messages "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "stats_dirty_on_delete": "AFTER DELETE ON outbound_messages REFERENCING OLD TABLE AS old_rows",
}


# Status changes of sent messages enter the live feed from the statement that makes them,
# whichever code path it is (sending, receipts, reconciliation). The PostgreSQL function takes
# the feed's advisory lock first, as every feed writer does (see app/feed/entries.py).
_FEED_COLUMNS = (
    "kind, ref_id, msisdn, message_id, batch_id, mobivate_id, mobivate_batch_id, reference, "
    "status, created_at, payload"
)
_PG_STATUS_ROW = """
    'status', n.id, n.msisdn, n.id, n.batch_id, n.mobivate_id_norm, n.mobivate_batch_id_norm,
    n.reference, n.status, now(),
    jsonb_build_object(
        'id', n.id, 'msisdn', n.msisdn, 'status', n.status, 'previous_status', {previous},
        'status_code', n.status_code, 'final', n.final,
        'status_at', to_char(n.status_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'delivered_at',
        to_char(n.delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'batch_id', n.batch_id, 'reference', n.reference, 'mobivate_id', n.mobivate_id_norm)
"""
_STATUS_FUNCTION = f"""
CREATE FUNCTION event_feed_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM new_rows) THEN
            PERFORM pg_advisory_xact_lock_shared(727274006);
            INSERT INTO event_feed ({_FEED_COLUMNS})
            SELECT {_PG_STATUS_ROW.format(previous="NULL")} FROM new_rows n ORDER BY n.id;
        END IF;
    ELSIF EXISTS (
        SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.status IS DISTINCT FROM n.status
    ) THEN
        PERFORM pg_advisory_xact_lock_shared(727274006);
        INSERT INTO event_feed ({_FEED_COLUMNS})
        SELECT {_PG_STATUS_ROW.format(previous="o.status")}
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.status IS DISTINCT FROM n.status ORDER BY n.id;
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608
_STATUS_TRIGGERS = {
    "event_feed_status_insert": "AFTER INSERT ON outbound_messages "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
    "event_feed_status_update": "AFTER UPDATE ON outbound_messages "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT",
}
_SQLITE_TIME = "strftime('%Y-%m-%dT%H:%M:%fZ', {0})"
_SQLITE_STATUS_ROW = """
    'status', NEW.id, NEW.msisdn, NEW.id, NEW.batch_id, NEW.mobivate_id_norm,
    NEW.mobivate_batch_id_norm, NEW.reference, NEW.status,
    strftime('%Y-%m-%d %H:%M:%f000', 'now'),
    json_object(
        'id', NEW.id, 'msisdn', NEW.msisdn, 'status', NEW.status, 'previous_status', {previous},
        'status_code', NEW.status_code, 'final', json(CASE WHEN NEW.final THEN 'true' ELSE 'false' END),
        'status_at', {status_at}, 'delivered_at', {delivered_at},
        'batch_id', NEW.batch_id, 'reference', NEW.reference, 'mobivate_id', NEW.mobivate_id_norm)
"""
_SQLITE_STATUS_TRIGGERS = {
    "event_feed_status_insert": ("AFTER INSERT ON outbound_messages", "NULL"),
    "event_feed_status_update": (
        "AFTER UPDATE OF status ON outbound_messages WHEN OLD.status IS NOT NEW.status",
        "OLD.status",
    ),
}


def _create_status_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(_STATUS_FUNCTION)
        for name, when in _STATUS_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION event_feed_status()")
        return
    for name, (when, previous) in _SQLITE_STATUS_TRIGGERS.items():
        values = _SQLITE_STATUS_ROW.format(
            previous=previous,
            status_at=_SQLITE_TIME.format("NEW.status_at"),
            delivered_at=_SQLITE_TIME.format("NEW.delivered_at"),
        )
        insert = f"INSERT INTO event_feed ({_FEED_COLUMNS}) VALUES ({values})"  # noqa: S608
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {insert}; END")


def _drop_status_triggers(dialect: str) -> None:
    for name in _STATUS_TRIGGERS:
        op.execute(
            f"DROP TRIGGER {name} ON outbound_messages"
            if dialect == "postgresql"
            else f"DROP TRIGGER {name}"
        )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION event_feed_status()")


def _add_occurred_at(table: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column("occurred_at", app.core.db.UTCDateTime(timezone=True)))
    op.execute(f"UPDATE {table} SET occurred_at = COALESCE(event_at, received_at)")  # noqa: S608
    with op.batch_alter_table(table) as batch_op:
        batch_op.alter_column(
            "occurred_at", existing_type=app.core.db.UTCDateTime(timezone=True), nullable=False
        )


def upgrade() -> None:
    op.create_table(
        "event_feed",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("msisdn", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("mobivate_id", sa.String(length=128), nullable=True),
        sa.Column("mobivate_batch_id", sa.String(length=128), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("created_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_feed")),
    )
    op.create_table(
        "stats_hours",
        sa.Column("hour", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column(
            "delivery_seconds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("computed_at", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_stats_hours")),
    )
    op.create_table(
        "stats_dirty_hours",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("hour", app.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_dirty_hours")),
    )
    _create_status_triggers(op.get_bind().dialect.name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_NOTIFY_FUNCTION)
        op.execute(_NOTIFY_TRIGGER)
        op.execute(_DIRTY_FUNCTION)
        for name, when in _DIRTY_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT "
                "EXECUTE FUNCTION stats_mark_dirty()"
            )

    _add_occurred_at("receipts")
    _add_occurred_at("incoming_messages")
    with op.batch_alter_table("receipts") as batch_op:
        for old, (new, columns, _) in _RECEIPT_INDEXES.items():
            batch_op.drop_index(old)
            batch_op.create_index(new, columns)
    with op.batch_alter_table("incoming_messages") as batch_op:
        batch_op.drop_index("ix_incoming_messages_event_at")
        batch_op.create_index("ix_incoming_messages_occurred_at_id", ["occurred_at", "id"])
    with op.batch_alter_table("clicks") as batch_op:
        batch_op.drop_index("ix_clicks_received_at")
        batch_op.create_index(
            "ix_clicks_received_at_id", ["received_at", "id"], postgresql_include=["msisdn"]
        )
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.create_index("ix_outbound_messages_created_at_id", ["created_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_index("ix_outbound_messages_created_at_id")
    with op.batch_alter_table("clicks") as batch_op:
        batch_op.drop_index("ix_clicks_received_at_id")
        batch_op.create_index("ix_clicks_received_at", ["received_at"])
    with op.batch_alter_table("incoming_messages") as batch_op:
        batch_op.drop_index("ix_incoming_messages_occurred_at_id")
        batch_op.create_index("ix_incoming_messages_event_at", ["event_at"])
        batch_op.drop_column("occurred_at")
    with op.batch_alter_table("receipts") as batch_op:
        for old, (new, _, columns) in _RECEIPT_INDEXES.items():
            batch_op.drop_index(new)
            batch_op.create_index(old, columns)
        batch_op.drop_column("occurred_at")
    _drop_status_triggers(op.get_bind().dialect.name)
    if op.get_bind().dialect.name == "postgresql":
        for name in _DIRTY_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON outbound_messages")
        op.execute("DROP FUNCTION stats_mark_dirty()")
        op.execute("DROP TRIGGER event_feed_notify ON event_feed")
        op.execute("DROP FUNCTION event_feed_notify()")
    op.drop_table("stats_dirty_hours")
    op.drop_table("stats_hours")
    op.drop_table("event_feed")
