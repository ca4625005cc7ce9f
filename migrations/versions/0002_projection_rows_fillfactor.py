"""Live projection rows leave room on each page, so that updating a row is a HOT update.

A servicer tape updates one loan row per loan (and its pool working row) in the import's
transaction. With full pages every update writes the new version to another page and a new entry
into the primary-key index: about 28 µs a row on the benchmark machine, more than the COPY of the
events themselves. With free space on the page (fillfactor 50) the new version stays on the page
and the index is not touched (heap-only tuple): about 6 µs. PostgreSQL only; rows written before
this migration get the room as pages are rewritten (VACUUM FULL or CLUSTER does it at once).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE projection_rows SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE projection_rows RESET (fillfactor)")
