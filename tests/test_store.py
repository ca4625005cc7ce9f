"""Event store contract: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from events.envelope import NewEvent
from events.store import NO_STREAM, ConcurrencyError, IdempotencyConflict
from events.verify import check_chain
from projections.store import ProjectedStore
from tests.conftest import owner_engine
from tests.helpers import DEAL, adjustment, collection


def test_append_assigns_sequence_versions_and_chain(store: ProjectedStore) -> None:
    r = store.append([collection(1), collection(2), collection(1, key="col-1b")])
    seqs = [e.deal_seq for e in r.events]
    assert seqs == [1, 2, 3]
    assert [e.stream_version for e in r.events] == [1, 1, 2]
    assert r.events[0].prev_hash == "0" * 64
    assert r.events[1].prev_hash == r.events[0].hash
    assert [e.position for e in r.events] == sorted(e.position for e in r.events)
    stored = list(store.read(DEAL))
    assert [e.hash for e in stored] == [e.hash for e in r.events]
    assert check_chain(DEAL, stored, store.head(DEAL)) == []


def test_reads_by_stream_seq_position_and_effective_date(store: ProjectedStore) -> None:
    store.append([collection(n) for n in range(1, 11)])
    store.append([adjustment("10.00", deal="OTHER")])
    assert [e.stream_id for e in store.read(DEAL, stream_id="loan-L000003")] == ["loan-L000003"]
    assert [e.deal_seq for e in store.read(DEAL, after_seq=7)] == [8, 9, 10]
    assert [e.deal_seq for e in store.read(DEAL, until_seq=2)] == [1, 2]
    window = list(store.read(DEAL, effective_from=date(2024, 3, 3), effective_to=date(2024, 3, 5)))
    assert sorted(e.effective_date.day for e in window) == [3, 4, 5]
    all_ = list(store.read_positions())
    assert len(all_) == 11 and all_[-1].deal_id == "OTHER"
    middle = list(store.read_positions(start=all_[2].position, stop=all_[5].position))
    assert [e.position for e in middle] == [e.position for e in all_[2:5]]
    assert store.deals() == [DEAL, "OTHER"]


def test_read_gives_back_every_field_and_honours_types_and_known_at(store: ProjectedStore) -> None:
    """PostgreSQL reads with a binary COPY whose bounds are bound into the statement: every
    envelope field comes back as appended, and the type and recorded-time bounds filter."""
    first = store.append([collection(1), collection(2)]).events
    later = store.append([adjustment("10.00")]).events
    stored = list(store.read(DEAL))
    assert [e[:-1] for e in stored] == [e[:-1] for e in first + later]
    assert [e.type for e in store.read(DEAL, types=[later[0].type])] == [later[0].type]
    known = list(store.read(DEAL, recorded_until=first[-1].recorded_at))
    assert [e.deal_seq for e in known] == [1, 2]


def test_expected_version(store: ProjectedStore) -> None:
    store.append([collection(1)], expected={"loan-L000001": NO_STREAM})
    with pytest.raises(ConcurrencyError, match=r"loan-L000001.*version 1, expected 0"):
        store.append([collection(1, key="again")], expected={"loan-L000001": NO_STREAM})
    store.append([collection(1, key="again")], expected={"loan-L000001": 1})
    assert store.stream_version(DEAL, "loan-L000001") == 2


def test_two_writers_same_expected_version_exactly_one_wins(store: ProjectedStore) -> None:
    store.append([collection(1)])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        barrier.wait()
        try:
            store.append([collection(1, key=f"w{n}")], expected={"loan-L000001": 1})
            outcomes.append("ok")
        except ConcurrencyError as exc:
            assert "expected 1" in str(exc)
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert store.stream_version(DEAL, "loan-L000001") == 2
    assert check_chain(DEAL, store.read(DEAL), store.head(DEAL)) == []


def test_concurrent_appends_to_one_deal_keep_one_chain(store: ProjectedStore) -> None:
    def writer(w: int) -> None:
        for i in range(5):
            store.append([collection(100 * w + i)])

    threads = [threading.Thread(target=writer, args=(w,)) for w in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = list(store.read(DEAL))
    assert [e.deal_seq for e in events] == list(range(1, 16))
    assert check_chain(DEAL, events, store.head(DEAL)) == []


def test_idempotent_retry_returns_original(store: ProjectedStore) -> None:
    first = store.append([collection(1), collection(2)])
    again = store.append([collection(1), collection(2)])
    assert again.duplicate and not first.duplicate
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert [e.hash for e in again.events] == [e.hash for e in first.events]
    assert len(list(store.read(DEAL))) == 2


def test_conflicting_retry_is_an_error_naming_the_key(store: ProjectedStore) -> None:
    store.append([collection(1)])
    with pytest.raises(IdempotencyConflict, match="'col-1'"):
        store.append([collection(1, principal="99.00")])
    # a batch whose later event reuses a key: refused whole by the database's unique key
    with pytest.raises(IdempotencyConflict, match="'col-1'"):
        store.append([collection(7), collection(1, principal="98.00")])
    assert [e.idempotency_key for e in store.read(DEAL)] == ["col-1"]


def test_batch_is_atomic(store: ProjectedStore) -> None:
    store.append([collection(1)])
    with pytest.raises(ConcurrencyError):
        store.append_batches(
            [([adjustment("5.00", deal="B")], {}), ([collection(2)], {"loan-L000001": 0})]
        )
    assert store.deals() == [DEAL]
    assert list(store.read("B")) == []
    assert len(list(store.read(DEAL))) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET data = data WHERE deal_seq = 1",
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events WHERE deal_seq = 1",
        "DELETE FROM events",
    ],
)
def test_database_refuses_update_and_delete(
    engine: sa.Engine, store: ProjectedStore, statement: str
) -> None:
    """The guard triggers refuse even the table's owner; on PostgreSQL the application's role
    is refused before them, by its privileges (SPEC §2.9)."""
    store.append([collection(1), collection(2)])
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DatabaseError, match="permission denied"), engine.begin() as c:
            c.execute(sa.text(statement))
    with (
        owner_engine(engine) as owner,
        pytest.raises(sa.exc.DatabaseError, match="append-only"),
        owner.begin() as conn,
    ):
        conn.execute(sa.text(statement))
    assert len(list(store.read(DEAL))) == 2


def test_database_refuses_truncate_on_postgresql(engine: sa.Engine, store: ProjectedStore) -> None:
    store.append([collection(1)])
    if engine.dialect.name != "postgresql":
        # SQLite has no TRUNCATE; its DELETE-all shortcut is covered by the DELETE trigger above
        assert engine.dialect.name == "sqlite"
        return
    with pytest.raises(sa.exc.DatabaseError, match="permission denied"), engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE events"))
    with (
        owner_engine(engine) as owner,
        pytest.raises(sa.exc.DatabaseError, match="append-only"),
        owner.begin() as conn,
    ):
        conn.execute(sa.text("TRUNCATE events"))
    assert len(list(store.read(DEAL))) == 1


def test_raw_event_is_validated_before_writing(store: ProjectedStore) -> None:
    from events.store import InvalidEvent

    bad = NewEvent(
        deal_id=DEAL,
        stream_id="deal",
        type="CollectionReceived",
        schema_version=1,
        data={"loan_id": "L1", "value_date": "2024-01-01", "principal": 1.5},
        effective_date=date(2024, 1, 1),
        idempotency_key="k",
    )
    with pytest.raises(InvalidEvent, match="float"):
        store.append([bad])
    assert list(store.read(DEAL)) == []


def test_a_store_without_read_models_writes_the_events_alone(store: ProjectedStore) -> None:
    from events.tables import projection_checkpoints, projection_rows
    from projections.runner import ProjectionRunner

    bare = ProjectedStore(store.engine, ProjectionRunner([]))
    r = bare.append([collection(1), collection(2)])
    assert [e.deal_seq for e in r.events] == [1, 2]
    with store.engine.connect() as conn:
        for table in (projection_rows, projection_checkpoints):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    # the default runner then folds the backlog on its next append: live equals a replay of all
    store.append([collection(3)])
    assert store.runner.live(store, DEAL, "balances")
    assert store.runner.compare(store, DEAL) == []
