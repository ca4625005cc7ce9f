"""Amortisation schedules (the discounted receivables balance: tests/test_discounting.py)."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.amortisation import (
    Amortization,
    days_30e_360,
    due_date,
    first_due_date,
    level_amount,
    schedule,
)
from ledger.core.money import MoneyError

D = Decimal


def test_annuity_worked_example() -> None:
    # 10,000.00 at 6% over 12 months: i = 0.005, A = 10000 * 0.005 / (1 - 1.005^-12) = 860.664...
    rows = schedule("10000.00", "0.06", 12, "annuity", date(2021, 7, 31))
    assert rows[0].interest == D("50.00")
    assert rows[0].instalment == D("860.66")
    assert rows[0].principal == D("810.66")
    assert all(r.instalment == D("860.66") for r in rows[:-1])
    # the last instalment absorbs the rounding
    assert rows[-1].principal == rows[-1].opening_balance == D("856.42")
    assert rows[-1].instalment == D("860.70")
    assert sum(r.principal for r in rows) == D("10000.00")
    assert rows[-1].closing_balance == D("0.00")


def test_due_dates_clamp_to_month_end() -> None:
    rows = schedule("1200.00", "0.05", 4, Amortization.ANNUITY, date(2024, 1, 31))
    assert [r.due_date for r in rows] == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]
    assert due_date(2023, 2, 30) == date(2023, 2, 28)
    assert first_due_date(date(2021, 6, 30), 15) == date(2021, 7, 15)
    assert first_due_date(date(2021, 6, 10), 15) == date(2021, 6, 15)
    assert first_due_date(date(2021, 6, 30), 31) == date(2021, 7, 31)
    with pytest.raises(ValueError):
        due_date(2021, 1, 0)


def test_zero_rate_annuity_is_level_principal() -> None:
    a = schedule("1000.00", "0", 3, "annuity", date(2021, 1, 31))
    lp = schedule("1000.00", "0", 3, "level_principal", date(2021, 1, 31))
    assert a == lp
    assert [r.principal for r in a] == [D("333.33"), D("333.33"), D("333.34")]
    assert all(r.interest == D("0.00") for r in a)


def test_level_principal_interest_on_declining_balance() -> None:
    rows = schedule("1200.00", "0.12", 3, "level_principal", date(2021, 1, 15))
    assert [r.principal for r in rows] == [D("400.00")] * 3
    assert [r.interest for r in rows] == [D("12.00"), D("8.00"), D("4.00")]
    assert [r.instalment for r in rows] == [D("412.00"), D("408.00"), D("404.00")]


def test_bullet() -> None:
    rows = schedule("50000.00", "0.0488", 6, "bullet", date(2024, 3, 20))
    assert [r.principal for r in rows[:-1]] == [D("0.00")] * 5
    assert rows[-1].principal == D("50000.00")
    # 50,000 * 0.0488 / 12 = 203.333... -> 203.33 every month
    assert {r.interest for r in rows} == {D("203.33")}
    assert rows[-1].instalment == D("50203.33")


def test_rounding_half_up_to_the_fen() -> None:
    # 101.00 * 0.03 / 12 = 0.2525 -> 0.25; 102.00 * 0.03 / 12 = 0.255 -> 0.26 (half-up)
    assert schedule("102.00", "0.03", 2, "bullet", date(2021, 1, 1))[0].interest == D("0.26")
    assert schedule("101.00", "0.03", 2, "bullet", date(2021, 1, 1))[0].interest == D("0.25")
    for r in schedule("99999.99", "0.0777", 37, "annuity", date(2021, 5, 31)):
        for v in (r.interest, r.principal, r.instalment, r.opening_balance, r.closing_balance):
            assert v.as_tuple().exponent == -2, v  # exactly two decimals, not just equal


def test_tiny_balance_over_many_months_never_negative() -> None:
    rows = schedule("0.05", "0", 10, "level_principal", date(2021, 1, 1))
    assert sum(r.principal for r in rows) == D("0.05")
    assert all(r.principal >= 0 and r.closing_balance >= 0 for r in rows)


def test_floats_and_bad_inputs_refused() -> None:
    with pytest.raises(MoneyError):
        schedule(1000.0, "0.05", 12, "annuity", date(2021, 1, 1))
    with pytest.raises(MoneyError):
        schedule("1000.00", 0.05, 12, "annuity", date(2021, 1, 1))
    with pytest.raises(MoneyError):
        schedule("1000.001", "0.05", 12, "annuity", date(2021, 1, 1))
    with pytest.raises(MoneyError):
        schedule("1000.00", "-0.01", 12, "annuity", date(2021, 1, 1))
    with pytest.raises(ValueError):
        schedule("1000.00", "0.05", 0, "annuity", date(2021, 1, 1))
    with pytest.raises(ValueError):
        schedule("1000.00", "0.05", 3, "balloon", date(2021, 1, 1))


@given(
    principal_fen=st.integers(min_value=0, max_value=500_000_000),
    rate_bp=st.integers(min_value=0, max_value=2_000),
    n=st.integers(min_value=1, max_value=72),
    method=st.sampled_from(list(Amortization)),
    day=st.integers(min_value=1, max_value=31),
)
def test_schedule_properties(
    principal_fen: int, rate_bp: int, n: int, method: Amortization, day: int
) -> None:
    principal = D(principal_fen) / 100
    rate = D(rate_bp) / 10_000
    rows = schedule(principal, rate, n, method, due_date(2021, 1, day), day)
    assert len(rows) == n
    assert sum(r.principal for r in rows) == principal
    assert rows[-1].closing_balance == 0
    for prev, row in itertools.pairwise(rows):
        assert row.opening_balance == prev.closing_balance
        assert row.due_date > prev.due_date
    for r in rows:
        assert all(
            v.as_tuple().exponent == -2
            for v in (r.interest, r.principal, r.instalment, r.opening_balance, r.closing_balance)
        )
        assert r.closing_balance == r.opening_balance - r.principal
        assert r.instalment == r.principal + r.interest
        assert 0 <= r.principal <= r.opening_balance
    if method is Amortization.ANNUITY and principal > 0 and n > 1:
        level = level_amount(principal, rate, n, method)
        assert all(r.instalment == level for r in rows[:-1] if r.closing_balance > 0)


def test_30e_360_days() -> None:
    assert days_30e_360(date(2021, 6, 30), date(2021, 7, 31)) == 30
    assert days_30e_360(date(2021, 1, 31), date(2021, 2, 28)) == 28
