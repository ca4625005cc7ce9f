"""SQLAlchemy Core tables of the store (SPEC §7). Created by the Alembic migrations only.

Every table carries ``deal_id`` and every unique key includes it, so the schema can be distributed
by deal (Citus) when one server is outgrown.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")

events = sa.Table(
    "events",
    metadata,
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
    sa.Index("ix_events_deal_effective", "deal_id", "effective_date"),
    sa.Index(
        "ix_events_seals",
        "deal_id",
        "deal_seq",
        postgresql_where=sa.text("type = 'PeriodSealed'"),
        sqlite_where=sa.text("type = 'PeriodSealed'"),
    ),
)

chain_heads = sa.Table(
    "chain_heads",
    metadata,
    sa.Column("deal_id", sa.String(64), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)
"""Per deal: the last sequence number and hash. Locked by every append to serialise the chain."""

projection_rows = sa.Table(
    "projection_rows",
    metadata,
    sa.Column("deal_id", sa.String(64), primary_key=True),
    sa.Column("projection", sa.String(50), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", Json, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)
"""Live read models: one row per projection key, with the deal_seq of the event that last set it."""

projection_checkpoints = sa.Table(
    "projection_checkpoints",
    metadata,
    sa.Column("deal_id", sa.String(64), primary_key=True),
    sa.Column("projection", sa.String(50), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)
"""Tracking table: how far each live projection of a deal has folded, written with its rows."""

scheduler_jobs = sa.Table(
    "scheduler_jobs",
    metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)
"""APScheduler 3's job table (``ledger/cycle/scheduler.py``), laid out as its
``SQLAlchemyJobStore`` declares it; created by the migrations so that the application's database
role needs no right to create tables."""
