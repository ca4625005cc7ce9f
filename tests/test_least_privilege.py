"""Least privilege on PostgreSQL (SPEC §2.9, issue 14 item 3).

The suite connects to PostgreSQL as the application role the migrations create
(``trust_ledger_app``, ``tests/conftest.py``). Here that role tries every way around the event
table's guards and is refused each time; its own work (appending, reading, keeping the live
projections) goes on. SQLite has no roles: there the guard triggers are the defence, and the
same statements are refused by them.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from projections.store import ProjectedStore
from tests.helpers import DEAL, collection

ATTEMPTS = [
    ("UPDATE events SET actor = 'mallory'", "permission denied"),
    ("DELETE FROM events", "permission denied"),
    ("TRUNCATE events", "permission denied"),
    ("ALTER TABLE events DISABLE TRIGGER USER", "must be owner"),
    ("ALTER TABLE events DISABLE TRIGGER events_no_update_delete", "must be owner"),
    ("DROP TRIGGER events_no_update_delete ON events", "must be owner"),
    ("SET session_replication_role = replica", "permission denied"),
    ("CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql "
     "AS $$ BEGIN RETURN NEW; END $$", "permission denied"),
    ("ALTER TABLE events OWNER TO trust_ledger_app", "must be owner"),
    ("GRANT trust_ledger_owner TO trust_ledger_app", "must have admin option"),
    ("CREATE TABLE shadow (x int)", "permission denied"),
    ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
]  # fmt: skip


@pytest.mark.parametrize(("statement", "refusal"), ATTEMPTS, ids=[a[0][:40] for a in ATTEMPTS])
def test_the_application_role_cannot_alter_or_bypass_the_guards(
    engine: sa.Engine, store: ProjectedStore, statement: str, refusal: str
) -> None:
    store.append([collection(1), collection(2)])
    if engine.dialect.name == "sqlite":
        if not statement.startswith(("UPDATE events", "DELETE")):
            return  # SQLite has no roles, no TRUNCATE and no replication role
        refusal = "append-only"
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == "trust_ledger_app"
            assert not conn.exec_driver_sql(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).scalar()
    with pytest.raises(sa.exc.DatabaseError, match=refusal), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    events = list(store.read(DEAL))
    assert len(events) == 2 and {e.actor for e in events} == {"servicer-ops"}
    # its own work goes on: append, read, and the projections kept live and rebuilt
    store.append([collection(3)])
    assert store.rebuild_live(DEAL) > 0
    assert store.runner.compare(store, DEAL) == []
