"""Event store, chain heads, live projections; the event table refuses UPDATE/DELETE/TRUNCATE.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")

PG_GUARD = """
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events table is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
"""

# A batch takes a block of global positions in one round trip (nextval per row costs more than
# hashing the row). The advisory lock makes nextval + setval one step for every appender; it is
# held for these two statements only, so appends to different deals still run concurrently.
PG_RESERVE = """
CREATE FUNCTION reserve_event_positions(n bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    seq regclass := pg_get_serial_sequence('events', 'position')::regclass;
    first_position bigint;
BEGIN
    PERFORM pg_advisory_lock(7412520231);
    first_position := nextval(seq);
    IF n > 1 THEN
        PERFORM setval(seq, first_position + n - 1);
    END IF;
    PERFORM pg_advisory_unlock(7412520231);
    RETURN first_position;
END
$$;
"""

# SQLite has no TRUNCATE; its DELETE-all optimisation is disabled when a DELETE trigger exists.
SQLITE_GUARD = [
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events table is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events table is append-only: DELETE refused'); END""",
]


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("deal_id", sa.String(64), nullable=False),
        sa.Column("deal_seq", sa.BigInteger, nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("effective_date", sa.Date, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(50), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("correlation_id", sa.String(36)),
        sa.Column("causation_id", sa.String(36)),
        sa.Column("data", Json, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("deal_id", "deal_seq", name="uq_events_deal_seq"),
        sa.UniqueConstraint("deal_id", "event_id", name="uq_events_event_id"),
        sa.UniqueConstraint("deal_id", "idempotency_key", name="uq_events_idempotency"),
        sa.UniqueConstraint("deal_id", "stream_id", "stream_version", name="uq_events_stream"),
    )
    op.create_index("ix_events_deal_effective", "events", ["deal_id", "effective_date"])
    op.create_table(
        "chain_heads",
        sa.Column("deal_id", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "projection_rows",
        sa.Column("deal_id", sa.String(64), primary_key=True),
        sa.Column("projection", sa.String(50), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", Json, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "projection_checkpoints",
        sa.Column("deal_id", sa.String(64), primary_key=True),
        sa.Column("projection", sa.String(50), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARD)
        op.execute(PG_RESERVE)
    else:
        for statement in SQLITE_GUARD:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_no_truncate ON events")
        op.execute("DROP TRIGGER IF EXISTS events_no_update_delete ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
        op.execute("DROP FUNCTION IF EXISTS reserve_event_positions(bigint)")
    op.drop_table("projection_checkpoints")
    op.drop_table("projection_rows")
    op.drop_table("chain_heads")
    op.drop_table("events")
