"""Day-count year fractions as exact Decimal values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from ledger.core.calendar import (
    DayCount,
    DayCountFraction,
    accrue,
    day_count_days,
    day_count_fraction,
    year_fraction,
)
from ledger.core.money import round_fen

D = dt.date
ACT365 = DayCount.ACT_365_FIXED
ACT360 = DayCount.ACT_360
E30 = DayCount.THIRTY_E_360
BOND30 = DayCount.THIRTY_360_BOND


def test_seed001_first_interest_period_act365() -> None:
    # 001 L11489-L11497 and L19301-L19311: 17 Nov 2021 (incl.) to 26 Dec 2021 (excl.) = 39 days
    fraction = day_count_fraction(D(2021, 11, 17), D(2021, 12, 26), ACT365)
    assert fraction == DayCountFraction(39, 365, ACT365)
    value = fraction.to_decimal()
    assert value == Decimal("0.1068493150684931506849315068")
    assert abs(Fraction(value) - Fraction(39, 365)) < Fraction(1, 10**28)


def test_act365_fixed_ignores_leap_years() -> None:
    assert year_fraction(D(2024, 1, 1), D(2025, 1, 1), ACT365) == Decimal(
        "1.002739726027397260273972603"
    )
    assert year_fraction(D(2023, 1, 1), D(2024, 1, 1), ACT365) == Decimal(1)
    assert year_fraction(D(2024, 2, 26), D(2024, 3, 26), ACT365) == Decimal(29) / Decimal(365)


def test_act360() -> None:
    # 26 Feb -> 26 May 2024 = 29 + 31 + 30 = 90 days
    assert year_fraction(D(2024, 2, 26), D(2024, 5, 26), ACT360) == Decimal("0.25")
    assert year_fraction(D(2024, 1, 26), D(2024, 4, 26), ACT360) == Decimal(
        "0.2527777777777777777777777778"
    )


@pytest.mark.parametrize(
    ("start", "end", "e30", "bond30"),
    [
        (D(2024, 1, 26), D(2024, 7, 26), 180, 180),
        (D(2024, 1, 31), D(2024, 2, 29), 29, 29),  # Feb end not adjusted by either
        (D(2024, 3, 31), D(2024, 4, 30), 30, 30),
        (D(2024, 3, 30), D(2024, 5, 31), 60, 60),
        (D(2024, 3, 15), D(2024, 5, 31), 75, 76),  # end 31st: 30E caps it, Bond Basis does not
        (D(2023, 12, 31), D(2024, 12, 31), 360, 360),
        (D(2024, 2, 29), D(2024, 3, 31), 31, 32),
    ],
)
def test_thirty_360_day_counts(start: dt.date, end: dt.date, e30: int, bond30: int) -> None:
    assert day_count_days(start, end, E30) == e30
    assert day_count_days(start, end, BOND30) == bond30


def test_thirty_360_exact_decimals() -> None:
    assert year_fraction(D(2024, 1, 26), D(2024, 7, 26), E30) == Decimal("0.5")
    assert year_fraction(D(2024, 1, 31), D(2024, 4, 30), E30) == Decimal("0.25")
    assert year_fraction(D(2024, 1, 31), D(2025, 1, 31), BOND30) == Decimal(1)
    # a 30/360 month
    assert year_fraction(D(2024, 2, 26), D(2024, 3, 26), E30) == Decimal(
        "0.08333333333333333333333333333"
    )


def test_fraction_does_not_depend_on_the_callers_decimal_context() -> None:
    expected = year_fraction(D(2021, 11, 17), D(2021, 12, 26), ACT365)
    with localcontext() as ctx:
        ctx.prec = 5
        assert year_fraction(D(2021, 11, 17), D(2021, 12, 26), ACT365) == expected


def test_accrue_multiplies_before_dividing() -> None:
    # 001 test vector shape: Class A 7,136,000,000.00 at an assumed 3.00% for 39/365
    fraction = day_count_fraction(D(2021, 11, 17), D(2021, 12, 26), ACT365)
    interest = accrue(Decimal("7136000000.00"), Decimal("0.0300"), fraction)
    assert round_fen(interest) == Decimal("22874301.37")
    assert isinstance(interest, Decimal)


def test_floats_and_reversed_periods_are_refused() -> None:
    fraction = day_count_fraction(D(2024, 1, 1), D(2024, 2, 1), ACT365)
    with pytest.raises(TypeError):
        accrue(Decimal(100), 0.03, fraction)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end is before start"):
        day_count_days(D(2024, 2, 1), D(2024, 1, 1), ACT365)


def test_day_count_values_read_like_a_deal_file() -> None:
    assert DayCount("act/365f") is ACT365
    assert DayCount("30e/360") is E30
    assert DayCount("30/360") is BOND30
    assert ACT365.basis == 365 and ACT360.basis == 360 and E30.basis == 360
