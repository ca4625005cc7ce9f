"""The embedded PostgreSQL the suite falls back on (no server reachable) really works."""

from __future__ import annotations

from pathlib import Path

from events import db
from events.db import embedded_postgres
from ledger.audit.verify import verify
from projections.store import ProjectedStore
from tests.helpers import DEAL, adjustment, collection


def test_embedded_server_runs_the_store(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path / "pgdata") as url:
        engine = db.make_engine(url)
        try:
            db.upgrade(engine)
            store = ProjectedStore(engine)
            store.append([adjustment("10.00"), collection(1)])
            assert engine.dialect.name == "postgresql"
            assert [r.ok for r in verify(store, DEAL)] == [True]
        finally:
            engine.dispose()
