"""Year fractions for note interest and rate fees, as exact ``Decimal`` (never float).

Deal files name the convention: ``act/365f`` (actual days / 365 also in leap years, seed 004
L1811-1818 "闰年亦同"), ``act/360``, ``30/360`` (bond basis) and ``30e/360`` (Eurobond basis,
seed 001 L18755-18771). The fraction is returned unrounded; amounts are rounded to the fen once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def _thirty_days(start: dt.date, end: dt.date, european: bool) -> int:
    d1 = min(start.day, 30)
    d2 = end.day
    if european or d1 == 30:
        d2 = min(d2, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def day_count_days(start: dt.date, end: dt.date, convention: str) -> int:
    """Days from ``start`` (included) to ``end`` (excluded) under ``convention``."""
    if end < start:
        raise ValueError(f"period {start}..{end} ends before it starts")
    if convention == "30/360":
        return _thirty_days(start, end, european=False)
    if convention == "30e/360":
        return _thirty_days(start, end, european=True)
    if convention in ("act/365f", "act/360"):
        return (end - start).days
    raise ValueError(f"unknown day count {convention!r}")


def accrual(
    amount: Decimal, rate: Decimal, start: dt.date, end: dt.date, convention: str
) -> Decimal:
    """``amount × rate × days / basis``, unrounded (callers round to the fen)."""
    basis = 365 if convention == "act/365f" else 360
    return amount * rate * Decimal(day_count_days(start, end, convention)) / Decimal(basis)
