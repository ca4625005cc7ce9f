"""The Discounted Receivables Balance (seed 001's DRB), defined once.

Seed 001 L18755-18771: "'Discounted Receivables Balance' means in respect of each Receivable,
the cash flow of its scheduled periodic payments of principal and interest (if any) payable by
the relevant Borrower in accordance with the terms of the relevant Loan Contract, as may be
modified from time to time to account e.g. for unscheduled prepayments by the Borrower,
discounted as of the relevant date at the Discount Rate on the basis of a 360-day year with 30
days per month." The Aggregate DRB is "the aggregate of all Discounted Receivables Balance of
all Purchased Receivables" (L17790-17794).

Every figure the ledger derives from a DRB calls :func:`loan_drb` or :func:`aggregate_drb`: the
ADRB of the cycle (targets, the Class A Cash Component, actual OC, the Cash Collateral target,
the clean-up condition and price), the Cumulative Gross Loss Ratio (DRB at default, DRB of
Additional Receivables at their cut-off), the boarding-tape field, the repurchase price and
the reports. How the seed's words are read is the deal's :class:`DrbConvention` (the deal
file's ``discounted_balance`` block):

* ``rate`` — the Discount Rate (5.1371% p.a., L18753);
* ``basis`` — ``month``: an instalment due in the k-th calendar month after the valuation
  date's month is discounted for k periods of ``rate / 12`` (a 30-day month is one period
  whatever the days; this reproduces the seed's Cash Run Out Schedule, where
  ``ADRB_t = ADRB_{t-1} × (1 + 5.1371%/12) − cash_t`` holds on every row, L4148-4313);
  ``30/360``: for ``days_30E/360(valuation, due) / 30`` periods (fractional powers);
* ``modification`` — how the schedule is "modified ... for unscheduled prepayments" (and
  arrears): ``proportional`` keeps the contract's remaining instalments (fen amounts, as
  scheduled at boarding) and scales them by balance / scheduled balance, so an on-schedule loan
  is discounted on exactly its contractual instalments; ``reamortise`` re-amortises the current
  balance over the remaining due dates (new fen-rounded level instalments, the last one
  absorbing the rounding);
* ``rounding`` — ``per_receivable``: each DRB rounded half-up to the fen, the ADRB their sum
  ("in respect of each Receivable" / "the aggregate of all DRB"); ``aggregate``: the ADRB is the
  unrounded sum rounded once.

A receivable contributes only while performing or delinquent (defaulted, repurchased, written
off and paid-off loans have none); "the DRB at default" of the Cumulative Gross Loss Ratio is
the same function on the loan as it stood when it defaulted (:func:`drb_on`). Instalments due
on or before the valuation date are not discounted; a loan with none left after it (past its
maturity) is worth its balance.

The remaining instalments are discounted from suffix sums cached per schedule (one per loan),
so a pool of 100,000 loans is valued in one pass per period end.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from ledger.core.amortisation import Amortization, LoanTerms, add_months, due_date, schedule
from ledger.core.money import ZERO, round_fen

Basis = Literal["month", "30/360"]
Modification = Literal["proportional", "reamortise"]
Rounding = Literal["per_receivable", "aggregate"]

_ONE, _TWELVE, _THIRTY = Decimal(1), Decimal(12), Decimal(30)
_ACTIVE = ("performing", "delinquent")


@dataclass(frozen=True, slots=True)
class DrbConvention:
    """How a deal reads its Discounted Receivables Balance (see the module docstring)."""

    rate: Decimal
    basis: Basis = "month"
    modification: Modification = "proportional"
    rounding: Rounding = "per_receivable"


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _offset(day: dt.date, basis: Basis) -> Decimal:
    """A date's place on the discounting axis in periods: periods between two dates are the
    difference of their offsets (whole calendar months, or 30E/360 days / 30)."""
    if basis == "month":
        return Decimal(day.year * 12 + day.month)
    return Decimal(day.year * 360 + day.month * 30 + min(day.day, 30)) / _THIRTY


def _discount(base: Decimal, periods: Decimal) -> Decimal:
    if periods == periods.to_integral_value():
        return base ** int(periods)
    return base**periods


@dataclass(frozen=True, slots=True)
class _Schedule:
    """A loan's boarding schedule ready to discount: due dates, the weight ``base^-offset`` of
    each due date, the suffix sums ``pv[k] = Σ_{j≥k} instalment_j × weight_j`` and the
    scheduled opening balance of each instalment."""

    dues: tuple[dt.date, ...]
    weights: tuple[Decimal, ...]
    pv: tuple[Decimal, ...]
    opening: tuple[Decimal, ...]
    rate: Decimal
    amortization: Amortization
    payment_day: int


_TERMS = ("boarded", "rate", "remaining_term", "maturity", "amortization", "payment_day")
"""The loan row's boarding terms (:mod:`projections.loans`) that fix its schedule."""

_CACHE: dict[tuple[Any, ...], _Schedule | None] = {}


def _schedule_of(row: Mapping[str, Any], conv: DrbConvention) -> _Schedule | None:
    """The loan's contractual schedule from its boarding terms (None: no instalment)."""
    terms = tuple(row.get(k) for k in _TERMS)
    key = (*terms, conv.rate, conv.basis)
    if key in _CACHE:
        return _CACHE[key]
    n = int(row.get("remaining_term") or 0)
    found: _Schedule | None = None
    if n >= 1:
        maturity = dt.date.fromisoformat(str(row["maturity"]))
        y, m = add_months(maturity.year, maturity.month, -(n - 1))
        day = int(row["payment_day"])
        method = Amortization(row["amortization"])
        rate = _d(row["rate"])
        rows = schedule(_d(row["boarded"]), rate, n, method, due_date(y, m, day), day)
        base = _ONE + conv.rate / _TWELVE
        weights = tuple(_discount(base, -_offset(r.due_date, conv.basis)) for r in rows)
        acc = Decimal(0)
        suffix: list[Decimal] = []
        for r, w in zip(reversed(rows), reversed(weights), strict=True):
            acc += r.instalment * w
            suffix.append(acc)
        found = _Schedule(
            dues=tuple(r.due_date for r in rows),
            weights=weights,
            pv=tuple(reversed(suffix)),
            opening=tuple(r.opening_balance for r in rows),
            rate=rate,
            amortization=method,
            payment_day=day,
        )
    _CACHE[key] = found
    return found


@lru_cache(maxsize=1024)
def _accreted(rate: Decimal, basis: Basis, valuation_date: dt.date) -> Decimal:
    """``base^offset(valuation date)``: brings the suffix sums (weights ``base^-offset``) to the
    valuation date; one per date, shared by every loan valued then."""
    return _discount(_ONE + rate / _TWELVE, _offset(valuation_date, basis))


def drb_exact(row: Mapping[str, Any], valuation_date: dt.date, conv: DrbConvention) -> Decimal:
    """A loan's DRB at ``valuation_date``, unrounded (the ADRB's terms under ``aggregate``
    rounding). ``row``: a loan projection row (its boarding terms, ``status``, ``balance``)."""
    if row["status"] not in _ACTIVE:
        return ZERO
    balance = _d(row["balance"])
    if balance <= 0:
        return ZERO
    if "rate" not in row:
        raise ValueError(f"a loan with a balance of {balance} has no boarding terms to discount")
    s = _schedule_of(row, conv)
    k = bisect.bisect_right(s.dues, valuation_date) if s is not None else 0
    if s is None or k >= len(s.dues) or s.opening[k] <= 0:
        return balance  # nothing left to fall due after the valuation date
    at = _accreted(conv.rate, conv.basis, valuation_date)
    if conv.modification == "proportional":
        return s.pv[k] * at * balance / s.opening[k]
    rest = schedule(balance, s.rate, len(s.dues) - k, s.amortization, s.dues[k], s.payment_day)
    return sum((r.instalment * w for r, w in zip(rest, s.weights[k:], strict=True)), ZERO) * at


def loan_drb(row: Mapping[str, Any], valuation_date: dt.date, conv: DrbConvention) -> Decimal:
    """A loan's Discounted Receivables Balance at ``valuation_date``, half-up to the fen."""
    return round_fen(drb_exact(row, valuation_date, conv))


def aggregate_drb(
    rows: Iterable[Mapping[str, Any]], valuation_date: dt.date, conv: DrbConvention
) -> Decimal:
    """The Aggregate DRB of ``rows`` at ``valuation_date`` (L17790-17794), rounded by the
    convention: the sum of the fen DRBs, or the unrounded sum rounded once."""
    if conv.rounding == "per_receivable":
        return sum((loan_drb(r, valuation_date, conv) for r in rows), ZERO)
    return round_fen(sum((drb_exact(r, valuation_date, conv) for r in rows), ZERO))


def drb_on(
    row: Mapping[str, Any], balance: Decimal, valuation_date: dt.date, conv: DrbConvention
) -> Decimal:
    """The DRB a loan had on ``balance`` at ``valuation_date`` whatever its status now: the DRB
    at default of a Defaulted Receivable (its principal at default, L18684-18696), of an
    Additional Receivable at its cut-off, or of a receivable repurchased."""
    as_then = {k: row[k] for k in _TERMS if k in row}
    as_then.update(status="performing", balance=str(balance))
    return loan_drb(as_then, valuation_date, conv)


def terms_row(loan: LoanTerms) -> dict[str, Any]:
    """A boarding-tape row as the loan projection row it boards as (before any servicing)."""
    return {
        "boarded": str(loan.outstanding_principal),
        "rate": str(loan.interest_rate),
        "remaining_term": loan.remaining_term_months,
        "maturity": loan.maturity_date.isoformat(),
        "amortization": Amortization(loan.amortization).value,
        "payment_day": loan.payment_day,
        "status": "performing",
        "balance": str(loan.outstanding_principal),
    }


def boarding_drb(loan: LoanTerms, cut_off: dt.date, conv: DrbConvention) -> Decimal:
    """A boarding-tape loan's DRB at its cut-off date (the ``discounted_receivables_balance``
    loan field, the price basis of an Additional Receivable)."""
    return loan_drb(terms_row(loan), cut_off, conv)
