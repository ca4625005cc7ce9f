"""The Alembic migrations build exactly the tables the code declares, on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from events import db
from events.tables import metadata


def test_migrations_match_metadata(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert db.is_current(engine)


def test_upgrade_is_idempotent(engine: sa.Engine) -> None:
    db.upgrade(engine)
    assert db.is_current(engine)
