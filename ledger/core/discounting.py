"""Discounted receivables balances (seed 001's DRB, L18755-18771): a loan's remaining
instalments discounted at the deal's rate, from its boarding terms and its projected row."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.core.amortisation import Amortization, ScheduleRow, add_months, due_date, schedule
from ledger.core.money import ZERO, round_fen

# ---------------------------------------------------------------------------------- DRB

_ONE, _TWELVE = Decimal(1), Decimal(12)


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class _PV:
    """A loan's boarding schedule as suffix sums: ``pv[k]`` = Σ_{j≥k} instalment_j ×
    base^-month_j, ``months[k]`` the due month index, ``opening[k]`` the scheduled balance."""

    key: tuple[Any, ...]
    months: tuple[int, ...]
    dues: tuple[dt.date, ...]
    pv: tuple[Decimal, ...]
    opening: tuple[Decimal, ...]


_PV_CACHE: dict[tuple[str, Decimal], _PV] = {}


def _boarding_schedule(row: Mapping[str, Any]) -> tuple[ScheduleRow, ...]:
    """The loan's contractual schedule from its boarding terms (as ``projections.loans``)."""
    n = int(row.get("remaining_term") or 0)
    if "rate" not in row or n < 1:
        return ()
    maturity = dt.date.fromisoformat(row["maturity"])
    y, m = add_months(maturity.year, maturity.month, -(n - 1))
    day = int(row["payment_day"])
    return schedule(_d(row["boarded"]), _d(row["rate"]), n, Amortization(row["amortization"]),
                    due_date(y, m, day), day)  # fmt: skip


def _pv_of(loan_id: str, row: Mapping[str, Any], rate: Decimal) -> _PV | None:
    terms = tuple(row.get(k) for k in ("boarded", "rate", "remaining_term", "maturity",
                                       "amortization", "payment_day"))  # fmt: skip
    cached = _PV_CACHE.get((loan_id, rate))
    if cached is not None and cached.key == terms:
        return cached
    rows = _boarding_schedule(row)
    if not rows:
        return None
    base = _ONE + rate / _TWELVE
    months = tuple(r.due_date.year * 12 + r.due_date.month for r in rows)
    acc = Decimal(0)
    suffix: list[Decimal] = []
    for r, m in zip(reversed(rows), reversed(months), strict=True):
        acc += r.instalment * base**-m
        suffix.append(acc)
    pv = _PV(terms, months, tuple(r.due_date for r in rows), tuple(reversed(suffix)),
             tuple(r.opening_balance for r in rows))  # fmt: skip
    _PV_CACHE[(loan_id, rate)] = pv
    return pv


def discounted_balance(
    loan_id: str, row: Mapping[str, Any], valuation_date: dt.date, rate: Decimal
) -> Decimal:
    """Seed 001's Discounted Receivables Balance of a loan (L18755-18771): the PV at ``rate``
    (monthly compounding by whole months) of the instalments due after ``valuation_date``.

    Fast form of :func:`projections.loans.discounted_balance_of`: the boarding schedule's
    remaining instalments are discounted from cached suffix sums and scaled to the performing
    balance (both re-amortisations, level principal and annuity, are proportional to the balance,
    so the two agree up to the fen rounding of the re-amortised instalments).
    """
    if row["status"] not in ("performing", "delinquent"):
        return ZERO
    balance = _d(row["balance"])
    if balance <= 0:
        return ZERO
    pv = _pv_of(loan_id, row, rate)
    if pv is None:
        return ZERO
    k = bisect.bisect_right(pv.dues, valuation_date)
    if k >= len(pv.dues) or pv.opening[k] <= 0:
        return balance
    base = _ONE + rate / _TWELVE
    scheduled = pv.pv[k] * base ** (valuation_date.year * 12 + valuation_date.month)
    return round_fen(scheduled * balance / pv.opening[k])
