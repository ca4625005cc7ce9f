"""Security: seals found by index, the scheduler's job table, and least privilege on PostgreSQL.

* ``ix_events_seals``: a partial index on the deal's ``PeriodSealed`` events, so the sealed-period
  check of every append is one index probe (``events/seal.py``).
* ``scheduler_jobs``: APScheduler 3's job table (``ledger/cycle/scheduler.py``), created here
  instead of by the scheduler at run time, so that the application needs no right to create
  tables.
* PostgreSQL (SPEC §2.9): two roles, created if missing (roles belong to the server, not to
  one database or schema: they are never dropped by a downgrade):

  - ``trust_ledger_owner`` (no login) owns the tables, the sequence and the functions; whoever
    runs the migrations (a superuser, or a member of this role) acts as it;
  - ``trust_ledger_app`` (login) is what the ledger connects as: SELECT and INSERT on
    ``events`` and nothing else on it (no UPDATE, DELETE, TRUNCATE or TRIGGER; not the owner,
    so it cannot ``ALTER TABLE ... DISABLE TRIGGER``; not a superuser, so it cannot
    ``SET session_replication_role``); it moves the chain heads, keeps the live projection rows
    and the scheduler's jobs, and reads the migration version. Give it a password
    (``ALTER ROLE trust_ledger_app PASSWORD '...'``) where the server asks for one.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

OWNER = "trust_ledger_owner"
APP = "trust_ledger_app"

TABLES = ("events", "chain_heads", "projection_rows", "projection_checkpoints", "scheduler_jobs")
GRANTS = {
    "events": "SELECT, INSERT",
    "chain_heads": "SELECT, INSERT, UPDATE",
    "projection_rows": "SELECT, INSERT, UPDATE, DELETE",
    "projection_checkpoints": "SELECT, INSERT, UPDATE, DELETE",
    "scheduler_jobs": "SELECT, INSERT, UPDATE, DELETE",
    "alembic_version": "SELECT",
}
FUNCTIONS = ("events_append_only()", "reserve_event_positions(bigint)")

# Roles are created once per server; two migrations running at once (tests in parallel schemas)
# may both find a role missing, so "already exists" is not an error.
PG_ROLES = f"""
DO $$
BEGIN
    BEGIN
        CREATE ROLE {OWNER} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE {APP} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    IF NOT pg_has_role(current_user, '{OWNER}', 'MEMBER') THEN
        EXECUTE format('GRANT {OWNER} TO %I', current_user);
    END IF;
END
$$;
"""


def _pg_upgrade() -> None:
    op.execute(PG_ROLES)
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {APP}')
    for table in (*TABLES, "alembic_version"):
        op.execute(f"ALTER TABLE {table} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(f"GRANT {GRANTS[table]} ON {table} TO {APP}")
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} OWNER TO {OWNER}")
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION reserve_event_positions(bigint) TO {APP}")
    # the position sequence: nextval and setval (reserve_event_positions) need USAGE and UPDATE
    op.execute(
        f"""DO $$ BEGIN EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE %s TO {APP}',
        pg_get_serial_sequence('events', 'position')); END $$;"""
    )


def _pg_downgrade() -> None:
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(
        f"""DO $$ BEGIN EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM {APP}',
        pg_get_serial_sequence('events', 'position')); END $$;"""
    )
    for function in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM {APP}")
        op.execute(f"ALTER FUNCTION {function} OWNER TO CURRENT_USER")
    for table in (*TABLES, "alembic_version"):
        op.execute(f"REVOKE ALL ON {table} FROM {APP}")
        op.execute(f"ALTER TABLE {table} OWNER TO CURRENT_USER")
    op.execute(f'REVOKE USAGE ON SCHEMA "{schema}" FROM {APP}')


def upgrade() -> None:
    op.create_index(
        "ix_events_seals",
        "events",
        ["deal_id", "deal_seq"],
        postgresql_where=sa.text("type = 'PeriodSealed'"),
        sqlite_where=sa.text("type = 'PeriodSealed'"),
    )
    op.create_table(
        "scheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25)),
        sa.Column("job_state", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs", ["next_run_time"])
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_downgrade()
    op.drop_table("scheduler_jobs")
    op.drop_index("ix_events_seals", "events")
