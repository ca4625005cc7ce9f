"""Day-count conventions: year fractions as exact ``Decimal`` (never float).

SPEC §3: notes carry a day count (Act/365 and 30/360). Seed 001 (Driver China Thirteen) pays note
interest on "the actual number of days in such Interest Period and the denominator being 365"
(L11489–L11497, Act/365 Fixed) and discounts receivables "on the basis of a 360-day year with 30
days per month" (L18755–L18771), which is the European 30E/360 (Eurobond basis) count.

A fraction is kept as ``days / basis`` (:class:`DayCountFraction`) so amounts can be computed by
multiplying first and dividing once (:func:`accrue`). :func:`year_fraction` returns the quotient
as a ``Decimal`` under a fixed local context (28 significant digits, ROUND_HALF_EVEN), so the value
never depends on the caller's decimal context: exact when the quotient terminates (e.g. 90/360 =
0.25), otherwise correctly rounded at the 28th significant digit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum

FRACTION_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
ACCRUAL_CONTEXT = Context(prec=50, rounding=ROUND_HALF_EVEN)


class DayCount(StrEnum):
    """Supported day-count conventions (values as written in a deal file).

    - ``act/365f``: Actual/365 (Fixed): actual days / 365, leap years included (seed 001
      L11489–L11497).
    - ``act/360``: Actual/360: actual days / 360.
    - ``30e/360``: 30E/360, Eurobond basis (ISDA 2006 §4.16(g)): a 31st counts as the 30th at
      both ends; February is not adjusted. This is "a 360-day year with 30 days per month" (seed
      001 L18755–L18771).
    - ``30/360``: 30/360 Bond Basis (ISDA 2006 §4.16(f), US-style): the start day 31 counts as
      30; the end day 31 counts as 30 only when the start day is 30 or 31.
    """

    ACT_365_FIXED = "act/365f"
    ACT_360 = "act/360"
    THIRTY_E_360 = "30e/360"
    THIRTY_360_BOND = "30/360"

    @property
    def basis(self) -> int:
        """The denominator: days in the notional year."""
        return 365 if self is DayCount.ACT_365_FIXED else 360


@dataclass(frozen=True)
class DayCountFraction:
    """``days / basis`` kept unevaluated (e.g. 39/365 for seed 001's first Interest Period)."""

    days: int
    basis: int
    day_count: DayCount

    def to_decimal(self) -> Decimal:
        """The quotient at 28 significant digits, ROUND_HALF_EVEN, independent of the caller."""
        return FRACTION_CONTEXT.divide(Decimal(self.days), Decimal(self.basis))


def _thirty_days(start: dt.date, end: dt.date, european: bool) -> int:
    d1 = min(start.day, 30)
    d2 = end.day
    if european or d1 == 30:
        d2 = min(d2, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def day_count_days(start: dt.date, end: dt.date, day_count: DayCount) -> int:
    """The day-count numerator from ``start`` (included) to ``end`` (excluded)."""
    if end < start:
        raise ValueError(f"day count from {start} to {end}: end is before start")
    if day_count is DayCount.THIRTY_E_360:
        return _thirty_days(start, end, european=True)
    if day_count is DayCount.THIRTY_360_BOND:
        return _thirty_days(start, end, european=False)
    return (end - start).days


def day_count_fraction(start: dt.date, end: dt.date, day_count: DayCount) -> DayCountFraction:
    """The unevaluated fraction of a year from ``start`` (incl.) to ``end`` (excl.)."""
    dc = DayCount(day_count)
    return DayCountFraction(day_count_days(start, end, dc), dc.basis, dc)


def year_fraction(start: dt.date, end: dt.date, day_count: DayCount) -> Decimal:
    """The year fraction as a ``Decimal`` (see the module docstring for its precision)."""
    return day_count_fraction(start, end, day_count).to_decimal()


def accrue(amount: Decimal, rate: Decimal, fraction: DayCountFraction) -> Decimal:
    """``amount × rate × days / basis``, multiplied exactly and divided once (50 digits).

    Unrounded; money layers round the result to the fen (``ledger.core.money.round_fen``). Floats
    are
    refused.
    """
    for name, value in (("amount", amount), ("rate", rate)):
        if not isinstance(value, Decimal):
            raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    numerator = ACCRUAL_CONTEXT.multiply(
        ACCRUAL_CONTEXT.multiply(amount, rate), Decimal(fraction.days)
    )
    return ACCRUAL_CONTEXT.divide(numerator, Decimal(fraction.basis))
