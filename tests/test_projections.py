"""Live projections equal a rebuild from zero; deferred projection catches up (SPEC §2.5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events.catalogue import EventReversed
from events.envelope import NewEvent
from projections.balances import BalancesProjection
from projections.base import fold_all
from projections.store import ProjectedStore
from tests.helpers import DEAL, adjustment, collection, posted_by


def _balances(store: ProjectedStore) -> dict[str, str]:
    return {k: v.row["balance"] for k, v in store.runner.live(store, DEAL, "balances").items()}


def test_live_equals_rebuild_and_trial_balance_zero(store: ProjectedStore) -> None:
    store.append([adjustment("1000.00")])
    for n in range(1, 20):
        store.append([collection(n, principal=f"{n}.01", interest="0.10")])
    assert store.runner.compare(store, DEAL) == []
    live = _balances(store)
    assert sum(Decimal(v) for v in live.values()) == 0
    assert live["pool:principal"] == str(-sum(Decimal(f"{n}.01") for n in range(1, 20)))
    rebuilt = fold_all(BalancesProjection(), store.read(DEAL))
    assert {k: v.row["balance"] for k, v in rebuilt.items()} == live


def test_deferred_projection_catches_up(store: ProjectedStore) -> None:
    store.append([adjustment("10.00")])
    store.append([collection(n) for n in range(1, 50)], project=False)
    assert _balances(store) == {"trust:income": "10.00", "equity:seller": "-10.00"}
    assert store.runner.compare(store, DEAL) != []
    # the next ordinary append folds the backlog first, in its own transaction
    store.append([collection(99)])
    assert store.runner.compare(store, DEAL) == []
    store.append([collection(n) for n in range(100, 130)], project=False)
    assert store.runner.catch_up(store, DEAL, batch=7) == 30
    assert store.runner.compare(store, DEAL) == []
    assert store.runner.catch_up(store, DEAL) == 0


def test_reversal_nets_out_and_stays_in_history(store: ProjectedStore) -> None:
    store.append([adjustment("10.00")])
    original = store.append([collection(1, principal="40.00", interest="2.00")]).events[0]
    rev = EventReversed(
        reversed_event_id=original.event_id,
        reversed_type=original.type,
        reason="posted to the wrong loan",
        reversed_entries=tuple(
            e.model_copy(
                update={
                    "postings": tuple(
                        p.model_copy(update={"amount": -p.amount}) for p in e.postings
                    )
                }
            )
            for e in original.event.entries()
        ),
    )
    store.append(
        [
            NewEvent.of(
                rev,
                deal_id=DEAL,
                stream_id=original.stream_id,
                effective_date=date(2024, 3, 31),
                idempotency_key="rev-1",
                **posted_by("EventReversed", original.type),
            )
        ]
    )
    bal = _balances(store)
    assert bal["pool:principal"] == "0.00" and bal["servicer:collections-held"] == "0.00"
    assert [e.type for e in store.read(DEAL)] == [
        "AdjustmentPosted",
        "CollectionReceived",
        "EventReversed",
    ]
    assert store.runner.compare(store, DEAL) == []


def test_large_batches_keep_live_equal_to_rebuild(store: ProjectedStore) -> None:
    """Batches changing more rows than one statement takes (PostgreSQL stages them through COPY
    and one upsert): inserts, then updates of the same rows."""
    store.append([adjustment("10.00")])
    store.append([collection(n, loan=f"B{n:05d}") for n in range(6000)])
    store.append([collection(n, loan=f"B{n:05d}", key=f"second-{n}") for n in range(6000)])
    assert store.runner.compare(store, DEAL) == []
    assert _balances(store)["pool:principal"] == "-1200000.00"
