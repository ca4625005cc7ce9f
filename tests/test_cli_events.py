"""CLI: import/export round trip, import errors, schema, balances; on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from events import db
from ledger.cli.main import app
from projections.store import ProjectedStore
from tests.helpers import DEAL, adjustment, collection

runner = CliRunner()
IMPORT = ["--as", "keeper:trustee", "events", "import"]
"""A restore of exported history: by a trustee (lines recorded by others)."""


def _engine_with_schema(url: str) -> sa.Engine:
    engine = db.make_engine(url)
    db.upgrade(engine)
    return engine


def test_export_import_round_trips_byte_identically(
    db_url: str, store: ProjectedStore, tmp_path: Path
) -> None:
    store.append([adjustment("500.00")] + [collection(n) for n in range(1, 8)])
    store.append([adjustment("7.50", deal="SECOND", key="x")])
    first = tmp_path / "first.jsonl"
    r = runner.invoke(
        app, ["--db", db_url, "events", "export", "--deal", DEAL, "--out", str(first)]
    )
    assert r.exit_code == 0, r.output
    target = f"sqlite:///{tmp_path / 'empty.db'}"
    r = runner.invoke(app, ["--db", target, *IMPORT, str(first)])
    assert r.exit_code == 0, r.output
    assert "8 event(s) imported" in r.output
    second = tmp_path / "second.jsonl"
    r = runner.invoke(
        app, ["--db", target, "events", "export", "--deal", DEAL, "--out", str(second)]
    )
    assert r.exit_code == 0, r.output
    assert first.read_bytes() == second.read_bytes()
    r = runner.invoke(app, ["--db", target, *IMPORT, str(first)])
    assert "0 event(s) imported, 8 already present" in r.output
    r = runner.invoke(app, ["--db", target, "verify"])
    assert r.exit_code == 0, r.output


def test_import_into_postgresql_round_trips(
    pg_url: str, db_url: str, store: ProjectedStore, tmp_path: Path
) -> None:
    store.append([adjustment("500.00")] + [collection(n) for n in range(1, 4)])
    first = tmp_path / "first.jsonl"
    runner.invoke(app, ["--db", db_url, "events", "export", "--deal", DEAL, "--out", str(first)])
    eng = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text("DROP SCHEMA IF EXISTS rt CASCADE"))
        c.execute(sa.text("CREATE SCHEMA rt"))
    try:
        target = f"{pg_url}?options=-csearch_path%3Drt"
        r = runner.invoke(app, ["--db", target, *IMPORT, str(first)])
        assert r.exit_code == 0, r.output
        second = tmp_path / "second.jsonl"
        r = runner.invoke(
            app, ["--db", target, "events", "export", "--deal", DEAL, "--out", str(second)]
        )
        assert first.read_bytes() == second.read_bytes()
    finally:
        with eng.connect() as c:
            c.execute(sa.text("DROP SCHEMA rt CASCADE"))
        eng.dispose()


def test_bad_import_names_file_line_field_and_stores_nothing(
    db_url: str, store: ProjectedStore, tmp_path: Path
) -> None:
    data = {"loan_id": "L1", "value_date": "2024-03-01", "principal": "1.00"}
    good: dict[str, object] = {
        "deal_id": DEAL,
        "type": "CollectionReceived",
        "effective_date": "2024-03-01",
        "idempotency_key": "k1",
        "data": data,
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "idempotency_key": "k2", "data": {**data, "principal": "x"}}),
        json.dumps({**good, "idempotency_key": "k3", "type": "NoSuchEvent"}),
        '{"deal_id": "D", "type": "CollectionReceived", "effective_date": "2024-13-01", '
        '"idempotency_key": "k4", "data": {"loan_id": "L1", "value_date": "2024-03-01", '
        '"principal": 1.5}}',
        json.dumps({**good, "idempotency_key": "k1"}),
    ]
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["--db", db_url, *IMPORT, str(f)])
    assert r.exit_code == 1
    out = " ".join(r.output.split())
    assert f"{f}:2: data.principal:" in out
    assert f"{f}:3: type: unknown event type 'NoSuchEvent'" in out
    assert f"{f}:4: (line): not valid JSON or contains a float number" in out
    assert f"{f}:5: idempotency_key: 'k1' repeats line 1" in out
    assert "nothing imported" in out
    assert list(store.read(DEAL)) == []


def test_import_of_altered_export_is_refused_whole(
    db_url: str, store: ProjectedStore, tmp_path: Path
) -> None:
    store.append([adjustment("500.00")] + [collection(n) for n in range(1, 4)])
    f = tmp_path / "x.jsonl"
    runner.invoke(app, ["--db", db_url, "events", "export", "--deal", DEAL, "--out", str(f)])
    lines = f.read_text().splitlines()
    lines[2] = lines[2].replace('"interest":"5.00"', '"interest":"6.00"')
    f.write_text("\n".join(lines) + "\n")
    target = f"sqlite:///{tmp_path / 'empty.db'}"
    r = runner.invoke(app, ["--db", target, *IMPORT, str(f)])
    assert r.exit_code == 1
    assert f"{f}:3: hash" in " ".join(r.output.split())
    assert list(ProjectedStore(_engine_with_schema(target)).read(DEAL)) == []


def test_balances_json_and_trial_balance(db_url: str, store: ProjectedStore) -> None:
    store.append([adjustment("1000.00"), collection(1, principal="10.10", interest="0.33")])
    r = runner.invoke(app, ["--db", db_url, "balances", "--deal", DEAL, "--format", "json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)["balances"]
    assert got == {
        "equity:seller": "-1000.00",
        "income:interest": "-0.33",
        "pool:principal": "-10.10",
        "servicer:collections-held": "10.43",
        "trust:income": "1000.00",
    }


def test_events_schema_lists_every_type() -> None:
    r = runner.invoke(app, ["events", "schema"])
    assert r.exit_code == 0
    schemas = json.loads(r.output)
    assert {"CollectionReceived", "AdjustmentPosted", "EventReversed", "DealDefined"} <= set(
        schemas
    )
    assert schemas["CollectionReceived"]["x-schema-version"] == 1
    assert "principal" in schemas["CollectionReceived"]["properties"]


def test_db_upgrade_and_default_url(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path)
    mp.delenv("TRUST_LEDGER_DB", raising=False)
    try:
        r = runner.invoke(app, ["db", "upgrade"])
        assert r.exit_code == 0, r.output
        assert (tmp_path / "trust-events.db").exists()
        mp.setenv("TRUST_LEDGER_DB", f"sqlite:///{tmp_path / 'env.db'}")
        r = runner.invoke(app, ["db", "upgrade"])
        assert (tmp_path / "env.db").exists()
    finally:
        mp.undo()
