"""The seeded pool and servicing simulator: determinism, shape, clean tapes, balance identity."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core.amortisation import (
    Amortization,
    add_months,
    loan_schedule,
    schedule,
)
from ledger.core.discounting import DrbConvention, boarding_drb
from ledger.servicing.tape_checks import check_servicer_rows, validate_servicer_tape
from ledger.servicing.tape_formats import BoardingRow, RecordType
from ledger.servicing.tape_parse import parse_boarding_tape, read_boarding_tape, read_servicer_tape
from ledger.servicing.tape_writers import format_boarding_csv, format_servicer_csv
from ledger.simulation.months import simulate_months, write_history
from ledger.simulation.pool import SimulatedMonth, SimulationParams, simulate_pool
from ledger.simulation.pool_profiles import BYD_2021_2, DRIVER_CHINA_13, PROFILES, profile
from projections.loans import LoanSnapshot, LoanStatus

D = Decimal
FEN = D("0.01")
LEDGER = Path(__file__).resolve().parent.parent / "ledger"
MY_MODULES = (
    "core/amortisation.py",
    "servicing/tape_formats.py",
    "servicing/tape_fields.py",
    "servicing/tape_parse.py",
    "servicing/tape_checks.py",
    "servicing/tape_writers.py",
    "simulation/pool.py",
    "simulation/months.py",
    "simulation/pool_profiles.py",
)

# High rates so a short history shows every record type.
BUSY = SimulationParams(
    cpr=D("0.30"),
    current_to_30=D("0.10"),
    cure_30=D("0.30"),
    roll_30_60=D("0.50"),
    cure_60=D("0.20"),
    roll_60_90=D("0.60"),
    cure_90=D("0.10"),
    roll_90_default=D("0.80"),
    recovery_lag_months=1,
    repurchase_rate=D("0.01"),
    prepayment_fee_rate=D("0.03"),
)


def is_fen(amount: Decimal) -> bool:
    """Exactly a Decimal quantized to the fen (two decimal places, not just numerically equal)."""
    return type(amount) is Decimal and amount.as_tuple().exponent == -2


def boarding_snapshots(pool: Sequence[BoardingRow]) -> dict[str, LoanSnapshot]:
    return {
        r.loan_id: LoanSnapshot(
            outstanding_principal=r.outstanding_principal,
            status=LoanStatus.DELINQUENT if r.days_past_due else LoanStatus.PERFORMING,
            days_past_due=r.days_past_due,
        )
        for r in pool
    }


def test_profiles_registered() -> None:
    assert profile("001") is DRIVER_CHINA_13
    assert profile("004") is BYD_2021_2
    assert set(PROFILES) == {"000", "001", "002", "003", "004"}
    with pytest.raises(KeyError):
        profile("999")


def test_pool_is_deterministic_for_a_seed() -> None:
    a = simulate_pool(DRIVER_CHINA_13, 300, seed=7)
    b = simulate_pool(DRIVER_CHINA_13, 300, seed=7)
    c = simulate_pool(DRIVER_CHINA_13, 300, seed=8)
    assert a == b
    assert format_boarding_csv(a) == format_boarding_csv(b)
    assert a != c


def test_months_are_deterministic_for_a_seed() -> None:
    pool = simulate_pool(BYD_2021_2, 300, seed=1)

    def run(seed: int) -> list[str]:
        return [format_servicer_csv(m.rows) for m in simulate_months(pool, 6, BUSY, seed=seed)]

    assert run(5) == run(5)
    assert run(5) != run(6)


# Stated balance-weighted averages: (WA rate, WA remaining term in months) with tolerances.
STATED = {
    # 6.64% (L251), 35.17 months (L253)
    "000": ((D("0.060"), D("0.072")), (31, 38)),
    # 4.18% (L4403), 28.12 months (L4407)
    "001": ((D("0.038"), D("0.046")), (24, 31)),
    # 7.88%, 2.08 years (表3, 002:L426-L441)
    "002": ((D("0.074"), D("0.084")), (22, 28)),
    # 4.55%, 9.61 months (表2, 003:L412-L432)
    "003": ((D("0.043"), D("0.048")), (8, 12)),
    # 0.74% (L1431), 30.48 months (L1423)
    "004": ((D("0.005"), D("0.010")), (28, 33)),
}


@pytest.mark.parametrize("key", sorted(STATED))
def test_pool_shape_follows_the_stratification_tables(key: str) -> None:
    p = profile(key)
    pool = simulate_pool(p, 4000, seed=3)
    assert len({r.loan_id for r in pool}) == 4000
    lo_fen = min(b.low for b in p.outstanding_fen)
    hi_fen = max(b.high for b in p.outstanding_fen)
    rem_lo, rem_hi = p.remaining_term_range
    for r in pool:
        assert lo_fen <= r.outstanding_principal * 100 <= hi_fen
        assert r.outstanding_principal <= r.original_principal
        assert is_fen(r.outstanding_principal)
        assert is_fen(r.original_principal)
        assert rem_lo <= r.remaining_term_months <= rem_hi
        assert r.origination_date < p.cut_off < r.maturity_date
        assert r.days_past_due == 0
        assert isinstance(r.interest_rate, Decimal)
    total = sum((r.outstanding_principal for r in pool), D(0))
    wac = sum((r.outstanding_principal * r.interest_rate for r in pool), D(0)) / total
    wart = sum((r.outstanding_principal * r.remaining_term_months for r in pool), D(0)) / total
    (rate_lo, rate_hi), (term_lo, term_hi) = STATED[key]
    assert rate_lo < wac < rate_hi
    assert term_lo < wart < term_hi
    mix = Counter(r.amortization for r in pool)
    if key == "001":
        zero_share = D(sum(1 for r in pool if r.interest_rate == 0)) / len(pool)
        assert D("0.20") < zero_share < D("0.40")
    if key == "003":
        assert set(mix) == {Amortization.BULLET}
        assert all(r.original_principal == r.outstanding_principal for r in pool)
    if key == "004":  # 80.90% level principal by balance, 78.90% by count (L1562-L1563)
        assert D("0.70") < D(mix[Amortization.LEVEL_PRINCIPAL]) / len(pool) < D("0.85")


def test_boarding_tape_parses_back_cleanly(tmp_path: Path) -> None:
    pool = simulate_pool(BYD_2021_2, 500, seed=11)
    data = format_boarding_csv(pool).encode()
    tape = parse_boarding_tape(data, "boarding.csv")
    assert tape.rows == tuple(pool)


@pytest.mark.parametrize("key", ["003", "004"])
def test_quiet_history_follows_the_amortisation_schedules(key: str) -> None:
    quiet = SimulationParams(cpr=D(0), current_to_30=D(0), repurchase_rate=D(0))
    p = profile(key)
    pool = simulate_pool(p, 60, seed=2)
    first = date(*add_months(p.cut_off.year, p.cut_off.month, 1), 1)
    months = list(simulate_months(pool, 50, quiet, seed=3))
    paid: dict[str, list[tuple[date, Decimal, Decimal]]] = defaultdict(list)
    for m in months:
        for row in m.rows:
            assert row.record_type is RecordType.COLLECTION
            assert row.principal is not None and row.interest is not None
            paid[row.loan_id].append((row.value_date, row.principal, row.interest))
    for loan in pool:
        expected = schedule(
            loan.outstanding_principal,
            loan.interest_rate,
            loan.remaining_term_months,
            loan.amortization,
            first.replace(day=loan.payment_day),
            loan.payment_day,
        )
        assert paid[loan.loan_id] == [(r.due_date, r.principal, r.interest) for r in expected]
        assert months[-1].loans[loan.loan_id].status is LoanStatus.PAID_OFF


def test_every_month_validates_against_the_previous_state() -> None:
    pool = simulate_pool(DRIVER_CHINA_13, 400, seed=4)
    state: Mapping[str, LoanSnapshot] = boarding_snapshots(pool)
    seen: Counter[RecordType] = Counter()
    for m in simulate_months(pool, 12, BUSY, seed=9):
        data = format_servicer_csv(m.rows).encode()
        tape = validate_servicer_tape(data, state, (m.period_start, m.period_end), "tape.csv")
        assert tape.rows == tuple(m.rows)
        seen.update(r.record_type for r in m.rows)
        state = m.loans
    assert set(seen) == set(RecordType)


def test_rows_are_exact_decimal_money() -> None:
    pool = simulate_pool(DRIVER_CHINA_13, 300, seed=5)
    for m in simulate_months(pool, 6, BUSY, seed=5):
        assert m.period_start.day == 1
        for row in m.rows:
            for amount in (row.principal, row.interest, row.fees):
                assert amount is None or (is_fen(amount) and amount >= 0)
            assert m.period_start <= row.value_date <= m.period_end


def test_stress_month_spikes_defaults() -> None:
    pool = simulate_pool(DRIVER_CHINA_13, 2000, seed=6)
    stress = SimulationParams(stress_month=3, stress_default_rate=D("0.10"))
    history = list(simulate_months(pool, 5, stress, seed=6))
    reasons = [
        Counter(r.reason for r in m.rows if r.record_type is RecordType.DEFAULT) for m in history
    ]
    defaults = [sum(c.values()) for c in reasons]
    assert defaults[2] > 100
    assert reasons[2]["stress scenario"] >= defaults[2] - 5
    assert all(defaults[i] < 20 for i in (0, 1, 3, 4))
    assert all(c["stress scenario"] == 0 for i, c in enumerate(reasons) if i != 2)


def test_params_validated() -> None:
    pool = simulate_pool(DRIVER_CHINA_13, 5, seed=1)
    with pytest.raises(ValueError):
        next(simulate_months(pool, 1, SimulationParams(cure_30=D("0.8"), roll_30_60=D("0.3"))))
    with pytest.raises(ValueError):
        next(simulate_months(pool, 1, SimulationParams(cpr=D("1.5"))))
    with pytest.raises(ValueError):
        SimulationParams(cpr=0.1)
    assert list(simulate_months([], 3)) == []
    assert list(simulate_months(pool, 0)) == []


def test_write_history(tmp_path: Path) -> None:
    paths = write_history(BYD_2021_2, 200, 3, tmp_path, BUSY, seed=1)
    assert [p.name for p in paths] == [
        "boarding.csv",
        "servicer_2021-07.csv",
        "servicer_2021-08.csv",
        "servicer_2021-09.csv",
    ]
    pool = read_boarding_tape(paths[0]).rows
    assert len(pool) == 200
    for p in paths[1:]:
        assert read_servicer_tape(p).rows


def test_discounted_balance_of_a_simulated_driver_china_13_pool() -> None:
    # Seed 001's pool: ADRB 8,000,082,110.39 against principal 8,013,822,317.49 (L4385, L4391),
    # a ratio of 0.99829: the 4.18% WA contract rate is below the 5.1371% Discount Rate.
    pool = simulate_pool(DRIVER_CHINA_13, 3000, seed=12)
    cut_off = DRIVER_CHINA_13.cut_off
    drb = sum((boarding_drb(r, cut_off, DrbConvention(D("0.051371"))) for r in pool), D("0.00"))
    principal = sum((r.outstanding_principal for r in pool), D("0.00"))
    assert D("0.985") < drb / principal < D("1.0")
    for r in pool[:50]:
        rows = loan_schedule(r)
        assert rows[-1].due_date == r.maturity_date
        assert sum(x.principal for x in rows) == r.outstanding_principal
        assert cut_off < rows[0].due_date


def test_no_floats_in_my_ledger_modules() -> None:
    pattern = re.compile(r"float\(|:\s*float\b|->\s*float\b")
    for name in MY_MODULES:
        text = (LEDGER / name).read_text()
        assert not pattern.search(text), name


# --- the balance identity ------------------------------------------------------------------------


def apply_records(
    pool: Sequence[BoardingRow], months: Sequence[SimulatedMonth]
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Performing balance and defaulted principal still owed, per loan, from the records alone."""
    balance = {r.loan_id: r.outstanding_principal for r in pool}
    owed = dict.fromkeys(balance, D("0.00"))
    for m in months:
        for row in m.rows:
            p = row.principal or D(0)
            kind = row.record_type
            if kind in (RecordType.COLLECTION, RecordType.REPURCHASE):
                balance[row.loan_id] -= p
            elif kind is RecordType.DEFAULT:
                balance[row.loan_id] -= p
                owed[row.loan_id] += p
            elif kind in (RecordType.RECOVERY, RecordType.WRITE_OFF):
                owed[row.loan_id] -= p
    return balance, owed


def period_sums(m: SimulatedMonth) -> dict[RecordType, Decimal]:
    sums: dict[RecordType, Decimal] = defaultdict(lambda: D("0.00"))
    for row in m.rows:
        sums[row.record_type] += row.principal or D(0)
    return sums


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    key=st.sampled_from(sorted(PROFILES)),
    n_loans=st.integers(min_value=1, max_value=60),
    months=st.integers(min_value=1, max_value=30),
    pool_seed=st.integers(min_value=0, max_value=2**32),
    seed=st.integers(min_value=0, max_value=2**32),
    cpr_bp=st.integers(min_value=0, max_value=5000),
    dq_bp=st.integers(min_value=0, max_value=3000),
    repurchase_bp=st.integers(min_value=0, max_value=500),
    recovery_bp=st.integers(min_value=0, max_value=10000),
    lag=st.integers(min_value=0, max_value=6),
    stress_month=st.none() | st.integers(min_value=1, max_value=30),
    arrears=st.sampled_from([0, 15, 45, 75, 200]),
)
def test_balance_identity_for_any_simulated_history(
    key: str,
    n_loans: int,
    months: int,
    pool_seed: int,
    seed: int,
    cpr_bp: int,
    dq_bp: int,
    repurchase_bp: int,
    recovery_bp: int,
    lag: int,
    stress_month: int | None,
    arrears: int,
) -> None:
    """closing = opening − principal collected − defaults − repurchases (+ purchases, none here),
    loan by loan and in aggregate, every period and over the whole history."""
    params = SimulationParams(
        cpr=D(cpr_bp) / 10_000,
        current_to_30=D(dq_bp) / 10_000,
        repurchase_rate=D(repurchase_bp) / 10_000,
        recovery_rate=D(recovery_bp) / 10_000,
        recovery_lag_months=lag,
        stress_month=stress_month,
        stress_default_rate=D("0.2"),
    )
    pool = simulate_pool(PROFILES[key], n_loans, seed=pool_seed)
    # every third loan boarded in arrears (days past due at the cut-off)
    pool = [
        r.model_copy(update={"days_past_due": arrears}) if i % 3 == 2 else r
        for i, r in enumerate(pool)
    ]
    history = list(simulate_months(pool, months, params, seed=seed))
    state: Mapping[str, LoanSnapshot] = boarding_snapshots(pool)
    for m in history:  # every month's tape is clean against the state before it
        errors = check_servicer_rows(m.rows, state, (m.period_start, m.period_end))
        assert errors == []
        state = m.loans
        for row in m.rows:
            assert all(a is None or is_fen(a) for a in (row.principal, row.interest, row.fees))
    performing = (LoanStatus.PERFORMING, LoanStatus.DELINQUENT)

    # per loan, over the whole history
    balance, owed = apply_records(pool, history)
    final = history[-1].loans
    for loan in pool:
        snap = final[loan.loan_id]
        live = snap.outstanding_principal if snap.status in performing else D("0.00")
        assert balance[loan.loan_id] == live
        assert balance[loan.loan_id] >= 0
        if snap.status is LoanStatus.DEFAULTED:
            assert owed[loan.loan_id] == snap.outstanding_principal > 0
        else:
            assert owed[loan.loan_id] == 0
        if snap.status is LoanStatus.PAID_OFF:
            assert snap.outstanding_principal == 0

    # in aggregate, period by period
    opening = sum((r.outstanding_principal for r in pool), D("0.00"))
    for m in history:
        sums = period_sums(m)
        closing = sum(
            (s.outstanding_principal for s in m.loans.values() if s.status in performing),
            D("0.00"),
        )
        collected = sums[RecordType.COLLECTION]
        defaults = sums[RecordType.DEFAULT]
        repurchases = sums[RecordType.REPURCHASE]
        purchases = D("0.00")
        assert closing == opening - collected - defaults - repurchases + purchases
        opening = closing


def test_golden_bytes() -> None:
    """The same seed gives byte-identical tapes on any machine and run (SPEC §2.8): a change to
    these digests is a change to every demo and benchmark built on the simulator."""
    pool = simulate_pool(DRIVER_CHINA_13, 200, seed=42)
    boarding = hashlib.sha256(format_boarding_csv(pool).encode()).hexdigest()
    assert boarding == "45c609e2d2a8b5daa0cc5b2cf8663b814c496e5c1d6634d447367ddbd583a3fb"
    digest = hashlib.sha256()
    for m in simulate_months(pool, 12, BUSY, seed=43):
        digest.update(format_servicer_csv(m.rows).encode())
    assert digest.hexdigest() == "22d6e707c6ff67ee3f14edaacac0e23644ef919b1a4cf87bf546fc418a2e73af"
