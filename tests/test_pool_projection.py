"""Pool projection per collection period; live == rebuild and the balance identity on simulated
histories (issue 4, items 5 and 9)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import count, pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.replay import history_events
from events.servicing import LoanDefaulted, LoanRepurchased, LoanWrittenOff, RecoveryReceived
from ledger.simulation.months import simulate_months
from ledger.simulation.pool import SimulationParams, simulate_pool
from ledger.simulation.pool_profiles import PROFILES
from projections.loans import LoanStatus, loan_rows, loan_snapshots
from projections.pool import pool_periods
from projections.store import ProjectedStore
from tests.test_loans_projection import DEAL, boarded, collected, dpd, new, one, reverse

Q = Decimal("0.00000001")


def test_period_figures_exact_to_the_fen(store: ProjectedStore) -> None:
    store.append([boarded("A"), boarded("B"), boarded("C", "500.00")])
    store.append(
        [
            collected("A", "1000.00", "60.00", on=date(2024, 3, 15)),
            collected("C", "500.00", "2.50", on=date(2024, 3, 10), prepay=True),
            dpd("B", 16, date(2024, 3, 31)),
        ]
    )
    store.append(
        [
            new(
                LoanDefaulted(
                    loan_id="B", value_date=date(2024, 4, 30), principal=Decimal("12000.00")
                ),
                date(2024, 4, 30),
            ),
            collected("A", "1000.00", "55.00", on=date(2024, 4, 15)),
        ]
    )
    store.append(
        [
            new(
                RecoveryReceived(
                    loan_id="B", value_date=date(2024, 5, 3), amount=Decimal("2280.00")
                ),
                date(2024, 5, 3),
            ),
            new(
                LoanWrittenOff(
                    loan_id="B", value_date=date(2024, 5, 31), amount=Decimal("9720.00")
                ),
                date(2024, 5, 31),
            ),
            new(
                LoanRepurchased(
                    loan_id="A",
                    value_date=date(2024, 5, 31),
                    reason="warranty breach",
                    price=Decimal("10050.00"),
                    principal=Decimal("10000.00"),
                ),
                date(2024, 5, 31),
            ),
        ]
    )
    feb, mar, apr, may = pool_periods(store, DEAL)
    assert [p.period for p in (feb, mar, apr, may)] == ["2024-02", "2024-03", "2024-04", "2024-05"]
    assert (feb.opening_balance, feb.boarded, feb.closing_balance) == (
        Decimal("0"),
        Decimal("24500.00"),
        Decimal("24500.00"),
    )
    assert feb.loans == 3 and feb.buckets["current"] == (3, Decimal("24500.00"))
    assert feb.wa_rate == Decimal("0.060000")
    # maturity February 2025: 12 months after February 2024
    assert feb.wa_remaining_term == Decimal("12.00")

    assert mar.opening_balance == Decimal("24500.00")
    assert (mar.scheduled_principal, mar.prepayments, mar.interest) == (
        Decimal("1000.00"),
        Decimal("500.00"),
        Decimal("62.50"),
    )
    assert mar.closing_balance == Decimal("23000.00")
    assert mar.buckets["current"] == (1, Decimal("11000.00"))
    assert mar.buckets["1-30"] == (1, Decimal("12000.00"))
    assert mar.loans == 2
    smm = (Decimal("500.00") / Decimal("23500.00")).quantize(Q)
    assert mar.smm == smm and mar.cpr == (1 - (1 - smm) ** 12).quantize(Q)
    assert mar.wa_remaining_term == Decimal("11.00")

    assert (apr.defaults, apr.defaults_count, apr.scheduled_principal) == (
        Decimal("12000.00"),
        1,
        Decimal("1000.00"),
    )
    assert apr.closing_balance == Decimal("10000.00")
    assert apr.buckets["1-30"] == (0, Decimal("0.00"))
    assert apr.buckets["current"] == (1, Decimal("10000.00"))
    assert apr.cumulative_default_ratio == (Decimal("12000.00") / Decimal("24500.00")).quantize(
        Decimal("1e-10")
    )
    assert apr.smm == 0

    assert (may.recoveries, may.written_off, may.repurchases, may.repurchase_price) == (
        Decimal("2280.00"),
        Decimal("9720.00"),
        Decimal("10000.00"),
        Decimal("10050.00"),
    )
    assert may.closing_balance == 0 and may.loans == 0 and may.wa_rate == 0
    assert may.cumulative_defaults == Decimal("12000.00")
    assert store.runner.compare(store, DEAL) == []


def test_reversal_nets_out_of_the_period(store: ProjectedStore) -> None:
    store.append([boarded("A")])
    before = pool_periods(store, DEAL)
    original = one(store, collected("A", "1000.00", "60.00", on=date(2024, 3, 15)))
    assert pool_periods(store, DEAL)[-1].closing_balance == Decimal("11000.00")
    store.append([reverse(original, date(2024, 3, 20))])
    feb, mar = pool_periods(store, DEAL)
    assert feb == before[0]
    assert (mar.scheduled_principal, mar.interest, mar.closing_balance) == (
        Decimal("0"),
        Decimal("0"),
        Decimal("12000.00"),
    )
    assert store.runner.compare(store, DEAL) == []


_deals = count(1)

LIVELY = SimulationParams(
    cpr=Decimal("0.20"),
    current_to_30=Decimal("0.10"),
    roll_90_default=Decimal("0.8"),
    recovery_lag_months=1,
    repurchase_rate=Decimal("0.01"),
    prepayment_fee_rate=Decimal("0.03"),
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    loans=st.integers(1, 25),
    months=st.integers(1, 12),
    profile=st.sampled_from(sorted(PROFILES)),
    stress=st.one_of(st.none(), st.integers(1, 12)),
)
def test_balance_identity_on_simulated_histories(
    store: ProjectedStore, seed: int, loans: int, months: int, profile: str, stress: int | None
) -> None:
    """closing = opening − principal collected − defaults − repurchases + purchases, per period and
    loan by loan, through the store and the live projections; every loan agrees with the
    simulator's own state; live == rebuild."""
    deal = f"SIM-{next(_deals)}"
    params = LIVELY.model_copy(update={"stress_month": stress})
    pool = simulate_pool(PROFILES[profile], loans, seed=seed)
    batches = list(history_events(deal, pool, months, params, seed=seed + 1))
    for batch in batches:
        for e in batch:
            e.validate()  # the benchmark's raw payloads are valid events
        store.append(batch)
    final = list(simulate_months(pool, months, params, seed=seed + 1))[-1].loans

    periods = pool_periods(store, deal)
    for prev, p in pairwise(periods):
        assert p.opening_balance == prev.closing_balance
    for p in periods:
        assert p.closing_balance == (
            p.opening_balance
            - p.scheduled_principal
            - p.prepayments
            - p.defaults
            - p.repurchases
            + p.boarded
        )
        assert p.loans == sum(n for n, _ in p.buckets.values())
        assert p.closing_balance == sum((b for _, b in p.buckets.values()), Decimal(0))

    rows = loan_rows(store, deal)
    snaps = loan_snapshots(store, deal)
    assert set(rows) == {r.loan_id for r in pool}
    for loan_id, row in rows.items():
        d = {k: Decimal(row[k]) for k in ("balance", "boarded", "scheduled", "prepaid")}
        assert d["balance"] == (
            d["boarded"]
            - d["scheduled"]
            - d["prepaid"]
            - Decimal(row["defaulted"])
            - Decimal(row["repurchased"])
        )
        sim = final[loan_id]
        mine = snaps[loan_id]
        assert (mine.status, mine.outstanding_principal) == (
            sim.status,
            sim.outstanding_principal,
        ), loan_id
        if sim.status in (LoanStatus.PERFORMING, LoanStatus.DELINQUENT):
            assert mine.days_past_due == sim.days_past_due, loan_id
    performing = sum(
        (
            s.outstanding_principal
            for s in final.values()
            if s.status in (LoanStatus.PERFORMING, LoanStatus.DELINQUENT)
        ),
        Decimal(0),
    )
    assert periods[-1].closing_balance == performing
    assert periods[-1].cumulative_boarded == sum(
        (r.outstanding_principal for r in pool), Decimal(0)
    )
    assert store.runner.compare(store, deal) == []


def test_run_replay_reports_the_deal(db_url: str) -> None:
    """``benchmarks.replay.run_replay`` (called by ``benchmarks/ingest.py``) on a small history:
    every event replayed, the figures present."""
    from benchmarks.replay import load_history, run_replay

    pool = simulate_pool(PROFILES["001"], 20, seed=3)
    n = load_history(db_url, "RUN", history_events("RUN", pool, 4, LIVELY, seed=4), batch=100)
    result = run_replay(db_url, "RUN")
    assert result["replay_events"] == n > 20
    assert result["replay_per_s"] > 0 and result["replay_peak_rss_mb"] > 0
