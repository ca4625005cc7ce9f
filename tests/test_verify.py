"""``verify`` catches every kind of tampering, on both backends (SPEC §2.2, §2.5)."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from ledger.audit.verify import verify
from ledger.cli.main import app
from projections.store import ProjectedStore
from tests.conftest import owner_execute
from tests.helpers import DEAL, adjustment, collection

runner = CliRunner()


def _seed(store: ProjectedStore) -> list[str]:
    r = store.append([adjustment("1000.00")] + [collection(n) for n in range(1, 6)])
    return [e.event_id for e in r.events]


def _verify_cli(url: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", url, "verify", "--deal", DEAL])
    return result.exit_code, result.output


def test_clean_store_verifies(db_url: str, store: ProjectedStore) -> None:
    _seed(store)
    code, output = _verify_cli(db_url)
    assert code == 0, output
    assert "OK" in output and "6 events" in output


def test_edited_payload_is_named(db_url: str, engine: sa.Engine, store: ProjectedStore) -> None:
    ids = _seed(store)
    data = (
        '{"loan_id": "L000003", "value_date": "2024-03-04", "principal": "999.00", '
        '"interest": "5.00", "fees": "0.00", "prepayment": false}'
    )
    owner_execute(engine, "UPDATE events SET data = :d WHERE deal_seq = 4", d=data)
    report = verify(store, DEAL)[0]
    assert not report.ok
    assert report.chain[0].deal_seq == 4 and report.chain[0].event_id == ids[3]
    assert "altered" in report.chain[0].reason
    # the live balances were built from the original payload: replay now differs too
    assert any(d.key == "pool:principal" for d in report.projections)
    code, output = _verify_cli(db_url)
    assert code == 1
    assert ids[3] in output and "event seq 4" in output


def test_deleted_row_is_detected(engine: sa.Engine, store: ProjectedStore) -> None:
    ids = _seed(store)
    owner_execute(engine, "DELETE FROM events WHERE deal_seq = 3")
    report = verify(store, DEAL)[0]
    assert not report.ok
    first = report.chain[0]
    assert first.deal_seq == 4 and first.event_id == ids[3]
    assert "removed" in first.reason


def test_deleted_last_row_is_detected(engine: sa.Engine, store: ProjectedStore) -> None:
    _seed(store)
    owner_execute(engine, "DELETE FROM events WHERE deal_seq = 6")
    report = verify(store, DEAL)[0]
    assert not report.ok
    assert "removed from the end" in report.chain[-1].reason


def test_reordered_rows_are_detected(engine: sa.Engine, store: ProjectedStore) -> None:
    _seed(store)
    # swap the chain order of events 2 and 3
    owner_execute(
        engine,
        "UPDATE events SET deal_seq = -1 WHERE deal_seq = 2",
        "UPDATE events SET deal_seq = 2 WHERE deal_seq = 3",
        "UPDATE events SET deal_seq = 3 WHERE deal_seq = -1",
    )
    report = verify(store, DEAL)[0]
    assert not report.ok
    assert report.chain[0].deal_seq == 2


def test_reordered_positions_are_detected(engine: sa.Engine, store: ProjectedStore) -> None:
    _seed(store)
    with engine.connect() as conn:
        rows: dict[int, int] = dict(
            conn.execute(sa.text("SELECT deal_seq, position FROM events")).all()
        )
    owner_execute(
        engine,
        "UPDATE events SET position = -1 WHERE deal_seq = 2",
        "UPDATE events SET position = :p2 WHERE deal_seq = 5",
        "UPDATE events SET position = :p5 WHERE deal_seq = 2",
        p2=rows[2],
        p5=rows[5],
    )
    report = verify(store, DEAL)[0]
    assert not report.ok
    assert any("re-ordered" in p.reason for p in report.chain)


def _alter_income_row(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "UPDATE projection_rows SET value = :v WHERE projection = 'balances' "
            "AND key = 'trust:income'"
        ),
        {"v": '{"balance": "1.00"}'},
    )


def test_tampered_projection_row_is_detected(engine: sa.Engine, store: ProjectedStore) -> None:
    _seed(store)
    with engine.begin() as conn:
        _alter_income_row(conn)
    report = verify(store, DEAL)[0]
    assert report.chain == []
    assert [d.key for d in report.projections] == ["trust:income"]
    assert "replay differs from live at event seq 1" in (report.first_problem() or "")


def test_rebuild_replaces_altered_and_stale_live_rows(
    db_url: str, engine: sa.Engine, store: ProjectedStore
) -> None:
    """``rebuild`` rewrites the live rows from the events: an altered row is restored, a row no
    event made is removed, checkpoints stand at the head; the events are untouched."""
    _seed(store)
    head = store.head(DEAL)
    with engine.begin() as conn:
        _alter_income_row(conn)
        conn.execute(
            sa.text(
                "INSERT INTO projection_rows (deal_id, projection, key, value, last_seq) "
                "VALUES (:d, 'balances', 'stale:account', :v, 1)"
            ),
            {"d": DEAL, "v": '{"balance": "5.00"}'},
        )
    report = verify(store, DEAL)[0]
    assert sorted(d.key for d in report.projections) == ["stale:account", "trust:income"]
    result = runner.invoke(app, ["--db", db_url, "rebuild", "--deal", DEAL])
    assert result.exit_code == 0, result.output
    assert f"deal {DEAL}:" in result.output and "from 6 events" in result.output
    report = verify(store, DEAL)[0]
    assert report.ok, report.first_problem()
    assert store.head(DEAL) == head
    with engine.connect() as conn:
        seqs = conn.execute(
            sa.text("SELECT DISTINCT last_seq FROM projection_checkpoints WHERE deal_id = :d"),
            {"d": DEAL},
        ).all()
    assert seqs == [(6,)]
    # and the next append folds on from there
    store.append([collection(9)])
    assert verify(store, DEAL)[0].ok


def test_rebuild_names_an_unknown_deal(db_url: str, store: ProjectedStore) -> None:
    _seed(store)
    result = runner.invoke(app, ["--db", db_url, "rebuild", "--deal", "nope"])
    assert result.exit_code == 1
    assert "no deal 'nope'" in result.output
