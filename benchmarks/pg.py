"""PostgreSQL for the benchmarks: ``TRUST_LEDGER_BENCH_PG``, else 127.0.0.1:5432, else embedded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from events import db


@contextmanager
def server_url() -> Iterator[str]:
    with db.postgres_server("TRUST_LEDGER_BENCH_PG") as url:
        yield url


fresh_schema = db.scratch_schema
"""A migrated scratch schema on the benchmark server (see :func:`events.db.scratch_schema`)."""
